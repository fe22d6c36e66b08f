"""Choosing where a message goes: routes, rewrites, connections and sender links."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from proton import Message

from ._codec import Encoder, message_reply_to, with_value_body
from ._engine import Conn, Driver, now_ms
from ._links import Link
from ._options import Options
from ._outgoing import OutgoingQueue
from ._pn import has_only_body
from ._reports import Reports
from .address import Address, AddressError, parse_address, split_scheme
from .errors import MessengerException
from .failures import Failure
from .message import Message as OwnMessage
from .rules import RuleList, default_rewrite
from .tls import TLSError

if TYPE_CHECKING:
    from ._retry import Retrier

_REWRITE_CACHE_SIZE = 4096
# Container-ids of peers whose connections closed, remembered so that a late
# reply to one is aborted with the reason rather than refused as an address.
_DEPARTED_PEERS = 1024


class Router:
    """Maps message addresses to links, opening connections and links as needed.

    Routing (``route`` rules) picks the connection and link; rewriting
    (``rewrite`` rules, else the default that strips credentials) picks the
    address written into the message. An open connection is reused when the
    scheme, user, password, host and port match, or when the address's domain
    is the container-id of a connected peer.
    """

    def __init__(
        self, options: Options, driver: Driver, outgoing: OutgoingQueue, reports: Reports
    ) -> None:
        self.options = options
        self.driver = driver
        self.outgoing = outgoing
        self.reports = reports
        self.routes = RuleList()
        self.rewrites = RuleList()
        # Changes with every rule: encodings kept by put (Message._wire) made
        # under other rules no longer apply.
        self.rules_version = object()
        self.retrier: Retrier | None = None
        self._rewrite_cache: dict[str, str | None] = {}
        self._link_cache: dict[str, Link] = {}
        self._out_conns: dict[tuple[Any, ...], Conn] = {}
        self._tls_cache: dict[str, Any] = {}
        self._departed: OrderedDict[str, Failure] = OrderedDict()

    # ------------------------------------------------------------- rules

    def add_route(self, pattern: str, address: str) -> None:
        self.routes.add(pattern, address)
        self._link_cache.clear()
        self.rules_version = object()

    def add_rewrite(self, pattern: str, address: str | None) -> None:
        self.rewrites.add(pattern, address)
        self._rewrite_cache.clear()
        self.rules_version = object()

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

    def wire_copy(self, message: Message, address: str, encoder: Encoder) -> bytes:
        """``message`` encoded as it goes out: address rewritten, ``~`` reply-to expanded.

        ``address`` is ``message.address``, which the caller has read already
        (each read is a C call and a string copy). The caller's message is
        left as it was, whatever happens.
        """
        written = self._rewrite_cache.get(address) or self.rewritten(address)
        reply_to = message_reply_to(message)
        if written == address and not (reply_to and reply_to[0] == "~"):
            data = encoder.encode(message)  # the common case: nothing to change
        else:
            expanded = self.expand_reply_to(reply_to)
            try:
                message.address = written
                if expanded != reply_to:
                    message.reply_to = expanded
                data = encoder.encode(message)
            finally:
                message.address = address
                message.reply_to = reply_to
        self._keep_prefix(message, address, data)
        return data

    def _keep_prefix(self, message: Message, address: str, data: bytes) -> None:
        """Keep what comes before the body in ``data`` for the next put of ``message``.

        Only for our Message itself (its field setters drop the copy; Proton's
        Message and subclasses, whose setters may not, are encoded in full
        each time), with no instructions, annotations or properties (they
        are dicts a program may change in place) and a bytes or str body,
        whose section is checked to be where it is expected.
        """
        if type(message) is not OwnMessage or not has_only_body(message):
            return
        section = with_value_body(b"", message.body)
        if section is None or not data.endswith(section):
            return
        message.__dict__["_wire"] = (self.rules_version, address, data[: len(data) - len(section)])

    def kept_wire_copy(self, message: Message) -> tuple[str, bytes] | None:
        """(address, encoded) of ``message`` from what an earlier put kept, if it still holds."""
        kept = message.__dict__.get("_wire")
        if kept is None or kept[0] is not self.rules_version:
            return None
        data = with_value_body(kept[2], message.body)
        return None if data is None else (kept[1], data)

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
        peer = self.peer_target(target)
        if peer is not None:
            conn, named = peer
            link = self.sender_link(conn, named.name)
            self._link_cache[address] = link
            return link
        gone = self._departed_peer(target)
        if gone is not None:
            # A reply to a peer that has just left: aborted, as the original
            # did while the closed connection was still known, not an address error.
            return Link.dead(None, gone)
        try:
            parsed = parse_address(target)
        except AddressError as error:
            raise AddressError(f"{error}{routed_note}") from None
        if parsed.listen:
            raise AddressError(
                f"put: cannot send to {parsed.without_credentials()!r}: '~' means listen; "
                f"use the listener's host and port{routed_note}"
            )
        retrier = self.retrier
        if retrier is not None and self.options.retry:
            plan = retrier.waiting_plan(parsed.connection_key(), now_ms())
            if plan is not None:
                # The address is down and a reconnection is planned: wait with the rest.
                return plan.park(parsed.name)
        try:
            conn = self.connection_for(parsed)
        except TLSError as error:
            # As in the original, TLS files that cannot be loaded abort the
            # message (with the reason) instead of failing put.
            failure = Failure(connection_label(parsed), str(error), permanent=True)
            self.reports.failed(failure)
            return Link.dead(parsed.name, failure)
        except MessengerException as error:
            # Only what cannot be resolved at all raises from put.
            if not routed_note:
                raise
            raise type(error)(f"{error}{routed_note}") from None
        if conn.closed:
            # Failed before it started (the failure is reported already).
            if retrier is not None and retrier.retrying(conn):
                return retrier.plan_after(conn).park(parsed.name)
            return Link.dead(parsed.name, conn.failure or Failure(conn.label, "cannot connect"))
        link = self.sender_link(conn, parsed.name)
        self._link_cache[address] = link
        return link

    def sender_link(self, conn: Conn, name: str | None) -> Link:
        """The sender link for ``name`` on ``conn``, opened if there is none."""
        link = conn.senders.get(name)
        if link is None or link.closed:
            durable = self.options.durable_targets
            impl = self.driver.open_link(conn, True, self.link_name(name), name, durable=durable)
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

    def peer_target(self, target: str) -> tuple[Conn, Address] | None:
        """The connection of the peer whose container-id is ``target``'s domain, if any.

        Matched on the text, before the address is parsed as host:port, as the
        original did: a peer named ``ID:host-1234-1:1`` (Qpid JMS style) or
        ``my peer`` is reached at ``amqp://ID:host-1234-1:1/replies`` over the
        connection it opened. Returns the connection and the address with the
        domain as its host.
        """
        conns = self.driver.conns
        if not conns:
            return None
        domain = _domain_text(target)
        for conn in conns.values():
            if conn.remote_container == domain and conn.usable:
                scheme, rest = split_scheme(target)
                _, slash, name = rest.partition("/")
                return conn, Address(scheme, None, None, domain, None, name if slash else None)
        return None

    def connection_for(self, address: Address) -> Conn:
        """An open connection that serves ``address``, else a new one.

        A new connection that fails before it starts (no resolved address
        took the connection) comes back already closed, its failure set.
        Raises TransportFailed when the host cannot be resolved and TLSError
        when the TLS settings cannot be loaded.
        """
        key = address.connection_key()
        conn = self._out_conns.get(key)
        if conn is not None and conn.usable:
            return conn
        label = connection_label(address)
        tls_domain = self.tls_domain("client") if address.tls else None
        options = self.options
        if address.user is not None and address.password is not None:
            mechs = "PLAIN"
        elif tls_domain is not None and options.certificate:
            mechs = "ANONYMOUS EXTERNAL"
        else:
            mechs = "ANONYMOUS"
        conn = self.driver.connect(address, label, tls_domain, mechs)
        if not conn.closed:
            self._out_conns[key] = conn
        return conn

    def forget(self, conn: Conn) -> None:
        """A connection closed: it no longer serves its address, nor its peer's name."""
        if self._out_conns.get(conn.key) is conn:
            del self._out_conns[conn.key]
        peer = conn.remote_container
        if peer:
            why = f": {conn.failure.reason}" if conn.failure is not None else ""
            self._departed[peer] = Failure(
                conn.label, f"the peer {peer!r} is no longer connected (its connection closed{why})"
            )
            self._departed.move_to_end(peer)
            while len(self._departed) > _DEPARTED_PEERS:
                self._departed.popitem(last=False)

    def _departed_peer(self, target: str) -> Failure | None:
        """Why a peer named by ``target``'s domain cannot be reached, if it has left."""
        if not self._departed:
            return None
        return self._departed.get(_domain_text(target))

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


def _domain_text(target: str) -> str:
    """``[user@]host[:port]`` of an address as written (password dropped), unparsed."""
    _, rest = split_scheme(target)
    authority = rest.partition("/")[0]
    user, at, host = authority.rpartition("@")
    return f"{user.partition(':')[0]}@{host}" if at else authority


def connection_label(address: Address) -> str:
    """How a connection is named in errors and events: scheme, user, host, port."""
    host = f"[{address.host}]" if ":" in address.host else address.host
    user = f"{address.user}@" if address.user is not None else ""
    return f"{address.effective_scheme}://{user}{host}:{address.effective_port}"
