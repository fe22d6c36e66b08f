"""Exceptions raised by the Messenger.

``Timeout`` and ``Interrupt`` are Proton's own classes, so code that catches
``proton.Timeout`` keeps working. As in the original API they are *not*
subclasses of :class:`MessengerException`; every other failure is.
"""

from __future__ import annotations

from proton import Interrupt, ProtonException, Timeout

__all__ = ["Interrupt", "LinkRefused", "MessengerException", "Timeout", "TransportFailed"]


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
