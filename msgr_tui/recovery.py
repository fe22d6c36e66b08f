"""Recovery files: the outgoing messages an earlier session left unanswered.

The app writes them (see the bridge's Stop with ``save_to``) to the recovery
directory of :mod:`.locations`; the next start finds them here, says how many
messages each holds, and sends them again or leaves them. A recovery file is
an ordinary message file: ``msgr-tui send --from FILE`` sends it too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from .locations import recovery_files
from .messagefile import MessageFileError, SectionError, encode_message, read_messages


@dataclass(frozen=True, slots=True)
class RecoveryFile:
    """A recovery file found at start: how many messages it holds, or why it cannot be read."""

    path: Path
    count: int
    problem: str | None = None

    @property
    def partial(self) -> bool:
        """Cut short by a run that was killed while writing it (``FILE.jsonl.partial``)."""
        return self.path.name.endswith(".partial")


@dataclass(frozen=True, slots=True)
class RecoveredMessage:
    """One message of a recovery file: its bytes as put, and the address it was put to."""

    data: bytes
    address: str
    subject: str


def find_recovery_files() -> list[RecoveryFile]:
    """The recovery files earlier runs left, oldest first, each with its count."""
    found = []
    for path in recovery_files():
        try:
            count = sum(1 for _ in read_messages(path))
        except MessageFileError as error:
            found.append(RecoveryFile(path, _count_lines(path), str(error)))
            continue
        found.append(RecoveryFile(path, count))
    return found


def load_recovery_file(path: Path, address: str | None = None) -> list[RecoveredMessage]:
    """Every message of ``path`` (any message file), whole; with ``address``, each
    addressed there instead of its own. MessageFileError if any line is not one."""
    messages = []
    for where, read in read_messages(path):
        record = read if address is None else read.addressed_to(address)
        if not record.address:
            raise MessageFileError(where, "the message has no address to send it to")
        try:
            data = encode_message(record)
        except SectionError as error:
            raise MessageFileError(where, str(error)) from None
        subject = (record.properties or {}).get("subject")
        messages.append(RecoveredMessage(data, record.address, _text(subject)))
    return messages


def retire(path: Path) -> None:
    """Remove a recovery file whose messages are all answered (or kept in a newer one)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _count_lines(path: Path) -> int:
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            return sum(1 for line in lines if line.strip())
    except OSError:
        return 0


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
