"""Marks of the phases of a start, for ``bench/startup.py`` (off unless it asks).

With ``MSGR_TUI_STARTUP_TRACE=FILE`` in the environment, each :func:`mark`
keeps a name and the time (``time.perf_counter``: CLOCK_MONOTONIC on Linux,
the clock the benchmark reads in its own process) and :func:`write` appends
them to FILE, one ``name seconds`` a line, so the benchmark can say where the
time to the first screen goes. Without it both do nothing (one test of a
global), so the marks can stay in the start path.
"""

from __future__ import annotations

import os
import time

TRACE_ENV = "MSGR_TUI_STARTUP_TRACE"

_path = os.environ.get(TRACE_ENV) or None
_marks: list[tuple[str, float]] = []


def mark(name: str) -> None:
    """Note that the start reached ``name`` now (a no-op unless tracing)."""
    if _path is not None:
        _marks.append((name, time.perf_counter()))


def write() -> None:
    """Append the marks so far to the trace file (each mark once; a no-op unless tracing)."""
    if _path is None or not _marks:
        return
    try:
        with open(_path, "a", encoding="utf-8") as file:
            file.writelines(f"{name} {at:.6f}\n" for name, at in _marks)
    except OSError:
        pass  # a benchmark's file: never a reason for the app to fail
    _marks.clear()
