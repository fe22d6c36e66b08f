"""The real ``msgr-tui`` in a pseudo-terminal: keys typed in, the screen read back.

:class:`AppInTerminal` starts the app as a user does (a separate process, the
pty its controlling terminal, 80x24 by default) and reads everything it writes
in a thread, feeding :class:`Screen`, a small emulator of what Textual draws
with (cursor moves, colours, the alternate screen), so tests match on the text
a user sees rather than on raw escape sequences. What the process prints after
leaving the alternate screen (the closing notes) is kept as plain text.

Every wait is on what the app wrote (a condition variable the reader thread
signals), bounded by a deadline; nothing sleeps.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.command_line import COMMAND, ROOT
from tests.helpers import DEADLINE

ROWS, COLUMNS = 24, 80

# Keys by the names Textual gives them, as a terminal sends them.
KEYS = {
    "tab": "\t",
    "enter": "\r",
    "escape": "\x1b",
    "space": " ",
    "backspace": "\x7f",
    "ctrl+q": "\x11",
    "ctrl+s": "\x13",
}

# One token of terminal output: a CSI sequence, an OSC string, another escape,
# a control character, or a run of text. An escape cut short at the end of
# what was read so far is left for the next read (see Screen.feed).
_CSI = r"\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
_OSC = r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
_TOKEN = re.compile(
    rf"{_CSI}|{_OSC}|\x1b[^\[\]]|(?P<control>[\x00-\x1a\x1c-\x1f\x7f])|[^\x00-\x1f\x7f]+"
)
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*(?:\x1b)?)?\Z")
_ALT_SCREEN = "?1049"


class Screen:
    """What an 80x24 terminal shows, from the bytes written to it.

    Enough of a terminal for Textual: cursor positioning, clears, text (wide
    characters take two cells; no auto-wrap, which Textual turns off), the
    alternate screen. Colours and modes are read and ignored. Text written on
    the normal screen (before and after the app's alternate screen) goes to
    :attr:`normal_text` instead, as plain lines.
    """

    def __init__(self, rows: int = ROWS, columns: int = COLUMNS) -> None:
        self.rows = rows
        self.columns = columns
        self.grid = self._blank()
        self.row = 0
        self.column = 0
        self.alternate = False
        self.normal_text = ""
        # Where the cursor was left when output last paused after a move: Textual
        # ends each frame by putting it on the focused text field's cursor.
        self.cursor: tuple[int, int] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def _blank(self) -> list[list[str]]:
        return [[" "] * self.columns for _ in range(self.rows)]

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        cut = _INCOMPLETE.search(text)
        if cut is not None:
            text, self._pending = text[: cut.start()], text[cut.start() :]
        else:
            self._pending = ""
        final = None
        for token in _TOKEN.finditer(text):
            final = token.group("final")
            if final is not None:
                self._csi(token.group("params"), final)
            elif token.group("control") is not None:
                self._control(token.group("control"))
            elif not token.group(0).startswith("\x1b"):
                self._text(token.group(0))
        if final in ("H", "f") and self.alternate:
            self.cursor = (self.row, self.column)

    def text(self) -> str:
        """The alternate screen's lines (trailing spaces removed), top to bottom."""
        return "\n".join(self.line(row) for row in range(self.rows))

    def line(self, row: int) -> str:
        return "".join(self.grid[row]).rstrip()

    def cursor_line(self) -> str:
        """The line the cursor was left on (see :attr:`cursor`); "" if none yet."""
        return self.line(self.cursor[0]) if self.cursor is not None else ""

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?"):
            if params == _ALT_SCREEN and final in "hl":
                self.alternate = final == "h"
                self.grid = self._blank()
                self.row = self.column = 0
            return
        numbers = [int(part) if part.isdigit() else 0 for part in params.split(";")]
        first = numbers[0] or 1
        if final in "Hf":
            row = numbers[0] if numbers else 1
            column = numbers[1] if len(numbers) > 1 else 1
            self.row = min(max(row, 1), self.rows) - 1
            self.column = min(max(column, 1), self.columns) - 1
        elif final == "A":
            self.row = max(self.row - first, 0)
        elif final == "B":
            self.row = min(self.row + first, self.rows - 1)
        elif final == "C":
            self.column = min(self.column + first, self.columns - 1)
        elif final == "D":
            self.column = max(self.column - first, 0)
        elif final == "G":
            self.column = min(first, self.columns) - 1
        elif final == "J" and numbers[0] == 2:
            self.grid = self._blank()
        elif final == "K":
            line = self.grid[self.row]
            start, end = {0: (self.column, self.columns), 1: (0, self.column + 1)}.get(
                numbers[0], (0, self.columns)
            )
            line[start:end] = [" "] * (end - start)

    def _control(self, char: str) -> None:
        if not self.alternate:
            if char == "\n":
                self.normal_text += "\n"
            return
        if char == "\r":
            self.column = 0
        elif char == "\n":
            self.row = min(self.row + 1, self.rows - 1)
        elif char == "\b":
            self.column = max(self.column - 1, 0)

    def _text(self, text: str) -> None:
        if not self.alternate:
            self.normal_text += text
            return
        line = self.grid[self.row]
        for char in text:
            if unicodedata.combining(char):
                continue
            width = 2 if unicodedata.east_asian_width(char) in "WF" else 1
            if self.column + width > self.columns:
                break  # no auto-wrap: the rest of the run is off the edge
            line[self.column] = char
            if width == 2:
                line[self.column + 1] = ""
            self.column += width


def _make_controlling_terminal() -> None:
    """In the child, after setsid: the pty on fd 0 becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class AppInTerminal:
    """``msgr-tui ARGS`` running in its own pty and session, read as it draws.

    Use it as a context manager: at the end a process still running is killed
    (its whole process group) and the pty is closed.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        rows: int = ROWS,
        columns: int = COLUMNS,
        command: Sequence[str] = COMMAND,
        cwd: Path = ROOT,
    ) -> None:
        self.screen = Screen(rows, columns)
        self.output = bytearray()
        self._changed = threading.Condition()
        self._ended = False
        master, slave = os.openpty()
        self._master: int | None = master
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        child_env = {**os.environ, **(env or {}), "TERM": "xterm-256color"}
        for name in ("COLUMNS", "LINES"):  # they would win over the pty's size
            child_env.pop(name, None)
        self._wake_read, self._wake_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [*command, *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=child_env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_make_controlling_terminal,
            )
        except BaseException:
            for fd in (master, self._wake_read, self._wake_write):
                os.close(fd)
            raise
        finally:
            os.close(slave)
        self._hang_up = False
        self._reader = threading.Thread(target=self._read, daemon=True, name="pty-reader")
        self._reader.start()

    # ------------------------------------------------------------- reading

    def _read(self) -> None:
        master = self._master
        assert master is not None
        try:
            while True:
                ready, _, _ = select.select([master, self._wake_read], [], [])
                if self._wake_read in ready:
                    break  # hang_up(): the master is closed below
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave side is closed, the app is gone
                    data = b""
                if not data:
                    break
                with self._changed:
                    self.output += data
                    self.screen.feed(data)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._master = None
                os.close(master)
                self._ended = True
                self._changed.notify_all()

    def text(self) -> str:
        """The screen as it is now (the alternate screen the app draws on)."""
        with self._changed:
            return self.screen.text()

    @property
    def after_screen(self) -> str:
        """Plain text written to the normal screen: the closing notes after the app ended."""
        with self._changed:
            return self.screen.normal_text

    def wait_until(
        self, condition: Callable[[Screen], object], what: str, timeout: float = DEADLINE
    ) -> str:
        """Wait until ``condition(screen)`` holds (checked after every read); return the
        screen's text then. Fails at the deadline, or when the app's output ends first,
        showing the screen as it was."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.screen):
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    why = "the app's output ended" if self._ended else f"{timeout}s passed"
                    raise AssertionError(
                        f"{why} before {what}; the screen:\n{self.screen.text()}\n"
                        f"cursor at {self.screen.cursor}; after it: {self.screen.normal_text!r}"
                    )
                self._changed.wait(left)
            return self.screen.text()

    def wait_for_text(self, *texts: str, timeout: float = DEADLINE) -> str:
        """Wait until every one of ``texts`` is on the screen; return the screen."""
        return self.wait_until(
            lambda screen: all(text in screen.text() for text in texts),
            f"the screen to show {texts!r}",
            timeout,
        )

    # ------------------------------------------------------------- writing

    def press(self, *keys: str) -> None:
        """Send keys (names as in :data:`KEYS`, or single characters) as a terminal does."""
        self.write("".join(KEYS.get(key, key) for key in keys))

    def write(self, text: str) -> None:
        with self._changed:
            master = self._master
            if master is None:
                raise AssertionError(f"cannot type {text!r}: the terminal is closed")
            os.write(master, text.encode("utf-8"))

    # ------------------------------------------------------------- ending

    def send_signal(self, number: int) -> None:
        self.process.send_signal(number)

    def hang_up(self) -> None:
        """Close the pty's master side, as an SSH server does when the connection drops:
        the kernel sends SIGHUP to the app, the session leader."""
        os.write(self._wake_write, b"x")
        self._reader.join(DEADLINE)
        assert not self._reader.is_alive(), "the pty reader did not stop"

    def wait(self, timeout: float = DEADLINE * 2) -> int:
        """Wait for the exit, and for everything it wrote to be read; the exit status
        as the shell reports it (128 + N for a signal N the app did not handle)."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the app did not exit within {timeout}s; the screen:\n{self.text()}"
            ) from None
        self._reader.join(timeout)
        assert not self._reader.is_alive(), "the pty reader did not stop"
        return 128 - code if code < 0 else code

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its own group (setsid)
            self.process.wait(DEADLINE)
        if self._reader.is_alive():
            os.write(self._wake_write, b"x")
            self._reader.join(DEADLINE)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> AppInTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
