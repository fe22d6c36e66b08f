"""The handle returned by :meth:`Messenger.subscribe`."""

from __future__ import annotations

from enum import StrEnum

from .address import Address
from .failures import Failure

__all__ = ["Subscription", "SubscriptionState"]


class SubscriptionState(StrEnum):
    """Where a subscription stands (an extension; members compare equal to their text)."""

    LISTENING = "listening"
    """A ``~`` listener is bound and accepting peers."""
    CONNECTING = "connecting"
    """The receiver link is asked for and the peer has not attached it yet."""
    ATTACHED = "attached"
    """The peer attached the receiver link: messages can flow."""
    RETRYING = "retrying"
    """Retry mode: the connection failed; the link comes back with it."""
    CLOSED = "closed"
    """Unsubscribed, stopped, or closed by the peer without an error."""
    FAILED = "failed"
    """The peer refused or closed the link with an error, or the connection failed."""


class Subscription:
    """A source the Messenger receives from: a remote node or a ``~`` listener.

    ``address`` is the source exactly as given to ``subscribe``. For listeners,
    ``port`` is the port actually bound (useful with port 0) and
    :attr:`connect_address` is an address peers can send to. ``state`` and
    ``failure`` say how it is doing (extensions).
    """

    __slots__ = ("_address", "_parsed", "failure", "port", "state")

    def __init__(self, address: str, parsed: Address) -> None:
        self._address = address
        self._parsed = parsed
        self.port: int | None = parsed.port
        self.state = SubscriptionState.CONNECTING
        self.failure: Failure | None = None

    @property
    def address(self) -> str:
        """The source address as passed to ``subscribe``."""
        return self._address

    @property
    def error(self) -> str | None:
        """Why it failed or is retrying, in words (see :attr:`failure`), else None."""
        return self.failure.reason if self.failure is not None else None

    @property
    def source_name(self) -> str | None:
        """The node to receive from at the remote peer (the address's name part)."""
        return self._parsed.name

    @property
    def listening(self) -> bool:
        return self._parsed.listen

    @property
    def active(self) -> bool:
        """Not closed or failed: subscribing again returns this one."""
        return self.state not in (SubscriptionState.CLOSED, SubscriptionState.FAILED)

    @property
    def connect_address(self) -> str:
        """Where peers reach this source (for listeners: host and bound port, no ``~``)."""
        parsed = self._parsed
        if not parsed.listen:
            return self._address
        host = parsed.host or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        if ":" in host:
            host = f"[{host}]"
        text = f"{parsed.effective_scheme}://{host}:{self.port}"
        return f"{text}/{parsed.name}" if parsed.name else text

    def __repr__(self) -> str:
        return f"Subscription({self._address!r}, state={self.state.value!r})"
