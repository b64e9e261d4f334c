"""The ``coach`` command: chat in the terminal, check and read the knowledge base."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import __version__
from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from bot.knowledge.loader import count_sources, resolve_topic, topic_names
from bot.rendering import render

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.messages import Reply
    from bot.scheduler import Deliver, Reachable
    from storage.postgres_store import PostgresStore
from storage import StorageError, Store, open_store
from storage.base import Person, utcnow

EXISTING_DIR = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coach")
def main() -> None:
    """Account Coach: qualification, relationship stages and pre-call planning for account managers."""


@main.group()
def knowledge() -> None:
    """Check and read the coaching knowledge files."""


def load_knowledge_or_exit(directory: Path | None) -> KnowledgeBase:
    """Load the knowledge, or print each of its problems and exit 1."""
    try:
        return load_knowledge(directory)
    except KnowledgeError as exc:
        where = directory or "the shipped knowledge"
        click.echo(f"{len(exc.problems)} problem(s) in {where}:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        click.echo("Fix the entries named above, then run `coach knowledge check` again.", err=True)
        sys.exit(1)


@knowledge.command("check")
@click.argument("directory", required=False, type=EXISTING_DIR)
def knowledge_check(directory: Path | None) -> None:
    """Validate the knowledge files (the shipped ones, or those in DIRECTORY) and summarize them.

    Exits 0 when every file is valid; otherwise lists each problem with its file and entry and exits 1.
    """
    kb = load_knowledge_or_exit(directory)
    quotes, ours = count_sources(kb)
    click.echo(render("knowledge/summary.txt.j2", kb=kb, quotes=quotes, ours=ours))


@knowledge.command("show")
@click.argument("topic")
@click.option("--dir", "directory", type=EXISTING_DIR, help="A knowledge folder other than the shipped one.")
def knowledge_show(topic: str, directory: Path | None) -> None:
    """Print one TOPIC readably: qualification, stages, planning, onboarding or selection."""
    try:
        stem = resolve_topic(topic)
    except KeyError:
        raise click.BadParameter(
            f"unknown topic {topic!r}; choose one of: {', '.join(topic_names())}", param_hint="TOPIC"
        ) from None
    kb = load_knowledge_or_exit(directory)
    click.echo(render(f"knowledge/{stem}.txt.j2", t=kb.topic(stem)))


@main.command()
@click.argument("dialog", required=False)
@click.option("--markdown", is_flag=True, help="Every dialog, as the page docs/dialogs.md.")
def diagram(dialog: str | None, markdown: bool) -> None:
    """Print DIALOG's state machine as a Mermaid state diagram (e.g. `coach diagram qualification`)."""
    from bot import diagram as drawing
    from bot.dialogs import registry

    kb = load_knowledge_or_exit(None)
    dialogs = registry()
    if markdown:
        click.echo(drawing.markdown(list(dialogs.values()), kb))
        return
    by_name = {**{d.command: d for d in dialogs.values()}, **dialogs}
    chosen = by_name.get((dialog or "").strip().lower().lstrip("/"))
    if chosen is None:
        names = ", ".join(sorted(dialogs))
        raise click.BadParameter(f"unknown dialog {dialog!r}; choose one of: {names}", param_hint="DIALOG")
    click.echo(drawing.mermaid(chosen, kb))


def data_dir_option(command: Callable[..., None]) -> Callable[..., None]:
    """The ``--data-dir`` option every command that touches data takes."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The data directory (default: COACH_DATA_DIR, else ~/.local/share/account-coach).",
    )(command)


def open_store_or_exit(data_dir: Path | None) -> Store:
    """Open the store, or print what is wrong with it and exit 1."""
    try:
        return open_store(data_dir=data_dir)
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def person_ids_or_exit(store: Store, user: str) -> list[str]:
    """The person ids ``--user`` names, or a message listing who has data and exit 1."""
    ids = store.find_person_ids(user)
    if not ids:
        known = ", ".join(store.person_ids()[:20]) or "nobody yet"
        click.echo(
            f"error: no data stored for {user!r} in {store.location}; people with data: {known}", err=True
        )
        sys.exit(1)
    return ids


@main.command("export")
@click.option("--user", required=True, help="A name given to `coach chat --user`, or a Slack/Telegram id.")
@data_dir_option
def export_cmd(user: str, data_dir: Path | None) -> None:
    """Print all of one person's data as JSON on stdout."""
    store = open_store_or_exit(data_dir)
    try:
        ids = person_ids_or_exit(store, user)
        document = {
            "user": user,
            "exported_at": utcnow().isoformat(),
            "people": [store.export_person(i) for i in ids],
        }
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@main.command("forget")
@click.option("--user", required=True, help="A name given to `coach chat --user`, or a Slack/Telegram id.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@data_dir_option
def forget_cmd(user: str, yes: bool, data_dir: Path | None) -> None:
    """Erase all of one person's data (after confirmation, or with --yes)."""
    store = open_store_or_exit(data_dir)
    ids = person_ids_or_exit(store, user)
    try:
        sizes = [store.read_person(i) for i in ids]
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    summary = ", ".join(
        f"{d.person_id} ({len(d.answers)} answers, {len(d.assessments)} assessments, "
        f"{len(d.accounts)} accounts)"
        for d in sizes
    )
    if not yes:
        prompt = f"Erase all data of {summary} from {store.location}? This cannot be undone."
        if not sys.stdin.isatty() or not click.confirm(prompt, default=False):
            click.echo("Nothing was erased. Re-run with --yes to erase without asking.", err=True)
            sys.exit(1)
    for person_id in ids:
        store.forget_person(person_id)
    click.echo(f"Erased: {summary}.")


@main.command("export-plan")
@click.option("--user", required=True, help="A name given to `coach chat --user`, or a Slack/Telegram id.")
@click.option("--account", required=True, help="The account whose latest call plan to write.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="The file to write (default: call-plan-ACCOUNT-DATE.md here; - for stdout).",
)
@data_dir_option
def export_plan_cmd(user: str, account: str, out: Path | None, data_dir: Path | None) -> None:
    """Write the latest call plan for an account as a Markdown file."""
    from bot.coaching.accounts import account_key
    from bot.dialogs.plan import plan_filename

    store = open_store_or_exit(data_dir)
    key = account_key(account)
    plans = [
        p for i in person_ids_or_exit(store, user) for p in store.read_person(i).plans if p.account == key
    ]
    if not plans:
        click.echo(
            f"error: {user} has no call plan for {account!r}; make one with `/plan {account}`", err=True
        )
        sys.exit(1)
    plan = max(plans, key=lambda p: p.created_at)
    markdown = str(plan.plan.get("markdown", ""))
    if out is not None and str(out) == "-":
        click.echo(markdown)
        return
    target = out or Path(plan_filename(str(plan.plan.get("account", account)), plan.call_at))
    target.write_text(markdown + "\n", encoding="utf-8")
    click.echo(f"Wrote the call plan for {plan.plan.get('account', account)} to {target}.")


@main.command("backup")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@data_dir_option
def backup_cmd(target: Path, data_dir: Path | None) -> None:
    """Write a consistent copy of the data directory to TARGET (a new or empty folder)."""
    store = open_store_or_exit(data_dir)
    try:
        counts = store.backup(str(target))
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"Backed up {counts['people']} people ({counts['answers']} answers, {counts['assessments']} "
        f"assessments), {counts['directory']} directory entries and {counts['marks']} schedule marks "
        f"to {target}.\nTo restore, stop the coach and start it with --data-dir {target}."
    )


@main.command()
@click.option("--user", default=None, help="Who is chatting: your name (default: your login name).")
@data_dir_option
@click.option(
    "--files",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("coach-exports"),
    show_default=True,
    help="Where call plans and charts are written.",
)
def chat(user: str | None, data_dir: Path | None, files: Path) -> None:
    """Chat with the coach in the terminal (interactive, or line by line from a pipe)."""
    from bot.channels.console import Console, read_lines
    from bot.engine import Engine

    store = open_store_or_exit(data_dir)
    user = " ".join((user or default_user()).split())
    if not user:
        raise click.BadParameter("a user name cannot be empty", param_hint="--user")
    engine = Engine(store, knowledge=load_knowledge_or_exit(None))
    console = Console(engine, user=user, write=click.echo, files=files)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"Account Coach, chatting as {user} (data in {store.location}). Type /quit to leave.\n")
    console.run(read_lines(sys.stdin, interactive=interactive), echo=not interactive)


def default_user() -> str:
    """The login name, as the terminal user's name."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "me"


@main.command("team", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@data_dir_option
def team_cmd(args: tuple[str, ...], data_dir: Path | None) -> None:
    """Manage people and teams: add-manager NAME, add-rep NAME --manager NAME [--new-hire], add-admin NAME,
    remove NAME, list, set-timezone NAME ZONE, set-digest NAME DAY HH:MM.

    A NAME is a terminal user name or a platform id (slack:U123, telegram:4567).
    """
    from bot import team_admin

    store = open_store_or_exit(data_dir)
    try:
        click.echo(team_admin.run(store, list(args)))
    except team_admin.TeamError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command("digest")
@click.option("--manager", required=True, help="The manager (a name or platform id) whose team to report on.")
@click.option("--print", "print_", is_flag=True, help="Write the digest as Markdown to stdout.")
@click.option("--send", is_flag=True, help="Deliver it now over Slack (SLACK_*) or Telegram (TELEGRAM_*).")
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(1, 366), help="The period, in days."
)
@click.option(
    "--chart", type=click.Path(dir_okay=False, path_type=Path), help="Also write the chart (PNG) here."
)
@data_dir_option
def digest_cmd(
    manager: str, print_: bool, send: bool, days: int, chart: Path | None, data_dir: Path | None
) -> None:
    """Build a manager's digest of their team (for cron, or to look at it)."""
    from bot import team_admin
    from bot.dialogs.team import digest_replies
    from bot.engine import TeamAccess
    from bot.rendering import Format

    if not (print_ or send or chart):
        raise click.UsageError("say what to do with the digest: --print, --send and/or --chart FILE")
    store = open_store_or_exit(data_dir)
    kb = load_knowledge_or_exit(None)
    person = store.get_person(team_admin.person_key(manager))
    if person is None:
        click.echo(
            f"error: {manager!r} is not in the directory; add them with `coach team add-manager`", err=True
        )
        sys.exit(1)
    replies = digest_replies(TeamAccess(store, person.id, kb, utcnow()), days=days, chart=bool(send or chart))
    reply = replies[0]
    if reply.template != "digest/digest.txt.j2":
        click.echo(f"error: {person.id} is not a manager or admin: {reply.text()}", err=True)
        sys.exit(1)
    if print_:
        click.echo(reply.text(Format.MARKDOWN))
    if chart and reply.attachments:
        chart.write_bytes(reply.attachments[0].content)
        click.echo(f"Chart written to {chart}.", err=print_)
    if send:
        sent_by = _send_now(store, person, list(replies))
        click.echo(f"Digest sent to {person.id} over {sent_by}.", err=print_)


def _send_now(store: Store, person: Person, replies: list[Reply]) -> str:
    """Deliver replies to a person over the platform configured in the environment that reaches them."""
    import os

    from bot.config import ConfigError, SlackSettings, TelegramSettings
    from bot.engine import Engine

    engine = Engine(store, knowledge=load_knowledge_or_exit(None))
    if os.environ.get("SLACK_BOT_TOKEN"):
        from bot.channels.slack import SlackChannel

        slack = SlackChannel(engine, SlackSettings.from_env())
        if slack.deliver(person, replies):
            return "Slack"
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        from bot.channels.telegram import TelegramChannel

        try:
            telegram = TelegramChannel(engine, TelegramSettings.from_env())
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        telegram.start_background()
        try:
            if telegram.deliver(person, replies):
                return "Telegram"
        finally:
            telegram.stop_background()
    raise click.UsageError(
        f"cannot reach {person.id}: set SLACK_BOT_TOKEN (for a slack: identity) or TELEGRAM_BOT_TOKEN "
        "(for a telegram: identity), and link the person's identity (/link)"
    )


@main.group()
def serve() -> None:
    """Run the coach on a chat platform (Slack, Telegram)."""


@serve.command("slack")
@click.option("--http", "http", is_flag=True, help="Serve the Events API over HTTP instead of Socket Mode.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on with --http.")  # noqa: S104
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port with --http."
)
@click.option(
    "--threads", default=16, show_default=True, type=click.IntRange(1, 256), help="HTTP worker threads."
)
@data_dir_option
@click.option("--scheduler/--no-scheduler", default=True, show_default=True, help="Send digests and nudges.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="HTTP worker processes (gunicorn) sharing the store; 1 serves with waitress in this process.",
)
def serve_slack(
    http: bool, host: str, port: int, threads: int, data_dir: Path | None, scheduler: bool, workers: int
) -> None:
    """Run the Slack app: Socket Mode when SLACK_APP_TOKEN is set, or HTTP with --http --port N."""
    from bot.channels.slack import SlackChannel
    from bot.config import ConfigError, SlackSettings, setup_logging
    from bot.engine import Engine

    try:
        settings = SlackSettings.from_env()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    setup_logging(secrets=(settings.bot_token, settings.signing_secret, settings.app_token or ""))
    if not http and not settings.app_token:
        raise click.UsageError("set SLACK_APP_TOKEN for Socket Mode, or serve over HTTP with --http --port N")
    if http and workers > 1:
        from bot.channels.slack import serve_workers

        def build() -> SlackChannel:  # one per worker process, after the fork
            engine = Engine(open_store_or_exit(data_dir), knowledge=load_knowledge_or_exit(None))
            return SlackChannel(engine, settings)

        serve_workers(build, host=host, port=port, workers=workers, threads=threads, scheduler=scheduler)
        return
    store = open_store_or_exit(data_dir)
    channel = SlackChannel(Engine(store, knowledge=load_knowledge_or_exit(None)), settings)
    if scheduler:
        _start_scheduler(channel.engine, channel.deliver, channel.reachable)
    if http:
        channel.serve_http(host=host, port=port, threads=threads)
    else:
        channel.serve_socket_mode()


@serve.command("telegram")
@click.option("--webhook", is_flag=True, help="Receive updates on a webhook instead of long polling.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on with --webhook.")  # noqa: S104
@click.option(
    "--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="Port with --webhook."
)
@click.option("--url", default=None, help="The public HTTPS URL of the webhook, registered with setWebhook.")
@data_dir_option
@click.option("--scheduler/--no-scheduler", default=True, show_default=True, help="Send digests and nudges.")
def serve_telegram(
    webhook: bool, host: str, port: int, url: str | None, data_dir: Path | None, scheduler: bool
) -> None:
    """Run the Telegram bot: long polling, or a webhook with --webhook --port N (secret required)."""
    from bot.channels.telegram import TelegramChannel
    from bot.config import ConfigError, TelegramSettings, setup_logging
    from bot.engine import Engine

    try:
        settings = TelegramSettings.from_env(webhook=webhook)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    setup_logging(secrets=(settings.token, settings.webhook_secret or ""))
    store = open_store_or_exit(data_dir)
    channel = TelegramChannel(Engine(store, knowledge=load_knowledge_or_exit(None)), settings)
    if scheduler:
        _start_scheduler(channel.engine, channel.deliver, channel.reachable)
    if webhook:
        channel.serve_webhook(host=host, port=port, url=url)
    else:
        channel.run_polling()


def _start_scheduler(engine: Engine, deliver: Deliver, reachable: Reachable) -> None:
    """Digests and nudges on a background thread, every minute."""
    import threading

    from bot.scheduler import Scheduler

    worker = Scheduler(engine, deliver=deliver, reachable=reachable)
    threading.Thread(target=worker.run, args=(threading.Event(),), name="scheduler", daemon=True).start()


@main.group()
def db() -> None:
    """The PostgreSQL store (COACH_STORAGE_URL=postgresql://...)."""


def _postgres(url: str | None) -> PostgresStore:
    import os

    from storage.postgres_store import PostgresStore

    url = url or os.environ.get("COACH_STORAGE_URL")
    if not url:
        raise click.UsageError("set COACH_STORAGE_URL=postgresql://USER@HOST/DB (or pass --url)")
    try:
        return PostgresStore(url, migrate=False)
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@db.command("migrate")
@click.option("--url", default=None, help="The database URL (default: COACH_STORAGE_URL).")
def db_migrate(url: str | None) -> None:
    """Create or migrate the schema to this version of Account Coach."""
    store = _postgres(url)
    before = store.schema_version()
    try:
        after = store.migrate()
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"Schema at version {after} in {store.location}" + (f" (was {before})." if before != after else ".")
    )


@db.command("import")
@click.option("--from-tinydb", "source", required=True, type=EXISTING_DIR, help="The TinyDB data directory.")
@click.option("--url", default=None, help="The database URL (default: COACH_STORAGE_URL).")
def db_import(source: Path, url: str | None) -> None:
    """Copy a TinyDB data directory into PostgreSQL, then verify the counts."""
    from storage.postgres_store import copy_store, counts_of
    from storage.tinydb_store import TinyDBStore

    target = _postgres(url)
    target.migrate()
    origin = TinyDBStore(source)
    if target.person_ids() or target.people():
        click.echo(f"error: {target.location} already holds data; import into an empty database", err=True)
        sys.exit(1)
    people = origin.person_ids()
    with click.progressbar(length=len(people), label="Importing people", file=sys.stderr) as bar:
        copied = copy_store(origin, target, progress=bar.update)
    expected, found = counts_of(origin), counts_of(target)
    if expected != found:
        click.echo(f"error: counts differ after the import: TinyDB {expected}, PostgreSQL {found}", err=True)
        sys.exit(1)
    click.echo(
        f"Imported {copied['people']} people ({copied['answers']} answers, "
        f"{copied['assessments']} assessments), {copied['directory']} directory entries and "
        f"{copied['marks']} marks; counts verified."
    )
