"""The message class: Proton's own, with binary ids handed out as bytes."""

from __future__ import annotations

from typing import Any

import proton

__all__ = ["Message"]


def _owned(value: Any) -> Any:
    return value.tobytes() if type(value) is memoryview else value


class Message(proton.Message):
    """Proton's ``Message``, unchanged but for one thing the original API promised.

    Proton 0.40 returns a binary message-id or correlation-id as a memoryview
    over the message's C buffers, which the next decode into the same Message
    overwrites; a program that keeps ids across ``get`` (to match replies)
    would find them changed. Here they are bytes. Any ``proton.Message`` works
    with the Messenger; this one is what ``from msgr_tui.messenger import *``
    gives.
    """

    @property
    def id(self) -> Any:
        """The message-id: str, bytes, uuid.UUID or an unsigned int."""
        return _owned(proton.Message.id.fget(self))

    @id.setter
    def id(self, value: Any) -> None:
        proton.Message.id.fset(self, value)

    @property
    def correlation_id(self) -> Any:
        """The correlation-id: str, bytes, uuid.UUID or an unsigned int."""
        return _owned(proton.Message.correlation_id.fget(self))

    @correlation_id.setter
    def correlation_id(self, value: Any) -> None:
        proton.Message.correlation_id.fset(self, value)
