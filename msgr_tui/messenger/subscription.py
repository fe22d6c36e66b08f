"""The handle returned by :meth:`Messenger.subscribe`."""

from __future__ import annotations

from .address import Address

__all__ = ["Subscription"]


class Subscription:
    """A source the Messenger receives from: a remote node or a ``~`` listener.

    ``address`` is the source exactly as given to ``subscribe``. For listeners,
    ``port`` is the port actually bound (useful with port 0) and
    :attr:`connect_address` is an address peers can send to.
    """

    __slots__ = ("_address", "_parsed", "error", "port", "state")

    def __init__(self, address: str, parsed: Address) -> None:
        self._address = address
        self._parsed = parsed
        self.port: int | None = parsed.port
        # "listening", "connecting", "attached", "retrying", "closed" or "failed"
        self.state = "connecting"
        self.error: str | None = None

    @property
    def address(self) -> str:
        """The source address as passed to ``subscribe``."""
        return self._address

    @property
    def source_name(self) -> str | None:
        """The node to receive from at the remote peer (the address's name part)."""
        return self._parsed.name

    @property
    def listening(self) -> bool:
        return self._parsed.listen

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
        return f"Subscription({self._address!r}, state={self.state!r})"
