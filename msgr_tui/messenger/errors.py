"""Exceptions raised by the Messenger.

``Timeout`` and ``Interrupt`` are Proton's own classes, so code that catches
``proton.Timeout`` keeps working. As in the original API they are *not*
subclasses of :class:`MessengerException`; every other failure is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proton import Interrupt, ProtonException, Timeout

if TYPE_CHECKING:
    from .failures import Failure

__all__ = [
    "Interrupt",
    "LinkRefused",
    "MessengerException",
    "Timeout",
    "TransportFailed",
]


class MessengerException(ProtonException):
    """A Messenger operation failed; the text says what, where and why."""


class TransportFailed(MessengerException):
    """A connection could not be made, or failed, or the peer closed it with an error.

    ``address`` is the address the connection was made for (credentials
    removed), ``condition`` the AMQP/transport condition's name when one is
    known, and ``failure`` the whole :class:`~msgr_tui.messenger.failures.Failure`.
    """

    def __init__(
        self,
        text: str,
        address: str | None = None,
        condition: str | None = None,
        failure: Failure | None = None,
    ):
        super().__init__(text)
        self.address = address
        self.condition = condition
        self.failure = failure

    @classmethod
    def of(cls, failure: Failure) -> TransportFailed:
        """The exception that reports ``failure``."""
        condition = failure.condition.name if failure.condition is not None else None
        return cls(str(failure), address=failure.where, condition=condition, failure=failure)


class LinkRefused(TransportFailed):
    """The peer refused or closed a link (or ended its session) with an error."""
