"""A received message as plain, owned, immutable data (an extension).

A program that keeps what it received (a queue browser, a message file, a
thread that shows messages while another receives them) needs a copy that no
later ``get`` can change, and that shares nothing with the engine: a
:class:`MessageSnapshot`. It is taken from the C message through the engine's
own getters, about three times faster than reading ``Message``'s properties,
so it can be taken for every message of a flood.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple

from proton import Message

from . import _pn
from ._codec import decode_into, detached

__all__ = ["BodySection", "MessageSnapshot", "detached"]


class BodySection(Enum):
    """Which AMQP section carried the body (what a faithful copy must send again)."""

    VALUE = "amqp-value"
    """One AMQP value of any type (a string, a map, binary...)."""
    DATA = "data"
    """Opaque bytes."""
    SEQUENCE = "amqp-sequence"
    """A list of AMQP values."""


class MessageSnapshot(NamedTuple):
    """Every field of a received message. Binary values are bytes; maps are read-only.

    Times are seconds (``creation_time`` and ``expiry_time`` since the epoch,
    ``ttl`` a duration); ``properties`` are the application properties,
    ``annotations`` the message annotations and ``instructions`` the delivery
    annotations, or None when absent. ``body_section`` is None when there is
    no body.
    """

    address: str | None
    subject: str | None
    reply_to: str | None
    correlation_id: Any
    message_id: Any
    user_id: bytes | None
    content_type: str | None
    content_encoding: str | None
    creation_time: float | None
    expiry_time: float | None
    group_id: str | None
    group_sequence: int | None
    reply_to_group_id: str | None
    durable: bool
    priority: int
    ttl: float | None
    first_acquirer: bool
    delivery_count: int
    properties: Mapping[Any, Any] | None
    annotations: Mapping[Any, Any] | None
    instructions: Mapping[Any, Any] | None
    body: Any
    body_section: BodySection | None

    @classmethod
    def of(cls, message: Message) -> MessageSnapshot:
        """Copy every field of ``message`` (a decoded one: it may be reused right after)."""
        fields = _pn.header_and_properties(message)
        body = detached(message.body)
        if body is None:
            section = None
        elif _pn.body_is_inferred(message):
            section = BodySection.SEQUENCE if isinstance(body, list) else BodySection.DATA
        else:
            section = BodySection.VALUE
        return cls(
            fields[0],
            fields[1],
            fields[2],
            detached(fields[3]),
            detached(fields[4]),
            *fields[5:],
            _read_only(message.properties),
            _read_only(message.annotations),
            _read_only(message.instructions),
            body,
            section,
        )

    @classmethod
    def decode(cls, data: bytes | bytearray, scratch: Message) -> MessageSnapshot:
        """The message in ``data`` (its AMQP sections, as ``get_encoded`` returns them).

        ``scratch`` is a Message kept for decoding and used again for each
        message (by one thread): a new Message per decode costs a C message
        and its four data sections, and ours, reused, reads only the body of
        a message whose sections before it are those of the last one. What
        it held is overwritten. Raises what ``Message.decode`` raises for bad
        data (a string that is not UTF-8, for one).
        """
        decode_into(scratch, data)
        return cls.of(scratch)

    def to_message(self, address: str | None = None) -> Message:
        """A Message with every field of this one (to ``address`` if given): what a
        move, a copy or a resend puts, section for section as it was received."""
        message = Message()
        message.address = self.address if address is None else address
        for name in (
            "subject",
            "reply_to",
            "correlation_id",
            "user_id",
            "content_type",
            "content_encoding",
            "creation_time",
            "expiry_time",
            "group_id",
            "group_sequence",
            "reply_to_group_id",
            "ttl",
        ):
            value = getattr(self, name)
            if value is not None:
                setattr(message, name, value)
        if self.message_id is not None:
            message.id = self.message_id
        message.durable = self.durable
        message.priority = self.priority
        message.first_acquirer = self.first_acquirer
        message.delivery_count = self.delivery_count
        if self.properties:
            message.properties = dict(self.properties)
        if self.annotations:
            message.annotations = dict(self.annotations)
        if self.instructions:
            message.instructions = dict(self.instructions)
        if self.body_section is not None:
            message.body = self.body
            # data and amqp-sequence sections are what Proton calls "inferred" bodies.
            message.inferred = self.body_section is not BodySection.VALUE
        return message


def _read_only(section: Mapping[Any, Any] | None) -> Mapping[Any, Any] | None:
    return MappingProxyType(detached(dict(section))) if section else None
