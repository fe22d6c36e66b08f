"""Routes and rewrites, checked against the original Messenger: a table of what it did.

Every row below was produced by the ORIGINAL Proton 0.17 Messenger (the C
``pn_messenger`` run with ``../shared/oracle/run-original``), not by our code:
a script on the original added the row's routes and rewrites, put one message
to the row's address and sent it to two recording peers on 127.0.0.1 (``{A}``
and ``{B}`` stand for their ports). Each row pins what the original put on the
wire: which peer the connection went to, the target of the link it opened
there, and the address written into the message. In ``tests/messenger/oracle/``,
``run-original record_routes.py route_cases.json`` printed the table (run
offline, never from a test); it is pasted below as it came out.

Seen on the original and left out of the table: a rule ``$0``, or ``$N``
beyond the pattern's wildcards, writes the whole address or nothing there
(ours refuses such a rule in ``route``/``rewrite``, see ``test_rules.py``);
a route ``*`` -> ``.../$1`` together with a rewrite ``*`` -> ``...$1`` made the
original attach a link with a garbage target (it read freed memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from msgr_tui.messenger import ACCEPTED, Message
from tests.helpers import DEADLINE, started, wait_for
from tests.peers import Delivery, PeerBehaviour, RawPeer

Rule = tuple[str, str | None]


@dataclass(frozen=True)
class Arrival:
    """What one recording peer saw: ``peer`` A or B, the link's target, the message's address."""

    peer: str
    target: str | None
    address: str | None


@dataclass(frozen=True)
class Row:
    why: str
    put: str
    arrived: Arrival
    routes: tuple[Rule, ...] = ()
    rewrites: tuple[Rule, ...] = ()


# Produced by the original Messenger (see the module docstring); do not edit by hand.
ORIGINAL: list[Row] = [
    Row(
        "a route picks the peer; the message keeps its address",
        routes=(("amqp://orders.example/*", "amqp://127.0.0.1:{A}/$1"),),
        put="amqp://orders.example/incoming",
        arrived=Arrival("A", "incoming", "amqp://orders.example/incoming"),
    ),
    Row(
        "% picks the port, * the link",
        routes=(("amqp://node/%/*", "amqp://127.0.0.1:$1/$2"),),
        put="amqp://node/{A}/jobs/urgent",
        arrived=Arrival("A", "jobs/urgent", "amqp://node/{A}/jobs/urgent"),
    ),
    Row(
        "% picks the port, * the link (other peer)",
        routes=(("amqp://node/%/*", "amqp://127.0.0.1:$1/$2"),),
        put="amqp://node/{B}/jobs",
        arrived=Arrival("B", "jobs", "amqp://node/{B}/jobs"),
    ),
    Row(
        "the first matching route wins",
        routes=(
            ("amqp://svc/special/*", "amqp://127.0.0.1:{A}/$1"),
            ("amqp://svc/*", "amqp://127.0.0.1:{B}/$1"),
            ("amqp://svc/special/vip", "amqp://127.0.0.1:{B}/never"),
        ),
        put="amqp://svc/special/vip",
        arrived=Arrival("A", "vip", "amqp://svc/special/vip"),
    ),
    Row(
        "the first matching route wins (second rule)",
        routes=(
            ("amqp://svc/special/*", "amqp://127.0.0.1:{A}/$1"),
            ("amqp://svc/*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="amqp://svc/plain",
        arrived=Arrival("B", "plain", "amqp://svc/plain"),
    ),
    Row(
        "% does not cross '/': the catch-all takes it, $1 the whole address",
        routes=(
            ("amqp://%/q", "amqp://127.0.0.1:{A}/one"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="amqp://a/b/q",
        arrived=Arrival("B", "amqp://a/b/q", "amqp://a/b/q"),
    ),
    Row(
        "% matches one segment",
        routes=(
            ("amqp://%/q", "amqp://127.0.0.1:{A}/one"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="amqp://a/q",
        arrived=Arrival("A", "one", "amqp://a/q"),
    ),
    Row(
        "* is greedy: $2 is the last segment",
        routes=(("*/*", "amqp://127.0.0.1:{A}/$2"),),
        put="x/y/z",
        arrived=Arrival("A", "z", "x/y/z"),
    ),
    Row(
        "* is greedy: $1 takes all but the last segment",
        routes=(("*/*", "amqp://127.0.0.1:{A}/$1"),),
        put="x/y/z",
        arrived=Arrival("A", "x/y", "x/y/z"),
    ),
    Row(
        "* then %: the last dot splits",
        routes=(("*.%", "amqp://127.0.0.1:{A}/$1-$2"),),
        put="a.b.c",
        arrived=Arrival("A", "a.b-c", "a.b.c"),
    ),
    Row(
        "%% : the first run takes everything, the second is empty",
        routes=(("%%", "amqp://127.0.0.1:{A}/[$1][$2]"),),
        put="abc",
        arrived=Arrival("A", "[abc][]", "abc"),
    ),
    Row(
        "a*b*c: greedy runs",
        routes=(("a*b*c", "amqp://127.0.0.1:{A}/$1|$2"),),
        put="axxbyybzzc",
        arrived=Arrival("A", "xxbyy|zz", "axxbyybzzc"),
    ),
    Row(
        "% / %: runs can be reordered",
        routes=(("%/%", "amqp://127.0.0.1:{A}/$2.$1"),),
        put="left/right",
        arrived=Arrival("A", "right.left", "left/right"),
    ),
    Row(
        "* matches nothing after the slash",
        routes=(("amqp://h/*", "amqp://127.0.0.1:{A}/x$1"),),
        put="amqp://h/",
        arrived=Arrival("A", "x", "amqp://h/"),
    ),
    Row(
        "$1 twice",
        routes=(("x/*", "amqp://127.0.0.1:{A}/$1/$1"),),
        put="x/q",
        arrived=Arrival("A", "q/q", "x/q"),
    ),
    Row(
        "a scheme-less route target",
        routes=(("orders", "127.0.0.1:{A}/q"),),
        put="orders",
        arrived=Arrival("A", "q", "orders"),
    ),
    Row(
        "the whole address must match",
        routes=(
            ("exact", "amqp://127.0.0.1:{A}/hit"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="exactly",
        arrived=Arrival("B", "exactly", "exactly"),
    ),
    Row(
        "'.' is literal",
        routes=(
            ("a.c", "amqp://127.0.0.1:{A}/dot"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="abc",
        arrived=Arrival("B", "abc", "abc"),
    ),
    Row(
        "'+' is literal",
        routes=(
            ("a+b", "amqp://127.0.0.1:{A}/plus"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="a+b",
        arrived=Arrival("A", "plus", "a+b"),
    ),
    Row(
        "patterns are case-sensitive",
        routes=(
            ("AMQP://H/*", "amqp://127.0.0.1:{A}/$1"),
            ("*", "amqp://127.0.0.1:{B}/$1"),
        ),
        put="amqp://h/q",
        arrived=Arrival("B", "amqp://h/q", "amqp://h/q"),
    ),
    Row(
        "% : % / *: host, port and name runs",
        routes=(("%:%/*", "amqp://127.0.0.1:$2/$3"),),
        put="svc:{A}/q",
        arrived=Arrival("A", "q", "svc:{A}/q"),
    ),
    Row(
        "* routes any address; the link is named by the whole address",
        routes=(("*", "amqp://127.0.0.1:{A}/$1"),),
        put="amqp://billing.example/invoices",
        arrived=Arrival("A", "amqp://billing.example/invoices", "amqp://billing.example/invoices"),
    ),
    Row(
        "a route to host:port only: a link without a target",
        routes=(("*", "127.0.0.1:{B}"),),
        put="anything/at/all",
        arrived=Arrival("B", None, "anything/at/all"),
    ),
    Row(
        "the default rewrite drops user:password (routed by a logical host)",
        routes=(("amqp://%@inventory.example/*", "amqp://127.0.0.1:{A}/$2"),),
        put="amqp://alice:secret@inventory.example/stock",
        arrived=Arrival("A", "stock", "amqp://inventory.example/stock"),
    ),
    Row(
        "the default rewrite drops the user of a scheme-less address",
        routes=(("%@inventory.example/*", "amqp://127.0.0.1:{A}/$2"),),
        put="bob@inventory.example/stock",
        arrived=Arrival("A", "stock", "inventory.example/stock"),
    ),
    Row(
        "the default rewrite keeps amqps://",
        routes=(("amqps://%@secure.example/*", "amqp://127.0.0.1:{A}/$2"),),
        put="amqps://carol@secure.example/q",
        arrived=Arrival("A", "q", "amqps://secure.example/q"),
    ),
    Row(
        "'@' in the name is not userinfo",
        routes=(("amqp://names.example/*", "amqp://127.0.0.1:{A}/$1"),),
        put="amqp://names.example/with@at",
        arrived=Arrival("A", "with@at", "amqp://names.example/with@at"),
    ),
    Row(
        "the default rewrite of an address without a name",
        routes=(("amqp://%@rt.example", "amqp://127.0.0.1:{A}"),),
        put="amqp://u:p@rt.example",
        arrived=Arrival("A", None, "amqp://rt.example"),
    ),
    Row(
        "the default rewrite keeps the port",
        routes=(("amqp://%@ported.example:%/*", "amqp://127.0.0.1:{A}/$3"),),
        put="amqp://dave:pw@ported.example:5673/a/b",
        arrived=Arrival("A", "a/b", "amqp://ported.example:5673/a/b"),
    ),
    Row(
        "a rewrite changes what the receiver sees, not where it goes",
        rewrites=(("amqp://127.0.0.1:{A}/%", "amqp://public.example/$1"),),
        put="amqp://127.0.0.1:{A}/orders",
        arrived=Arrival("A", "orders", "amqp://public.example/orders"),
    ),
    Row(
        "a rewrite to None removes the address",
        rewrites=(("amqp://127.0.0.1:{A}/secret/*", None),),
        put="amqp://127.0.0.1:{A}/secret/q",
        arrived=Arrival("A", "secret/q", None),
    ),
    Row(
        "a rewrite to None leaves other addresses alone",
        rewrites=(("amqp://127.0.0.1:{A}/secret/*", None),),
        put="amqp://127.0.0.1:{A}/public",
        arrived=Arrival("A", "public", "amqp://127.0.0.1:{A}/public"),
    ),
    Row(
        "rewrites apply to the address as put, not as routed",
        routes=(("amqp://logical/*", "amqp://127.0.0.1:{A}/$1"),),
        rewrites=(
            ("amqp://logical/*", "amqp://shown.example/$1"),
            ("amqp://127.0.0.1:{A}/*", "amqp://wrong.example/$1"),
        ),
        put="amqp://logical/q",
        arrived=Arrival("A", "q", "amqp://shown.example/q"),
    ),
    Row(
        "a matching rewrite replaces the default rewrite",
        routes=(("amqp://%@%/*", "amqp://127.0.0.1:{A}/$3"),),
        rewrites=(("amqp://%:%@kept.example/*", "amqp://$1@kept.example/$3"),),
        put="amqp://alice:secret@kept.example/q",
        arrived=Arrival("A", "q", "amqp://alice@kept.example/q"),
    ),
    Row(
        "no rewrite matched: the default rewrite",
        routes=(("amqp://%@%/*", "amqp://127.0.0.1:{A}/$3"),),
        rewrites=(("amqp://%:%@kept.example/*", "amqp://$1@kept.example/$3"),),
        put="amqp://alice:secret@other.example/q",
        arrived=Arrival("A", "q", "amqp://other.example/q"),
    ),
    Row(
        "the first matching rewrite wins",
        rewrites=(
            ("amqp://127.0.0.1:{A}/*", "first/$1"),
            ("amqp://127.0.0.1:{A}/*", "second/$1"),
        ),
        put="amqp://127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "first/q"),
    ),
    Row(
        "a rewrite without wildcards",
        rewrites=(("amqp://%/q", "rewritten"),),
        put="amqp://127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "rewritten"),
    ),
    Row(
        "a rewrite that does not match leaves the default rewrite",
        routes=(("amqp://%@creds.example/*", "amqp://127.0.0.1:{A}/$2"),),
        rewrites=(("nomatch", "x"),),
        put="amqp://u:pw@creds.example/q",
        arrived=Arrival("A", "q", "amqp://creds.example/q"),
    ),
    Row(
        "rewritten runs can be reordered around '@'",
        rewrites=(("amqp://%/*", "amqp://gw/$2@$1"),),
        put="amqp://127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "amqp://gw/q@127.0.0.1:{A}"),
    ),
    Row(
        "a rewrite to $1 keeps the address",
        rewrites=(("*", "$1"),),
        put="amqp://127.0.0.1:{A}/same",
        arrived=Arrival("A", "same", "amqp://127.0.0.1:{A}/same"),
    ),
    Row(
        "a rewrite to '' leaves an empty address",
        routes=(("*", "amqp://127.0.0.1:{A}/$1"),),
        rewrites=(("*", ""),),
        put="q",
        arrived=Arrival("A", "q", ""),
    ),
    Row(
        "no rule: the address as put",
        put="amqp://127.0.0.1:{B}/direct",
        arrived=Arrival("B", "direct", "amqp://127.0.0.1:{B}/direct"),
    ),
    Row(
        "no rule, no scheme",
        put="127.0.0.1:{B}/no-scheme",
        arrived=Arrival("B", "no-scheme", "127.0.0.1:{B}/no-scheme"),
    ),
    Row(
        "no rule, no name: a link without a target",
        put="amqp://127.0.0.1:{B}",
        arrived=Arrival("B", None, "amqp://127.0.0.1:{B}"),
    ),
    Row(
        "a name starting with '/'",
        put="amqp://127.0.0.1:{B}//queue/x",
        arrived=Arrival("B", "/queue/x", "amqp://127.0.0.1:{B}//queue/x"),
    ),
    Row(
        "a name with slashes",
        put="amqp://127.0.0.1:{B}/a/b/c",
        arrived=Arrival("B", "a/b/c", "amqp://127.0.0.1:{B}/a/b/c"),
    ),
    Row(
        "amqp://* takes host and name",
        routes=(("amqp://*", "amqp://127.0.0.1:{A}/$1"),),
        put="amqp://h/q",
        arrived=Arrival("A", "h/q", "amqp://h/q"),
    ),
    Row(
        "*/q keeps what comes before /q",
        routes=(("*/q", "amqp://127.0.0.1:{A}/$1"),),
        put="svc/q",
        arrived=Arrival("A", "svc", "svc/q"),
    ),
    Row(
        "a route can send what names one peer to the other",
        routes=(("127.0.0.1:*", "amqp://127.0.0.1:{A}/$1"),),
        put="127.0.0.1:{B}/x",
        arrived=Arrival("A", "{B}/x", "127.0.0.1:{B}/x"),
    ),
    Row(
        "% alone matches a word",
        routes=(("%", "amqp://127.0.0.1:{A}/$1"),),
        put="word",
        arrived=Arrival("A", "word", "word"),
    ),
    Row(
        "a rewrite can write any text, even '~x'",
        rewrites=(("*", "~x"),),
        put="amqp://127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "~x"),
    ),
    Row(
        "a rewrite to the name only",
        rewrites=(("%/%", "$2"),),
        put="127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "q"),
    ),
    Row(
        "'$' in an address is text",
        routes=(("*", "amqp://127.0.0.1:{A}/$1"),),
        put="price$",
        arrived=Arrival("A", "price$", "price$"),
    ),
    Row(
        "'$$' writes one '$'",
        routes=(("pr%", "amqp://127.0.0.1:{A}/a$$b"),),
        put="price",
        arrived=Arrival("A", "a$b", "price"),
    ),
    Row(
        "'$$' then $1",
        routes=(("pr%", "amqp://127.0.0.1:{A}/a$$$1"),),
        put="price",
        arrived=Arrival("A", "a$ice", "price"),
    ),
    Row(
        "'$' not followed by a digit writes the whole address",
        routes=(("pr%", "amqp://127.0.0.1:{A}/a$-b"),),
        put="price",
        arrived=Arrival("A", "aprice-b", "price"),
    ),
    Row(
        "a trailing '$' writes the whole address",
        rewrites=(("amqp://127.0.0.1:{A}/%", "cost$"),),
        put="amqp://127.0.0.1:{A}/q",
        arrived=Arrival("A", "q", "costamqp://127.0.0.1:{A}/q"),
    ),
    Row(
        "$10 is the tenth run",
        routes=(("%-%-%-%-%-%-%-%-%-%-%", "amqp://127.0.0.1:{A}/$10"),),
        put="a-b-c-d-e-f-g-h-i-j-k",
        arrived=Arrival("A", "j", "a-b-c-d-e-f-g-h-i-j-k"),
    ),
]


@dataclass
class Peers:
    """The two recording peers; ``fill`` puts their ports into a row's text."""

    a: RawPeer
    b: RawPeer

    def fill(self, text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace("{A}", str(self.a.port)).replace("{B}", str(self.b.port))

    def arrival_of(self, body: str) -> Arrival | None:
        for label, peer in (("A", self.a), ("B", self.b)):
            found: list[Delivery] = [d for d in peer.behaviour.deliveries if d.body == body]
            if found:
                (delivery,) = found
                return Arrival(label, delivery.target, delivery.address)
        return None

    def with_placeholders(self, arrival: Arrival) -> Arrival:
        def back(text: str | None) -> str | None:
            if text is None:
                return None
            return text.replace(str(self.a.port), "{A}").replace(str(self.b.port), "{B}")

        return Arrival(arrival.peer, back(arrival.target), back(arrival.address))


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with RawPeer(PeerBehaviour()) as a, RawPeer(PeerBehaviour()) as b:
        yield Peers(a, b)


@pytest.mark.parametrize("row", ORIGINAL, ids=[row.why for row in ORIGINAL])
def test_routes_and_rewrites_put_on_the_wire_what_the_original_did(row: Row, peers: Peers) -> None:
    sender = started("oracle-sender", outgoing_window=1, timeout=DEADLINE)
    for pattern, address in row.routes:
        sender.route(peers.fill(pattern), peers.fill(address))
    for pattern, address in row.rewrites:
        sender.rewrite(peers.fill(pattern), peers.fill(address))
    body = f"row {ORIGINAL.index(row)}"
    put = peers.fill(row.put)
    message = Message(address=put, body=body)
    tracker = sender.put(message)
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    assert message.address == put  # the caller's message keeps its address
    sender.stop()
    wait_for(lambda: peers.arrival_of(body) is not None, what=f"{body!r} at a peer")
    arrival = peers.arrival_of(body)
    assert arrival is not None
    assert peers.with_placeholders(arrival) == row.arrived
