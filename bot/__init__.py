"""Account Coach: a coaching assistant for account managers in Slack, Telegram and the terminal."""

__version__ = "0.1.0"
