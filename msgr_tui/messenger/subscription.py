"""The handle returned by :meth:`Messenger.subscribe`."""

from __future__ import annotations

from enum import StrEnum

from .address import Address
from .failures import Failure

__all__ = ["ECHO_ONLY_PRODUCTS", "BrowseMode", "Subscription", "SubscriptionState"]

ECHO_ONLY_PRODUCTS = frozenset({"RabbitMQ"})
"""Peers (the ``product`` of their open frame) known to echo distribution-mode
``copy`` and selector filters in their attach answer without honouring either:
RabbitMQ 3.10 removes the messages a "browser" accepts and delivers every
message whatever the selector."""


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


class BrowseMode(StrEnum):
    """How a subscription reads its source (an extension; see ``subscribe(browse=True)``)."""

    NONE = "none"
    """Not browsing: messages are consumed, as in the original."""
    PENDING = "pending"
    """Browsing was asked for; the peer has not answered the attach yet."""
    COPY = "copy"
    """The peer confirmed distribution-mode ``copy`` (and is not known to only echo it):
    it sends copies and keeps the messages. Each one is given back (RELEASED) by ``get``."""
    PEEK = "peek"
    """The peer did not confirm ``copy``, or only echoes it (RabbitMQ): messages are
    taken and held unsettled, never accepted, so the source keeps them; they are
    given back (RELEASED) when the subscription ends (``unsubscribe``, ``stop``)
    or with ``release(tracker)``."""


class Subscription:
    """A source the Messenger receives from: a remote node or a ``~`` listener.

    ``address`` is the source exactly as given to ``subscribe``. For listeners,
    ``port`` is the port actually bound (useful with port 0) and
    :attr:`connect_address` is an address peers can send to. ``state`` and
    ``failure`` say how it is doing (extensions).
    """

    __slots__ = (
        "_address",
        "_browse",
        "_parsed",
        "_selector",
        "browse_mode",
        "copy_echoed",
        "echo_trusted",
        "failure",
        "peer_product",
        "peer_version",
        "port",
        "selector_confirmed",
        "state",
    )

    def __init__(
        self, address: str, parsed: Address, *, browse: bool = False, selector: str | None = None
    ) -> None:
        self._address = address
        self._parsed = parsed
        self._browse = browse
        self._selector = selector
        self.port: int | None = parsed.port
        self.state = SubscriptionState.CONNECTING
        self.failure: Failure | None = None
        self.browse_mode = BrowseMode.PENDING if browse else BrowseMode.NONE
        """Extension: how the source is read (see :class:`BrowseMode`)."""
        self.copy_echoed: bool | None = None
        """Extension: whether the peer's attach answer carried ``copy`` back (None until
        attached, or when browsing was not asked for)."""
        self.selector_confirmed: bool | None = None
        """Extension: whether the peer's attach answer carried the selector filter back
        (None until attached, or without a selector). See :attr:`selector_honoured`."""
        self.peer_product: str | None = None
        """Extension: ``product`` of the peer's open frame, once attached (None if unsent)."""
        self.peer_version: str | None = None
        """Extension: ``version`` of the peer's open frame, once attached."""
        self.echo_trusted: bool | None = None
        """Extension: whether the peer's attach answer can be taken at its word: False
        for peers known to echo ``copy`` and selectors without honouring them
        (:data:`ECHO_ONLY_PRODUCTS`: RabbitMQ); None until attached."""

    @property
    def browse(self) -> bool:
        """Extension: whether ``subscribe`` asked to browse (not consume) the source."""
        return self._browse

    @property
    def selector(self) -> str | None:
        """Extension: the selector ``subscribe`` sent on the attach, if any."""
        return self._selector

    @property
    def selector_honoured(self) -> bool | None:
        """Extension: whether the peer filters by the selector, as far as can be known.

        True when the peer confirmed the filter and its echo is trusted; False
        when it did not confirm it, or only echoes it (RabbitMQ: every message
        is delivered); None without a selector or until attached.
        """
        if self.selector_confirmed is None:
            return None
        return self.selector_confirmed and bool(self.echo_trusted)

    def peer_answered(
        self,
        copy_echoed: bool,
        selector_echoed: str | None,
        product: str | None,
        version: str | None,
    ) -> None:
        """The peer attached the link: decide the browse mode and the selector's standing."""
        self.peer_product = product
        self.peer_version = version
        self.echo_trusted = trusted = product not in ECHO_ONLY_PRODUCTS
        if self._browse:
            self.copy_echoed = copy_echoed
            self.browse_mode = BrowseMode.COPY if copy_echoed and trusted else BrowseMode.PEEK
        if self._selector is not None:
            self.selector_confirmed = selector_echoed is not None

    def attaching(self) -> None:
        """A (new) receiver link is asked for: what the last peer answered no longer holds."""
        self.state = SubscriptionState.CONNECTING
        if self._browse:
            self.browse_mode = BrowseMode.PENDING
            self.copy_echoed = None
        self.selector_confirmed = None
        self.echo_trusted = None

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
        extra = f", browse_mode={self.browse_mode.value!r}" if self._browse else ""
        if self._selector is not None:
            extra += f", selector={self._selector!r}"
        return f"Subscription({self._address!r}, state={self.state.value!r}{extra})"
