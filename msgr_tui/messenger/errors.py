"""Exceptions raised by the Messenger.

``Timeout`` and ``Interrupt`` are Proton's own classes, so code that catches
``proton.Timeout`` keeps working. As in the original API they are *not*
subclasses of :class:`MessengerException`; every other failure is.
"""

from __future__ import annotations

import re

from proton import Interrupt, ProtonException, Timeout

__all__ = [
    "Interrupt",
    "LinkRefused",
    "MessengerException",
    "Timeout",
    "TransportFailed",
    "condition_name",
]


class MessengerException(ProtonException):
    """A Messenger operation failed; the text says what, where and why."""


class TransportFailed(MessengerException):
    """A connection could not be made, or failed, or the peer closed it with an error.

    ``address`` is the address the connection was made for (credentials
    removed) and ``condition`` the AMQP/transport error name when one is known.
    """

    def __init__(self, text: str, address: str | None = None, condition: str | None = None):
        super().__init__(text)
        self.address = address
        self.condition = condition


class LinkRefused(TransportFailed):
    """The peer refused or closed a link (or ended its session) with an error."""


_CONDITION = re.compile(r"(?<![\w:-])([a-z][a-z0-9-]*(?::[a-z0-9-]+)+)(?![\w-])(?!:[a-z0-9])")


def condition_name(text: str | None) -> str | None:
    """The AMQP/Proton condition name in an error text (``amqp:not-found``), if any."""
    match = _CONDITION.search(text or "")
    return match.group(1) if match else None
