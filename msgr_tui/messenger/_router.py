"""Choosing where a message goes: routes, rewrites, connections and sender links."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from proton import Message

from ._codec import Encoder
from ._engine import Conn, Driver, now_ms
from ._links import Link
from ._options import Options
from ._outgoing import OutgoingQueue
from .address import Address, AddressError, parse_address
from .errors import MessengerException, TransportFailed
from .rules import RuleList, default_rewrite
from .tls import check_verifiable_host

if TYPE_CHECKING:
    from ._retry import Retrier

_REWRITE_CACHE_SIZE = 4096


class Router:
    """Maps message addresses to links, opening connections and links as needed.

    Routing (``route`` rules) picks the connection and link; rewriting
    (``rewrite`` rules, else the default that strips credentials) picks the
    address written into the message. An open connection is reused when the
    scheme, user, password, host and port match, or when the address's domain
    is the container-id of a connected peer.
    """

    def __init__(self, options: Options, driver: Driver, outgoing: OutgoingQueue) -> None:
        self.options = options
        self.driver = driver
        self.outgoing = outgoing
        self.routes = RuleList()
        self.rewrites = RuleList()
        self.retrier: Retrier | None = None
        self._rewrite_cache: dict[str, str | None] = {}
        self._link_cache: dict[str, Link] = {}
        self._out_conns: dict[tuple[Any, ...], Conn] = {}
        self._tls_cache: dict[str, Any] = {}

    # ------------------------------------------------------------- rules

    def add_route(self, pattern: str, address: str) -> None:
        self.routes.add(pattern, address)
        self._link_cache.clear()

    def add_rewrite(self, pattern: str, address: str | None) -> None:
        self.rewrites.add(pattern, address)
        self._rewrite_cache.clear()

    def routed(self, address: str) -> tuple[str, str]:
        """The address after the route rules, and a note for errors when a rule matched."""
        matched, routed = self.routes.apply(address)
        if matched and routed is not None:
            return routed, f" (routed from {address!r})"
        return address, ""

    def rewritten(self, address: str) -> str | None:
        """The address to write into an outgoing message sent to ``address``."""
        try:
            return self._rewrite_cache[address]
        except KeyError:
            pass
        matched, result = self.rewrites.apply(address)
        written = result if matched else default_rewrite(address)
        if len(self._rewrite_cache) > _REWRITE_CACHE_SIZE:
            self._rewrite_cache.clear()
        self._rewrite_cache[address] = written
        return written

    def wire_copy(self, message: Message, encoder: Encoder) -> bytes:
        """``message`` encoded as it goes out: address rewritten, ``~`` reply-to expanded.

        The caller's message is left as it was, whatever happens.
        """
        address = message.address
        written = self.rewritten(address)
        reply_to = message.reply_to
        expanded = self.expand_reply_to(reply_to)
        if written == address and expanded == reply_to:
            return encoder.encode(message)
        try:
            message.address = written
            if expanded != reply_to:
                message.reply_to = expanded
            return encoder.encode(message)
        finally:
            message.address = address
            message.reply_to = reply_to

    def expand_reply_to(self, reply_to: str | None) -> str | None:
        """``~`` and ``~/name`` name this Messenger: ``amqp://<name>[/name]``."""
        if reply_to and reply_to.startswith("~"):
            return f"amqp://{self.options.name}{reply_to[1:]}"
        return reply_to

    # ------------------------------------------------------------- links

    def sender_for(self, address: str) -> Link:
        """The sender link for a message addressed to ``address``."""
        link = self._link_cache.get(address)
        if link is not None and not link.closed and link.conn.usable:
            return link
        target, routed_note = self.routed(address)
        try:
            parsed = parse_address(target)
        except AddressError as error:
            raise AddressError(f"{error}{routed_note}") from None
        if parsed.listen:
            raise AddressError(
                f"put: cannot send to {parsed.without_credentials()!r}: '~' means listen; "
                f"use the listener's host and port{routed_note}"
            )
        if self.retrier is not None and self.options.retry:
            plan = self.retrier.waiting_plan(parsed.connection_key(), now_ms())
            if plan is not None:
                # The address is down and a reconnection is planned: wait with the rest.
                return plan.park(parsed.name)
        try:
            conn = self.connection_for(parsed)
        except MessengerException as error:
            if not routed_note:
                raise
            raise type(error)(f"{error}{routed_note}") from None
        link = self.sender_link(conn, parsed.name)
        self._link_cache[address] = link
        return link

    def sender_link(self, conn: Conn, name: str | None) -> Link:
        """The sender link for ``name`` on ``conn``, opened if there is none."""
        link = conn.senders.get(name)
        if link is None or link.closed:
            impl = self.driver.open_link(conn, True, self.link_name(name), name)
            link = self.new_link(impl, conn, True, name, opened_here=True)
            conn.senders[name] = link
        return link

    def new_link(
        self, impl: Any, conn: Conn, is_sender: bool, address: str | None, *, opened_here: bool
    ) -> Link:
        """Register a link the engine created, so its events and messages find it."""
        link = Link(impl, conn, is_sender, address, opened_here)
        self.driver.register_link(link)
        if is_sender:
            self.outgoing.links.append(link)
        return link

    @staticmethod
    def link_name(terminus: str | None) -> str:
        # Unique per connection pair and direction, so a broker never confuses
        # (or steals) links after a reconnect.
        return f"{terminus or '-'}#{uuid.uuid4().hex[:12]}"

    # ------------------------------------------------------- connections

    def connection_for(self, address: Address) -> Conn:
        """An open connection that serves ``address``, else a new one."""
        key = address.connection_key()
        conn = self._out_conns.get(key)
        if conn is not None and conn.usable:
            return conn
        domain = address.domain
        for candidate in self.driver.conns.values():
            if candidate.remote_container == domain and candidate.usable:
                return candidate
        label = connection_label(address)
        tls_domain = self.tls_domain("client") if address.tls else None
        options = self.options
        if tls_domain is not None and options.verify_hostname and options.trusted_certificates:
            check_verifiable_host(address.host)
        if address.user is not None and address.password is not None:
            mechs = "PLAIN"
        elif tls_domain is not None and options.certificate:
            mechs = "ANONYMOUS EXTERNAL"
        else:
            mechs = "ANONYMOUS"
        conn = self.driver.connect(address, label, tls_domain, mechs)
        if not conn.closed:
            self._out_conns[key] = conn
        elif conn.failure is not None:
            # Failed before it started (no address worked): report it now.
            raise TransportFailed(str(conn.failure), address=label)
        return conn

    def forget(self, conn: Conn) -> None:
        """A connection closed: it no longer serves its address."""
        if self._out_conns.get(conn.key) is conn:
            del self._out_conns[conn.key]

    def reset(self) -> None:
        """The Messenger stopped: nothing is open any more."""
        self._out_conns.clear()
        self._link_cache.clear()

    def tls_domain(self, role: str) -> Any:
        """The SSLDomain for ``client`` connections or ``server`` listeners (built once)."""
        domain = self._tls_cache.get(role)
        if domain is None:
            settings = self.options.tls()
            domain = settings.server_domain() if role == "server" else settings.client_domain()
            self._tls_cache[role] = domain
        return domain

    def tls_changed(self) -> None:
        self._tls_cache.clear()


def connection_label(address: Address) -> str:
    """How a connection is named in errors and events: scheme, user, host, port."""
    host = f"[{address.host}]" if ":" in address.host else address.host
    user = f"{address.user}@" if address.user is not None else ""
    return f"{address.effective_scheme}://{user}{host}:{address.effective_port}"
