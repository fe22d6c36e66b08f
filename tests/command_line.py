"""Running ``msgr-tui`` as a user would: a separate process, from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import DEADLINE

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "msgr_tui"]


def msgr_tui(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = DEADLINE * 4,
) -> subprocess.CompletedProcess[str]:
    """Run ``msgr-tui ARGS`` to completion; stdout/stderr as text. ``env`` adds variables."""
    result = subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8"),
        result.stderr.decode("utf-8"),
    )
