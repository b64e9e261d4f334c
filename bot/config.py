"""Settings from the environment, read once at start-up, and a log filter that keeps tokens out of logs."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

SLACK_API_DEFAULT = "https://slack.com/api/"
TELEGRAM_API_DEFAULT = "https://api.telegram.org"

# Slack tokens (xoxb-, xoxp-, xapp-...), Telegram bot tokens (123456:ABC...), and signing secrets we know.
_TOKEN = re.compile(r"(xox[abpre]-[\w-]+|xapp-[\w-]+|(?<!\d)\d{6,12}:[\w-]{30,})")


class ConfigError(Exception):
    """A required setting is missing or malformed; the message says which and how to set it."""


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """What the Slack app needs."""

    bot_token: str
    signing_secret: str
    app_token: str | None
    api_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackSettings:
        """Read SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN and SLACK_API_URL."""
        env = os.environ if env is None else env
        missing = [name for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET") if not env.get(name)]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set: see 'Slack' in the README for where to find them"
            )
        api_url = env.get("SLACK_API_URL") or SLACK_API_DEFAULT
        return cls(
            bot_token=env["SLACK_BOT_TOKEN"],
            signing_secret=env["SLACK_SIGNING_SECRET"],
            app_token=env.get("SLACK_APP_TOKEN") or None,
            api_url=api_url if api_url.endswith("/") else api_url + "/",
        )


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """What the Telegram bot needs."""

    token: str
    webhook_secret: str | None
    api_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, webhook: bool = False) -> TelegramSettings:
        """Read TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET (required for a webhook) and TELEGRAM_API_URL."""
        env = os.environ if env is None else env
        if not env.get("TELEGRAM_BOT_TOKEN"):
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN must be set: BotFather gives it (see 'Telegram' in the README)"
            )
        secret = env.get("TELEGRAM_WEBHOOK_SECRET") or None
        if webhook and not secret:
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET must be set for a webhook: 1-256 of the characters A-Z a-z 0-9 _ -"
            )
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET may only hold 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return cls(env["TELEGRAM_BOT_TOKEN"], secret, env.get("TELEGRAM_API_URL") or TELEGRAM_API_DEFAULT)


class RedactSecrets(logging.Filter):
    """Replace anything that looks like a token, and the configured secrets, in every log record."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def redact(self, text: str) -> str:
        """``text`` with tokens and secrets replaced by ``[redacted]``."""
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and traceback in place; never drops a record."""
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:  # a traceback can quote a URL with a token in it: format it now, redacted
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup_logging(level: str = "INFO", *, secrets: tuple[str, ...] = ()) -> None:
    """Log to stderr with every handler's records passed through ``RedactSecrets``."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
