"""Running ``msgr-tui`` as a user would: a separate process, from the repository."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

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


class CommandProcess:
    """``msgr-tui ARGS`` running in a child process, its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        self.lines: dict[str, queue.Queue[str | None]] = {}
        self.seen: dict[str, list[str]] = {}
        for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr)):
            self.lines[name] = queue.Queue()
            self.seen[name] = []
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: IO[bytes] | None) -> None:
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8")
            self.seen[name].append(line)
            self.lines[name].put(line)
        self.lines[name].put(None)

    def wait_for_line(self, name: str, text: str, timeout: float = DEADLINE) -> str:
        """The next line of ``name`` (stdout or stderr) holding ``text``; fails at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines[name].get(timeout=max(left, 0.0))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(
                    f"no {name} line with {text!r}; stdout: {''.join(self.seen['stdout'])!r}, "
                    f"stderr: {''.join(self.seen['stderr'])!r}"
                )
            if text in line:
                return line

    def finish(self, timeout: float = DEADLINE) -> tuple[int, str, str]:
        """Wait for the exit: (code, all of stdout, all of stderr)."""
        try:
            code = self.process.wait(timeout)
        finally:
            self.kill()
        for name in self.lines:
            while self.lines[name].get(timeout=timeout) is not None:
                pass
        return code, "".join(self.seen["stdout"]), "".join(self.seen["stderr"])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
