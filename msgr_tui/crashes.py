"""Crash logs: the traceback of a failure the app could not handle, kept in a file.

The screen may be gone (or about to be) when such a failure happens, so the
full traceback goes to a file in the state directory and the user is told
its path in one line.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from . import __version__
from .locations import new_crash_log


def write_crash_log(error: BaseException, where: str) -> Path | None:
    """Write ``error``'s traceback to a new crash log; its path, or None when it cannot be written.

    ``where`` names the part that failed ("the UI", "the Messenger thread").
    Never raises: this runs on the way down, and a second failure must not
    hide the first.
    """
    try:
        path = new_crash_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"msgr-tui {__version__} failed in {where} at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} (pid {os.getpid()}, Python "
            f"{sys.version.split()[0]})\n\n"
        )
        text = "".join(traceback.format_exception(error))
        with open(path, "x", encoding="utf-8") as log:
            log.write(header + text)
    except Exception:  # see the docstring: never raises
        return None
    return path
