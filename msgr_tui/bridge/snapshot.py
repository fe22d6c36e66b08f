"""An immutable copy of a received message, safe to hand to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cproton
from proton import Message

from ..messenger._incoming import owned


def _symbol_field(value: object, getter: object, message: Message) -> str | None:
    """Proton 0.40 turns an absent content type into the symbol 'None'; read the C field."""
    return None if getter(message._msg) is None else str(value)  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    seq: int
    tracker: int
    received_at: float
    address: str | None
    subject: str | None
    body: Any
    reply_to: str | None = None
    correlation_id: Any = None
    message_id: Any = None
    user_id: bytes | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    creation_time: float | None = None
    expiry_time: float | None = None
    group_id: str | None = None
    group_sequence: int | None = None
    reply_to_group_id: str | None = None
    durable: bool = False
    priority: int | None = None
    ttl: float | None = None
    first_acquirer: bool = False
    delivery_count: int = 0
    properties: dict[Any, Any] | None = None
    annotations: dict[Any, Any] | None = None
    instructions: dict[Any, Any] | None = None

    @classmethod
    def capture(cls, message: Message, seq: int, tracker: int, at: float) -> IncomingMessage:
        return cls(
            seq=seq,
            tracker=tracker,
            received_at=at,
            address=message.address,
            subject=message.subject,
            body=message.body,
            reply_to=message.reply_to,
            correlation_id=owned(message.correlation_id),
            message_id=owned(message.id),
            user_id=owned(message.user_id) or None,
            content_type=_symbol_field(
                message.content_type, cproton.pn_message_get_content_type, message
            ),
            content_encoding=_symbol_field(
                message.content_encoding, cproton.pn_message_get_content_encoding, message
            ),
            creation_time=message.creation_time or None,
            expiry_time=message.expiry_time or None,
            group_id=message.group_id,
            group_sequence=message.group_sequence or None,
            reply_to_group_id=message.reply_to_group_id,
            durable=message.durable,
            priority=message.priority,
            ttl=message.ttl or None,
            first_acquirer=message.first_acquirer,
            delivery_count=message.delivery_count,
            properties=dict(message.properties) if message.properties else None,
            annotations=dict(message.annotations) if message.annotations else None,
            instructions=dict(message.instructions) if message.instructions else None,
        )
