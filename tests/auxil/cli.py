"""Run the installed ``coach`` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COACH = Path(sys.executable).with_name("coach")


def run_coach(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``coach ARGS`` and capture its output; the environment is the test's plus ``env``."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(COACH), *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
