"""The Messenger against rhea, an AMQP 1.0 implementation in JavaScript that is not Proton.

rhea (npm, pinned in tests/brokers/rhea.sh) runs in a node process driven by
tests/brokers/rhea_peer.js: a listener or a client that takes JSON commands on
stdin and reports what it observed (connections, links, credit, messages with
the bytes of each section and rhea's own reading of them, outcomes) as JSON
lines on stdout. Every test starts its own node process on 127.0.0.1 with an
ephemeral port and stops it at teardown.

Values cross the wire in a typed JSON notation shared with the peer, a *spec*:
``{"t": "uint", "v": "7"}``, ``{"t": "list", "v": [...]}``, ``{"t": "map",
"v": [[key, value], ...]}``, ``{"t": "array", "et": "int", "v": [...]}``,
``{"t": "described", "d": descriptor, "v": value}``. Integers are decimal
strings, floats and opaque values (decimals, uuids, binaries) hex bytes, so a
spec says the AMQP type and the exact value, and two specs are equal only when
the types and the bits are.

rhea's behaviour that the peer works around (see rhea_peer.js): it merges
consecutive dispositions with different outcomes decided in one event-loop
turn into one range (the peer decides one delivery per turn); it writes a
session's transfers before its links' attach frames, so a transfer on a link
it has just attached can precede the attach (the peer waits until the attach
is written, then sends one transfer per turn and only on credit); it cannot
encode a described value as the whole body (the peer writes the sections
itself with rhea's Writer); its decoder loses types (the peer reports the raw
bytes and dumps them with rhea's Reader). rhea's own client connects without
SASL, which the Messenger's listener accepts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proton import (
    UNDESCRIBED,
    Array,
    Data,
    Described,
    byte,
    char,
    decimal32,
    decimal64,
    decimal128,
    float32,
    int32,
    short,
    symbol,
    timestamp,
    ubyte,
    uint,
    ulong,
    ushort,
)

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    MODIFIED,
    PENDING,
    REJECTED,
    RELEASED,
    Message,
    Messenger,
)
from msgr_tui.messenger.subscription import SubscriptionState
from tests.certs import CertificateSet
from tests.helpers import DEADLINE, Make, pump_until

HERE = Path(__file__).resolve().parent
INSTALLER = HERE / "rhea.sh"
PEER_SCRIPT = HERE / "rhea_peer.js"

Spec = dict[str, Any]
Event = dict[str, Any]

BIG = 16 * 1024 * 1024

# Peer errors that mean the peer itself is broken (not an expected refusal).
PEER_BUGS = ("uncaught", "command", "protocol")


# ------------------------------------------------------------ the rhea peer


class RheaPeer:
    """One node process running rhea_peer.js; its JSON events are collected by a thread."""

    def __init__(self, node_path: str, config: dict[str, Any]) -> None:
        self.config = config
        self.port = 0
        self._events: list[Event] = []
        self._stderr: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        try:
            self.process = subprocess.Popen(
                ["node", str(PEER_SCRIPT), json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "NODE_PATH": node_path},
            )
        except FileNotFoundError:
            pytest.fail("node is not installed: rhea needs Node.js (apt-get install nodejs)")
        self._threads = [
            threading.Thread(target=self._read_events, daemon=True, name="rhea-stdout"),
            threading.Thread(target=self._read_stderr, daemon=True, name="rhea-stderr"),
        ]
        for thread in self._threads:
            thread.start()

    def _read_events(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "garbage", "line": line}
            with self._changed:
                self._events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def describe(self) -> str:
        events = "\n".join(json.dumps(_brief(e)) for e in self._events[-15:])
        stderr = "".join(self._stderr[-20:])
        return f"last events of the rhea peer:\n{events}\nits stderr:\n{stderr}"

    def events(self, kind: str, **match: Any) -> list[Event]:
        with self._changed:
            return [e for e in self._events if e["event"] == kind and _matches(e, match)]

    def has(self, kind: str, count: int = 1, **match: Any) -> bool:
        return len(self.events(kind, **match)) >= count

    def wait_for(
        self, kind: str, count: int = 1, timeout: float = DEADLINE, **match: Any
    ) -> list[Event]:
        """Block until ``count`` events of ``kind`` (matching ``match``) were reported."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self._events if e["event"] == kind and _matches(e, match)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    why = "the peer exited" if self._ended else f"{timeout}s passed"
                    raise AssertionError(
                        f"{why} before {count} {kind!r} events matching {match} "
                        f"(got {len(found)}); {self.describe()}"
                    )
                self._changed.wait(remaining)

    def command(self, op: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    def bugs(self) -> list[Event]:
        return [e for e in self.events("error") if e.get("where") in PEER_BUGS]

    def stop(self) -> None:
        """Close every connection (AMQP close), let the process exit; kill it if it hangs."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.command("close")
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)


def _matches(event: Event, match: dict[str, Any]) -> bool:
    return all(event.get(key) == value for key, value in match.items())


def _brief(event: Event) -> Event:
    """An event without its bulky section dumps (for failure messages)."""
    return {k: v for k, v in event.items() if k != "sections"}


class Rhea:
    """Starts rhea peers for one test; all of them are stopped at teardown."""

    def __init__(self, node_path: str) -> None:
        self.node_path = node_path
        self.peers: list[RheaPeer] = []

    def listen(self, **config: Any) -> RheaPeer:
        """A rhea listener on 127.0.0.1, ephemeral port (``peer.port``)."""
        peer = self._start({"role": "listen", "host": "127.0.0.1", "port": 0, **config})
        peer.port = peer.wait_for("listening")[0]["port"]
        assert peer.port > 0
        return peer

    def connect(self, port: int, **config: Any) -> RheaPeer:
        """A rhea client with one connection to 127.0.0.1:``port``."""
        return self._start({"role": "connect", "host": "127.0.0.1", "port": port, **config})

    def _start(self, config: dict[str, Any]) -> RheaPeer:
        config.setdefault("container_id", f"rhea-{uuid.uuid4().hex[:8]}")
        peer = RheaPeer(self.node_path, config)
        self.peers.append(peer)
        return peer

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()
        bugs = [(peer.config["role"], bug) for peer in self.peers for bug in peer.bugs()]
        assert not bugs, f"the rhea peer reported errors of its own: {bugs}"


@pytest.fixture(scope="session")
def rhea_modules() -> str:
    """rhea installed by tests/brokers/rhea.sh: the node_modules directory (NODE_PATH)."""
    try:
        done = subprocess.run(
            [str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"could not run {INSTALLER}: {error}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"could not install rhea with {INSTALLER} (exit {done.returncode}):\n"
            + done.stderr[-4000:],
            pytrace=False,
        )
    modules = done.stdout.strip()
    assert (Path(modules) / "rhea" / "package.json").is_file(), f"no rhea in {modules!r}"
    return modules


@pytest.fixture
def rhea(rhea_modules: str) -> Iterator[Rhea]:
    peers = Rhea(rhea_modules)
    try:
        yield peers
    finally:
        peers.stop()


@pytest.fixture
def make(messengers: Make) -> Make:
    """Started Messengers whose blocking calls give up after DEADLINE seconds."""

    def factory(name: str | None = None, **properties: Any) -> Messenger:
        properties.setdefault("timeout", DEADLINE)
        return messengers(name, **properties)

    return factory


def text(value: str) -> Spec:
    return {"t": "string", "v": value}


def receive(messenger: Messenger, count: int) -> list[tuple[int, Message]]:
    """Blocking receive of exactly ``count`` messages."""
    got: list[tuple[int, Message]] = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages arrived"
        messenger.recv(count - len(got))
        while messenger.incoming and len(got) < count:
            message = Message()
            got.append((messenger.get(message), message))
    return got


def only(items: list[Event]) -> Event:
    assert len(items) == 1, f"expected exactly one event, got {[_brief(i) for i in items]}"
    return items[0]


def tag_of(event: Event) -> str:
    """A delivery tag the test chose (rhea reports tags in hex)."""
    return bytes.fromhex(event["tag"]).decode()


def section_of(event: Event, name: str) -> Event:
    return only([s for s in event["sections"] if s["name"] == name])


# ------------------------------------------------------- typed values (specs)

# Proton's Python classes for the AMQP types that have one.
CLASSES: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    ubyte: "ubyte",
    ushort: "ushort",
    uint: "uint",
    ulong: "ulong",
    byte: "byte",
    short: "short",
    int32: "int",
    int: "long",
    float32: "float",
    float: "double",
    decimal32: "decimal32",
    decimal64: "decimal64",
    decimal128: "decimal128",
    char: "char",
    timestamp: "timestamp",
    uuid.UUID: "uuid",
    bytes: "binary",
    str: "string",
    symbol: "symbol",
    list: "list",
    dict: "map",
}

# AMQP type name -> Proton's Data type code (for arrays).
DATA_TYPES: dict[str, int] = {
    "bool": Data.BOOL,
    "ubyte": Data.UBYTE,
    "ushort": Data.USHORT,
    "uint": Data.UINT,
    "ulong": Data.ULONG,
    "byte": Data.BYTE,
    "short": Data.SHORT,
    "int": Data.INT,
    "long": Data.LONG,
    "float": Data.FLOAT,
    "double": Data.DOUBLE,
    "decimal32": Data.DECIMAL32,
    "decimal64": Data.DECIMAL64,
    "decimal128": Data.DECIMAL128,
    "char": Data.CHAR,
    "timestamp": Data.TIMESTAMP,
    "uuid": Data.UUID,
    "binary": Data.BINARY,
    "string": Data.STRING,
    "symbol": Data.SYMBOL,
    "list": Data.LIST,
    "map": Data.MAP,
}
TYPE_NAMES = {code: name for name, code in DATA_TYPES.items()}


def spec(value: Any) -> Spec:
    """The spec of a Python value as Proton hands it out (types are exact, not inferred)."""
    if isinstance(value, Described):
        return {"t": "described", "d": spec(value.descriptor), "v": spec(value.value)}
    if isinstance(value, Array):
        out: Spec = {"t": "array", "et": TYPE_NAMES[value.type], "v": []}
        out["v"] = [typed_spec(out["et"], element) for element in value.elements]
        if value.descriptor is not UNDESCRIBED:
            out["d"] = spec(value.descriptor)
        return out
    if isinstance(value, list):
        return {"t": "list", "v": [spec(item) for item in value]}
    if isinstance(value, dict):
        return {"t": "map", "v": [[spec(k), spec(v)] for k, v in value.items()]}
    kind = CLASSES.get(type(value))
    assert kind is not None, f"no AMQP type for {type(value).__name__} {value!r}"
    return typed_spec(kind, value)


def typed_spec(kind: str, value: Any) -> Spec:
    """The spec of ``value`` as AMQP type ``kind`` (array elements are plain Python values)."""
    if kind in ("list", "map", "array") or isinstance(value, Described):
        got = spec(value)
        assert got["t"] in (kind, "described"), f"{value!r} is not a {kind}"
        return got
    if kind == "null":
        return {"t": "null"}
    if kind == "bool":
        return {"t": kind, "v": bool(value)}
    if kind in ("ubyte", "ushort", "uint", "ulong", "byte", "short", "int", "long", "timestamp"):
        return {"t": kind, "v": str(int(value))}
    if kind == "float":
        return {"t": kind, "v": struct.pack(">f", value).hex()}
    if kind == "double":
        return {"t": kind, "v": struct.pack(">d", value).hex()}
    if kind == "decimal32":
        return {"t": kind, "v": int(value).to_bytes(4, "big").hex()}
    if kind == "decimal64":
        return {"t": kind, "v": int(value).to_bytes(8, "big").hex()}
    if kind in ("decimal128", "binary"):
        # bytes, not a memoryview over a buffer Proton reuses (see the README).
        assert isinstance(value, bytes), f"{kind} handed out as {type(value).__name__}"
        return {"t": kind, "v": bytes(value).hex()}
    if kind == "uuid":
        return {"t": kind, "v": value.bytes.hex()}
    if kind == "char":
        return {"t": kind, "v": ord(value)}
    if kind in ("string", "symbol"):
        return {"t": kind, "v": str(value)}
    raise AssertionError(f"unknown AMQP type {kind}")


def spec_of_map(value: dict[Any, Any] | None) -> Spec:
    assert isinstance(value, dict), f"not a map: {value!r}"
    return spec(value)


def encoded(code: int, value: Any) -> str:
    """Proton's encoding of a message section (descriptor ``code``) holding ``value``, in hex."""
    data = Data()
    data.put_object(Described(ulong(code), value))
    return data.encode().hex()


AMQP_VALUE, DATA, AMQP_SEQUENCE = 0x77, 0x75, 0x76
APPLICATION_PROPERTIES, MESSAGE_ANNOTATIONS = 0x74, 0x72

UUID_VALUE = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

# Values allowed in application properties (AMQP: simple types only).
SIMPLE_VALUES: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("false", False),
    ("ubyte", ubyte(255)),
    ("ushort", ushort(65535)),
    ("uint-0", uint(0)),
    ("uint-small", uint(7)),
    ("uint-max", uint(2**32 - 1)),
    ("ulong-0", ulong(0)),
    ("ulong-small", ulong(200)),
    ("ulong-max", ulong(2**64 - 1)),
    ("byte", byte(-128)),
    ("short", short(-32768)),
    ("int-small", int32(-100)),
    ("int-min", int32(-(2**31))),
    ("long-small", -5),
    ("long-min", -(2**63)),
    ("long-max", 2**63 - 1),
    ("float", float32(1.5)),
    ("float-negative-zero", float32(-0.0)),
    ("float-infinity", float32(float("inf"))),
    ("double", 3.141592653589793),
    ("double-tiny", -1e-300),
    ("decimal32", decimal32(0x2238_0001)),
    ("decimal64", decimal64(0x31C0_0000_0000_0101)),
    ("decimal128", decimal128(bytes(range(16)))),
    ("char", char("x")),
    ("char-astral", char("\U0001f600")),
    ("timestamp", timestamp(1_700_000_000_123)),
    ("timestamp-before-1970", timestamp(-1)),
    ("uuid", UUID_VALUE),
    ("binary-empty", b""),
    ("binary", b"\x00\x01\xfe\xff"),
    ("binary-long", bytes(range(256)) * 2),
    ("string-empty", ""),
    ("string", "h\u00e9llo \u2603 \U0001f600"),
    ("string-long", "x" * 300),
    ("symbol", symbol("an.amqp:symbol")),
]

# Values allowed in a body or in annotations: the simple ones and compounds.
ALL_VALUES: list[tuple[str, Any]] = [
    *SIMPLE_VALUES,
    ("list-empty", []),
    ("list", [int32(1), "two", None, [True, symbol("s")], {"k": ubyte(1)}]),
    ("map-empty", {}),
    (
        "map-non-string-keys",
        {
            ubyte(1): "ubyte key",
            symbol("sym"): ulong(2),
            7: [],
            UUID_VALUE: b"uuid key",
            None: "null key",
            "str": int32(-1),
        },
    ),
    ("array-int", Array(UNDESCRIBED, Data.INT, int32(1), int32(-2), int32(3))),
    ("array-empty", Array(UNDESCRIBED, Data.INT)),
    ("array-string", Array(UNDESCRIBED, Data.STRING, "a", "bc", "")),
    ("array-symbol", Array(UNDESCRIBED, Data.SYMBOL, symbol("x"), symbol("yz"))),
    ("array-ulong", Array(UNDESCRIBED, Data.ULONG, ulong(0), ulong(2**64 - 1))),
    ("array-bool", Array(UNDESCRIBED, Data.BOOL, True, False)),
    ("array-double", Array(UNDESCRIBED, Data.DOUBLE, 0.5, -2.25)),
    ("array-uuid", Array(UNDESCRIBED, Data.UUID, UUID_VALUE, uuid.UUID(int=1))),
    ("array-timestamp", Array(UNDESCRIBED, Data.TIMESTAMP, timestamp(0), timestamp(5))),
    ("array-binary", Array(UNDESCRIBED, Data.BINARY, b"\x00", b"")),
    ("array-list", Array(UNDESCRIBED, Data.LIST, [int32(1)], [])),
    (
        "array-described",
        Array(symbol("com.example:point"), Data.LONG, 1, -1),
    ),
    ("described-symbol", Described(symbol("com.example:thing"), {"x": int32(1)})),
    ("described-ulong", Described(ulong(0x0000_1234_0000_0001), "value")),
    ("described-in-list", [Described(symbol("d"), ubyte(9)), "after"]),
]

# Bodies: a Proton Message whose body is None has no body section at all, so
# null is tested inside compounds, properties and annotations instead.
BODY_VALUES = [(name, value) for name, value in ALL_VALUES if value is not None]


# ================================================================== outcomes


def test_a_rhea_listener_accepts_rejects_releases_and_modifies_and_the_messenger_sees_each(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen(decide="subject")
    sender = make("outcomes-sender", outgoing_window=10)
    decisions = ["accept", "reject", "release", "modify", "modify-undeliverable", "accept"]
    trackers = [
        sender.put(Message(address=f"amqp://127.0.0.1:{peer.port}/orders", subject=d, body=i))
        for i, d in enumerate(decisions)
    ]
    assert all(sender.status(t) is PENDING for t in trackers)
    sender.send()
    assert [sender.status(t) for t in trackers] == [
        ACCEPTED,
        REJECTED,
        RELEASED,
        MODIFIED,
        MODIFIED,
        ACCEPTED,
    ]
    assert sender.outgoing == 0
    # rhea decided each one as told, in order, on one link to "orders".
    decided = peer.wait_for("decided", count=len(decisions))
    assert [e["outcome"] for e in decided] == decisions
    assert {e["target"] for e in peer.events("message")} == {"orders"}
    assert not [e for e in peer.events("message") if e["settled"]], "nothing goes pre-settled"


def test_without_an_outgoing_window_messages_reach_rhea_pre_settled_and_have_no_status(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen(decide="subject")
    sender = make("presettled-sender")
    tracker = sender.put(
        Message(address=f"amqp://127.0.0.1:{peer.port}/q", subject="reject", body="x")
    )
    sender.send()
    assert only(peer.wait_for("message"))["settled"] is True
    # At-most-once: rhea's "reject" cannot reach the sender, which tracks nothing.
    assert sender.status(tracker) is None
    assert not peer.events("decided")


def test_a_rhea_client_sees_the_outcome_the_messenger_listener_gives_each_message(
    rhea: Rhea, make: Make
) -> None:
    receiver = make("outcomes-receiver", incoming_window=10)
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="inbox")
    decisions = ["accept", "reject", "release", "accept"]
    for i, decision in enumerate(decisions):
        client.command(
            "send", link="out", tag=f"m{i}", message={"subject": decision, "body": text(str(i))}
        )
    got = receive(receiver, len(decisions))
    assert [m.subject for _, m in got] == decisions
    assert [m.body for _, m in got] == ["0", "1", "2", "3"]
    assert all(receiver.status(t) is PENDING for t, _ in got), "undecided inside the window"
    for tracker, message in got:
        {"accept": receiver.accept, "reject": receiver.reject, "release": receiver.release}[
            message.subject
        ](tracker)
    pump_until(
        [receiver], lambda: client.has("outcome", count=4), what="rhea to hear four outcomes"
    )
    outcomes = {tag_of(e): e for e in client.events("outcome")}
    assert {tag: e["outcome"] for tag, e in outcomes.items()} == {
        "m0": "accepted",
        "m1": "rejected",
        "m2": "released",
        "m3": "accepted",
    }
    assert all(e["settled"] for e in outcomes.values()), "the Messenger settles as it decides"
    assert [receiver.status(t) for t, _ in got] == [ACCEPTED, REJECTED, RELEASED, ACCEPTED]


def test_with_no_incoming_window_get_accepts_what_a_rhea_client_sent(
    rhea: Rhea, make: Make
) -> None:
    receiver = make("auto-accepting-receiver")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="inbox")
    for i in range(3):
        client.command("send", link="out", message={"body": text(f"n{i}")})
    got = receive(receiver, 3)
    assert [m.body for _, m in got] == ["n0", "n1", "n2"]
    pump_until([receiver], lambda: client.has("outcome", count=3), what="three outcomes")
    assert [e["outcome"] for e in client.events("outcome")] == ["accepted"] * 3


# ============================================================ request/reply


@pytest.mark.parametrize(
    "container_id",
    ["ID:host-1234-1:1", "rhea client 7 (with spaces)"],
    ids=["qpid-jms-style", "with-spaces"],
)
def test_a_reply_travels_back_over_the_connection_the_rhea_client_opened(
    rhea: Rhea, make: Make, container_id: str
) -> None:
    responder = make("responder", outgoing_window=10)
    listener = responder.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port, container_id=container_id)
    client.command("open_receiver", name="replies-in", source="replies")
    client.command("open_sender", name="requests-out", target="requests")
    reply_to = f"amqp://{container_id}/replies"
    client.command(
        "send",
        link="requests-out",
        message={
            "message_id": "req-1",
            "reply_to": reply_to,
            "subject": "ping",
            "body": text("ping?"),
        },
    )
    [(_, request)] = receive(responder, 1)
    assert request.reply_to == reply_to
    assert request.id == "req-1"

    reply = Message(address=request.reply_to, correlation_id=request.id, body="pong!")
    tracker = responder.put(reply)
    responder.send()
    assert responder.status(tracker) is ACCEPTED, responder.failure(tracker)

    arrived = only(client.wait_for("message"))
    assert arrived["link"] == "replies-in", "delivered to the receiver rhea opened on replies"
    assert arrived["correlation_id"] == "req-1"
    assert arrived["to"] == reply_to
    assert section_of(arrived, "amqp-value")["value"] == text("pong!")
    # Over the one connection rhea opened: the Messenger opened none of its own.
    opened = only(client.events("connection_open"))
    assert arrived["conn"] == opened["conn"]
    assert opened["remote_container_id"] == "responder"
    [connection] = responder.connections
    assert connection.inbound
    assert connection.remote_container == container_id


# ============================================================ types, byte-exact


def test_every_amqp_type_in_a_messenger_body_reaches_rhea_byte_exact(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen()
    sender = make("types-sender", outgoing_window=len(BODY_VALUES))
    address = f"amqp://127.0.0.1:{peer.port}/types"
    trackers = [sender.put(Message(address=address, subject=n, body=v)) for n, v in BODY_VALUES]
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * len(BODY_VALUES)
    arrived = {e["subject"]: e for e in peer.wait_for("message", count=len(BODY_VALUES))}
    wrong = []
    for name, value in BODY_VALUES:
        body = section_of(arrived[name], "amqp-value")
        if body["value"] != spec(value) or body["hex"] != encoded(AMQP_VALUE, value):
            expected = encoded(AMQP_VALUE, value)
            wrong.append((name, spec(value), body["value"], expected, body["hex"]))
    assert not wrong, "rhea read other values or other bytes:\n" + "\n".join(map(str, wrong))


def test_every_amqp_type_in_a_rhea_body_reaches_the_messenger_byte_exact(
    rhea: Rhea, make: Make
) -> None:
    receiver = make("types-receiver")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="types")
    for name, value in BODY_VALUES:
        client.command("send", link="out", tag=name, message={"subject": name, "body": spec(value)})
    got = {m.subject: m for _, m in receive(receiver, len(BODY_VALUES))}
    sent = {tag_of(e): e for e in client.wait_for("sent", count=len(BODY_VALUES))}
    wrong = []
    for name, value in BODY_VALUES:
        rhea_bytes = section_of(sent[name], "amqp-value")["hex"]
        body = got[name].body
        if spec(body) != spec(value) or encoded(AMQP_VALUE, body) != rhea_bytes:
            wrong.append((name, spec(value), spec(body), rhea_bytes, encoded(AMQP_VALUE, body)))
    assert not wrong, "the Messenger got other values or other bytes:\n" + "\n".join(
        map(str, wrong)
    )


def annotations() -> dict[Any, Any]:
    """Message annotations: symbol keys (and ulong keys, which AMQP allows too)."""
    values: dict[Any, Any] = {symbol(f"x-opt-{name}"): value for name, value in ALL_VALUES}
    values[ulong(42)] = "a ulong key"
    return values


def properties() -> dict[str, Any]:
    return {name: value for name, value in SIMPLE_VALUES}


def test_application_properties_and_annotations_from_a_messenger_reach_rhea_byte_exact(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen()
    sender = make("properties-sender", outgoing_window=1)
    message = Message(address=f"amqp://127.0.0.1:{peer.port}/props", body="with extras")
    message.properties = properties()
    message.annotations = annotations()
    tracker = sender.put(message)
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    arrived = only(peer.wait_for("message"))
    props = section_of(arrived, "application-properties")
    assert props["value"] == spec(properties())
    assert props["hex"] == encoded(APPLICATION_PROPERTIES, properties())
    notes = section_of(arrived, "message-annotations")
    assert notes["value"] == spec(annotations())
    assert notes["hex"] == encoded(MESSAGE_ANNOTATIONS, annotations())


def test_application_properties_and_annotations_from_rhea_reach_the_messenger_byte_exact(
    rhea: Rhea, make: Make
) -> None:
    receiver = make("properties-receiver")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="props")
    client.command(
        "send",
        link="out",
        message={
            "body": text("with extras"),
            "properties": [[key, spec(value)] for key, value in properties().items()],
            "annotations": [[spec(key), spec(value)] for key, value in annotations().items()],
        },
    )
    [(_, message)] = receive(receiver, 1)
    sent = only(client.wait_for("sent"))
    assert spec_of_map(message.properties) == spec(properties())
    assert (
        encoded(APPLICATION_PROPERTIES, message.properties)
        == (section_of(sent, "application-properties")["hex"])
    )
    assert spec_of_map(message.annotations) == spec(annotations())
    assert (
        encoded(MESSAGE_ANNOTATIONS, message.annotations)
        == (section_of(sent, "message-annotations")["hex"])
    )


SEQUENCE = [int32(1), "two", Described(symbol("three"), None), [ubyte(4)]]
DATA_BYTES = bytes(range(256)) * 3


def test_data_and_amqp_sequence_bodies_cross_both_ways_byte_exact(rhea: Rhea, make: Make) -> None:
    peer = rhea.listen()
    sender = make("sections-sender", outgoing_window=2)
    address = f"amqp://127.0.0.1:{peer.port}/sections"
    data = Message(address=address, subject="data", body=DATA_BYTES, inferred=True)
    sequence = Message(address=address, subject="sequence", body=SEQUENCE, inferred=True)
    trackers = [sender.put(data), sender.put(sequence)]
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED, ACCEPTED]
    arrived = {e["subject"]: e for e in peer.wait_for("message", count=2)}
    assert section_of(arrived["data"], "data")["hex"] == encoded(DATA, DATA_BYTES)
    assert section_of(arrived["sequence"], "amqp-sequence")["hex"] == (
        encoded(AMQP_SEQUENCE, SEQUENCE)
    )
    assert section_of(arrived["sequence"], "amqp-sequence")["value"] == spec(SEQUENCE)

    receiver = make("sections-receiver")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="sections")
    client.command("send", link="out", tag="data", message={"data": DATA_BYTES.hex()})
    client.command("send", link="out", tag="seq", message={"sequence": spec(SEQUENCE)["v"]})
    [(_, data), (_, sequence)] = receive(receiver, 2)
    assert data.inferred and data.body == DATA_BYTES
    assert sequence.inferred and spec(sequence.body) == spec(SEQUENCE)
    sent = {tag_of(e): e for e in client.wait_for("sent", count=2)}
    assert section_of(sent["data"], "data")["hex"] == encoded(DATA, data.body)
    assert section_of(sent["seq"], "amqp-sequence")["hex"] == encoded(AMQP_SEQUENCE, sequence.body)


# ===================================================================== SASL


def test_sasl_plain_with_the_right_password_delivers_to_a_rhea_listener(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen(sasl_plain={"user": "ada", "password": "s3cret"})
    sender = make("sasl-sender", outgoing_window=1)
    tracker = sender.put(
        Message(address=f"amqp://ada:s3cret@127.0.0.1:{peer.port}/secure", body="let me in")
    )
    sender.send()
    assert sender.status(tracker) is ACCEPTED, sender.failure(tracker)
    attempt = only(peer.wait_for("sasl"))
    assert (attempt["mechanism"], attempt["user"], attempt["ok"]) == ("PLAIN", "ada", True)
    assert only(peer.wait_for("connection_open"))["sasl_user"] == "ada"
    assert section_of(only(peer.wait_for("message")), "amqp-value")["value"] == text("let me in")
    assert [c.sasl_mechanism for c in sender.connections] == ["PLAIN"]


def test_sasl_plain_with_a_wrong_password_aborts_the_message_and_says_why(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen(sasl_plain={"user": "ada", "password": "s3cret"})
    sender = make("sasl-sender", outgoing_window=1)
    tracker = sender.put(
        Message(address=f"amqp://ada:wrong@127.0.0.1:{peer.port}/secure", body="let me in")
    )
    sender.send()  # failures on the wire do not raise
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None
    assert failure.condition is not None
    assert failure.condition.name == "amqp:unauthorized-access"
    assert failure.permanent
    assert "wrong" not in str(failure), "the password is not repeated in the failure"
    assert only(peer.wait_for("sasl"))["ok"] is False
    assert not peer.events("message")


# ====================================================================== TLS


def test_a_messenger_delivers_to_a_rhea_tls_listener_it_trusts(
    rhea: Rhea, make: Make, certs: CertificateSet
) -> None:
    peer = rhea.listen(tls={"key": certs.server_key, "cert": certs.server_cert})
    sender = make("tls-sender", outgoing_window=1, trusted_certificates=certs.ca)
    tracker = sender.put(Message(address=f"amqps://localhost:{peer.port}/secure", body="sealed"))
    sender.send()
    assert sender.status(tracker) is ACCEPTED, sender.failure(tracker)
    [connection] = sender.connections
    assert connection.tls_protocol is not None and connection.tls_protocol.startswith("TLS")
    opened = only(peer.wait_for("connection_open"))
    assert opened["tls"] is True
    assert section_of(only(peer.wait_for("message")), "amqp-value")["value"] == text("sealed")


def test_a_messenger_refuses_a_rhea_tls_listener_signed_by_a_ca_it_does_not_trust(
    rhea: Rhea, make: Make, certs: CertificateSet
) -> None:
    peer = rhea.listen(tls={"key": certs.rogue_key, "cert": certs.rogue_cert})
    sender = make("tls-sender", outgoing_window=1, trusted_certificates=certs.ca)
    tracker = sender.put(Message(address=f"amqps://localhost:{peer.port}/secure", body="sealed"))
    sender.send()
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None and "certificate verify failed" in failure.reason
    assert failure.permanent
    assert not peer.events("connection_open")
    assert not peer.events("message")


def test_a_rhea_tls_client_delivers_to_a_messenger_amqps_listener(
    rhea: Rhea, make: Make, certs: CertificateSet
) -> None:
    receiver = make(
        "tls-receiver",
        incoming_window=1,
        certificate=certs.server_cert,
        private_key=certs.server_key,
    )
    listener = receiver.subscribe("amqps://~127.0.0.1:0")
    # rhea (node) verifies the Messenger's certificate against the CA and the
    # name "localhost"; the socket goes to 127.0.0.1, where the Messenger listens.
    client = rhea.connect(listener.port, tls={"ca": certs.ca, "servername": "localhost"})
    client.command("open_sender", name="out", target="secure")
    client.command("send", link="out", message={"body": text("sealed")})
    [(tracker, message)] = receive(receiver, 1)
    assert message.body == "sealed"
    receiver.accept(tracker)
    pump_until([receiver], lambda: client.has("outcome"), what="rhea to hear the outcome")
    assert only(client.events("outcome"))["outcome"] == "accepted"
    assert only(client.events("connection_open"))["tls"] is True
    [connection] = receiver.connections
    assert connection.inbound and connection.tls_protocol is not None


def test_a_rhea_client_that_does_not_trust_the_messenger_listener_never_gets_in(
    rhea: Rhea, make: Make, certs: CertificateSet
) -> None:
    receiver = make("tls-receiver", certificate=certs.server_cert, private_key=certs.server_key)
    listener = receiver.subscribe("amqps://~127.0.0.1:0")
    client = rhea.connect(listener.port, tls={"ca": certs.rogue_ca, "servername": "localhost"})
    client.command("open_sender", name="out", target="secure")
    client.command("send", link="out", message={"body": text("sealed")})
    pump_until([receiver], lambda: client.has("disconnected"), what="rhea to give up")
    assert "certificate" in (only(client.events("disconnected"))["error"] or "")
    assert not client.events("connection_open")
    assert receiver.incoming == 0
    assert listener.state is SubscriptionState.LISTENING, (
        "a refused handshake does not harm the listener"
    )


# ============================================================ 16 MiB bodies


def test_a_16_mib_body_from_a_messenger_arrives_intact_at_rhea(rhea: Rhea, make: Make) -> None:
    peer = rhea.listen()
    sender = make("big-sender", outgoing_window=1)
    body = os.urandom(BIG)
    tracker = sender.put(Message(address=f"amqp://127.0.0.1:{peer.port}/big", body=body))
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    arrived = section_of(only(peer.wait_for("message")), "amqp-value")
    assert arrived["content_size"] == BIG
    assert arrived["content_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_16_mib_body_from_rhea_arrives_intact_at_a_messenger(rhea: Rhea, make: Make) -> None:
    receiver = make("big-receiver")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="big")
    client.command("send", link="out", message={"big": BIG})
    [(_, message)] = receive(receiver, 1)
    sent = section_of(only(client.wait_for("sent")), "amqp-value")
    assert isinstance(message.body, bytes)
    assert len(message.body) == sent["content_size"] == BIG
    assert hashlib.sha256(message.body).hexdigest() == sent["content_sha256"]
    pump_until([receiver], lambda: client.has("outcome"), what="rhea to hear the outcome")
    assert only(client.events("outcome"))["outcome"] == "accepted"


# =================================================================== credit


def test_a_rhea_listener_granting_three_credits_gets_three_messages_and_the_rest_wait(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen(credit=3)
    sender = make("credit-sender", outgoing_window=10, blocking=False)
    address = f"amqp://127.0.0.1:{peer.port}/slow"
    trackers = [sender.put(Message(address=address, body=i)) for i in range(5)]
    pump_until(
        [sender],
        lambda: all(sender.status(t) is ACCEPTED for t in trackers[:3]),
        what="the first three to be accepted",
    )
    # rhea granted 3: it received exactly 3, none beyond its credit.
    arrived = peer.wait_for("message", count=3)
    assert [e["count"] for e in arrived] == [1, 2, 3]
    assert not [e for e in arrived if e["over_credit"]]
    assert [sender.buffered(t) for t in trackers] == [False, False, False, True, True]
    assert [sender.status(t) for t in trackers[3:]] == [PENDING, PENDING]
    assert sender.outgoing == 2

    peer.command("flow", link="slow", credit=2)
    pump_until(
        [sender],
        lambda: all(sender.status(t) is ACCEPTED for t in trackers),
        what="the last two once rhea granted more credit",
    )
    assert sender.outgoing == 0
    assert not any(sender.buffered(t) for t in trackers)
    arrived = peer.wait_for("message", count=5)
    assert [section_of(e, "amqp-value")["value"] for e in arrived] == [
        {"t": "long", "v": str(i)} for i in range(5)
    ]
    assert not [e for e in arrived if e["over_credit"]]


def recv_grants_exactly_what_was_asked(receiver: Messenger, peer: RheaPeer) -> None:
    """recv(3), then recv(2): ``peer`` (sending ten messages) sees 3, then 2 credits."""
    receiver.recv(3)
    pump_until([receiver], lambda: peer.has("blocked", sent=3), what="rhea to run out of credit")
    assert [e["credit"] for e in peer.events("flow")] == [3]
    assert len(peer.events("sent")) == 3
    pump_until([receiver], lambda: receiver.incoming == 3, what="three messages")
    bodies = []
    while receiver.incoming:
        message = Message()
        receiver.get(message)
        bodies.append(message.body)
    assert bodies == ["m0", "m1", "m2"]

    receiver.recv(2)
    pump_until([receiver], lambda: peer.has("blocked", sent=5), what="rhea to send two more")
    assert [e["credit"] for e in peer.events("flow")] == [3, 2]
    assert [e["credit_left"] for e in peer.events("sent")] == [2, 1, 0, 1, 0]
    assert peer.events("sent")[-1]["waiting"] == 5
    pump_until([receiver], lambda: receiver.incoming == 2, what="two more messages")


FEED = [{"body": text(f"m{i}")} for i in range(10)]


def test_recv_n_grants_exactly_n_credit_to_a_rhea_listener_it_subscribed_to(
    rhea: Rhea, make: Make
) -> None:
    peer = rhea.listen()
    peer.command("offer", source="feed", messages=FEED)
    receiver = make("credit-receiver")
    receiver.subscribe(f"amqp://127.0.0.1:{peer.port}/feed")
    recv_grants_exactly_what_was_asked(receiver, peer)


def test_recv_n_grants_exactly_n_credit_to_a_rhea_client_sending_to_a_messenger_listener(
    rhea: Rhea, make: Make
) -> None:
    receiver = make("credit-listener")
    listener = receiver.subscribe("amqp://~127.0.0.1:0")
    client = rhea.connect(listener.port)
    client.command("open_sender", name="out", target="feed")
    client.command("send", link="out", messages=FEED)
    recv_grants_exactly_what_was_asked(receiver, client)
