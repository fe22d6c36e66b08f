"""Message files: JSON lines read with ``file:line`` errors, written atomically."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .records import RecordFormatError, from_record, to_record
from .sections import MessageRecord

__all__ = ["MessageFileError", "MessageFileWriter", "read_messages", "record_line"]


class MessageFileError(ValueError):
    """A message file that cannot be read or written: ``where`` is ``file:line`` or ``file``."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


# One encoder for every line: json.dumps with options builds a new one per call.
# Text stays text (no \u escapes); NaN is never written as bare JSON (it is tagged).
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False)


def record_line(message: MessageRecord, meta: Mapping[str, Any] | None = None) -> str:
    """One line of a message file (no newline): JSON, text kept as text."""
    return _LINE_ENCODER.encode(to_record(message, meta))


def save_messages(
    path: str | os.PathLike[str], messages: Iterable[tuple[MessageRecord, Mapping[str, Any]]]
) -> None:
    """Write ``(message, meta)`` pairs to a new message file at ``path``, as one commit.

    MessageFileError says what went wrong; a file an I/O error cut short stays
    as ``FILE.partial``, which the error names.
    """
    writer = MessageFileWriter(path)
    try:
        writer.write([record_line(message, meta) for message, meta in messages])
        writer.commit()
    except OSError as error:
        writer.abandon()
        reason = error.strerror or str(error)
        raise MessageFileError(
            str(path), f"{reason}: what was written is in {writer.partial}"
        ) from None


def read_messages(source: str | os.PathLike[str] | IO[str]) -> Iterator[tuple[str, MessageRecord]]:
    """Every message of a file (``-`` is stdin), with its ``file:line``, in order.

    Blank lines are skipped. The first line that is not a message raises
    MessageFileError naming the file, the line and why: read a whole file
    before acting on it when a half-read file must not be half-used.
    """
    if isinstance(source, str | os.PathLike) and str(source) == "-":
        yield from _read_lines(sys.stdin, "<stdin>")
        return
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, encoding="utf-8") as stream:
                yield from _read_lines(stream, str(source))
        except OSError as error:
            raise MessageFileError(str(source), error.strerror or str(error)) from None
        return
    yield from _read_lines(source, getattr(source, "name", "<stream>"))


def _read_lines(stream: IO[str], name: str) -> Iterator[tuple[str, MessageRecord]]:
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            text = line.strip()
            if not text:
                continue
            where = f"{name}:{number}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                if not line.endswith("\n"):
                    # The last line, cut short: what a killed ``recv -o`` leaves.
                    raise MessageFileError(
                        where,
                        "the file ends in the middle of this line (a run that was killed "
                        "while writing it?); such a message was never accepted, so its "
                        "source still has it: remove the line",
                    ) from None
                raise MessageFileError(
                    where, f"not JSON ({error.msg}, column {error.colno})"
                ) from None
            try:
                yield where, from_record(record)
            except RecordFormatError as error:
                raise MessageFileError(where, str(error)) from None
    except UnicodeDecodeError as error:
        raise MessageFileError(f"{name}:{number + 1}", f"not UTF-8 text ({error.reason})") from None


# Why a FILE.partial blocks a new FILE: it may hold the only copy of its messages.
_LEFT_BEHIND = (
    "is left by a run that did not finish and holds the messages it saved: "
    "rename it to keep them (it reads as a message file), or remove it"
)


class MessageFileWriter:
    """Writes message lines to a file that only appears, complete, when closed cleanly.

    Lines go to ``FILE.partial`` next to the destination, flushed as they are
    written (so a reader of ``.partial`` sees every line once its ``write``
    returned); :meth:`commit` syncs it and renames it to ``FILE``. A run that
    is killed leaves ``FILE.partial`` behind, never a ``FILE`` that looks
    complete. With ``path`` ``-`` lines go to stdout.

    Nothing is ever overwritten: those messages may exist nowhere else (they
    were accepted, so the source no longer has them). An existing ``FILE``, or
    a ``FILE.partial`` left by a run that did not finish, is a
    MessageFileError before anything is written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = None if str(path) == "-" else Path(path)
        self.count = 0
        if self.path is None:
            self.partial = None
            self._stream: IO[str] = sys.stdout
        else:
            self.partial = self.path.with_name(self.path.name + ".partial")
            self.check_free(self.path)
            try:
                # "x": created here, or refused; never truncated.
                self._stream = open(self.partial, "x", encoding="utf-8")  # noqa: SIM115 (closed in commit)
            except FileExistsError:
                raise MessageFileError(
                    str(self.partial),
                    _LEFT_BEHIND,
                ) from None
            except OSError as error:
                raise MessageFileError(str(self.partial), error.strerror or str(error)) from None

    @staticmethod
    def check_free(path: str | os.PathLike[str]) -> None:
        """MessageFileError unless a new message file can be made at ``path`` (``-`` can)."""
        if str(path) == "-":
            return
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        if target.exists():
            raise MessageFileError(str(target), "already exists: a message file is never replaced")
        if partial.exists():
            raise MessageFileError(
                str(partial),
                _LEFT_BEHIND,
            )
        if not target.parent.is_dir():
            raise MessageFileError(str(target), f"no such directory: {target.parent}")

    def write(self, lines: list[str]) -> None:
        """Write and flush ``lines``; raises OSError (BrokenPipeError...) when it cannot."""
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
            self.count += len(lines)

    def sync(self) -> None:
        """Make what was written durable on disk (a no-op on stdout)."""
        if self.partial is not None:
            os.fsync(self._stream.fileno())

    def commit(self) -> None:
        """Make the file complete: sync, close and rename it into place."""
        if self.partial is None or self.path is None:
            return
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        try:
            # A link, not a rename: it refuses to replace a FILE made meanwhile.
            os.link(self.partial, self.path)
        except FileExistsError:
            raise MessageFileError(
                str(self.path), f"appeared during the run: the messages are in {self.partial}"
            ) from None
        os.unlink(self.partial)
        _sync_directory(self.path.parent)

    def abandon(self) -> None:
        """Close without completing: ``FILE.partial`` stays, with what was written."""
        if self.partial is not None and not self._stream.closed:
            self._stream.close()


def _sync_directory(directory: Path) -> None:
    """Make a new name in ``directory`` durable (where the system allows it)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
