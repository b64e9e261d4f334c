"""The ``coach`` command: chat in the terminal, check and read the knowledge base."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot import __version__
from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from bot.knowledge.loader import count_sources, resolve_topic, topic_names
from bot.rendering import render

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
@click.option("--user", default="me", show_default=True, help="Who is chatting (your name or id).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="COACH_DATA_DIR",
    help="Where answers are kept (default: COACH_DATA_DIR, else a per-user folder).",
)
def chat(user: str, data_dir: Path | None) -> None:
    """Chat with the coach in the terminal (interactive, or line by line from a pipe)."""
    kb = load_knowledge_or_exit(None)
    click.echo(render("chat/greeting.txt.j2", user=user, kb=kb))
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        text = line.strip()
        if text.lower() in {"/quit", "/exit", "quit", "exit"}:
            break
        if text:
            click.echo(render("chat/not_yet.txt.j2", text=text))
    click.echo(render("chat/goodbye.txt.j2", user=user))
