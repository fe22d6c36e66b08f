"""The message class: Proton's own, with binary ids handed out as bytes."""

from __future__ import annotations

from typing import Any

import proton

from . import _pn

__all__ = ["Message"]


def _owned(value: Any) -> Any:
    return value.tobytes() if type(value) is memoryview else value


class Message(proton.Message):
    """Proton's ``Message``, unchanged but for what the original API promised.

    Proton 0.40 returns a binary message-id or correlation-id as a memoryview
    over the message's C buffers, which the next decode into the same Message
    overwrites; a program that keeps ids across ``get`` (to match replies)
    would find them changed. Here they are bytes. Any ``proton.Message`` works
    with the Messenger; this one is what ``from msgr_tui.messenger import *``
    gives.

    It also lets ``Messenger.put`` reuse its work: old-API programs keep one
    Message and change its body between puts, and encoding the header,
    properties and address again each time was a fifth of a sender's CPU.
    ``put`` keeps what it encoded before the body (``_wire``); setting any
    field but ``body``, ``clear`` and ``decode`` drop it. Each field's setter
    does that itself (a ``__setattr__`` would slow every assignment, the
    body's and the receiver's included).
    """

    # What the last put encoded before the body (see Router.wire_copy), or None.
    _wire: Any = None

    def __init__(self, body: Any = None, **kwargs: Any) -> None:
        # Proton's own __init__, written straight into the instance.
        _pn.init_message(self, body)
        for name, value in kwargs.items():
            getattr(self, name)  # an unknown field raises AttributeError, as in Proton
            setattr(self, name, value)

    @property
    def properties(self) -> Any:
        """Application properties: a dict with str keys, or None."""
        return self.__dict__.get("properties")

    @properties.setter
    def properties(self, value: Any) -> None:
        fields = self.__dict__
        fields["_wire"] = None
        fields["properties"] = value

    def clear(self) -> None:
        self.__dict__["_wire"] = None
        super().clear()

    def decode(self, data: bytes) -> None:
        self.__dict__["_wire"] = None
        super().decode(data)

    @property
    def id(self) -> Any:
        """The message-id: str, bytes, uuid.UUID or an unsigned int."""
        return _owned(proton.Message.id.fget(self))

    @id.setter
    def id(self, value: Any) -> None:
        self.__dict__["_wire"] = None
        proton.Message.id.fset(self, value)

    @property
    def correlation_id(self) -> Any:
        """The correlation-id: str, bytes, uuid.UUID or an unsigned int."""
        return _owned(proton.Message.correlation_id.fget(self))

    @correlation_id.setter
    def correlation_id(self, value: Any) -> None:
        self.__dict__["_wire"] = None
        proton.Message.correlation_id.fset(self, value)


def _forgetting(field: property) -> property:
    """Proton's property ``field``, its setter dropping what put kept first."""
    base_set = field.fset
    assert base_set is not None

    def set_field(message: Message, value: Any) -> None:
        message.__dict__["_wire"] = None
        base_set(message, value)

    return property(field.fget, set_field, doc=field.__doc__)


# Every other field Proton's Message can set.
for _name, _field in list(vars(proton.Message).items()):
    if isinstance(_field, property) and _field.fset is not None and _name not in vars(Message):
        setattr(Message, _name, _forgetting(_field))
