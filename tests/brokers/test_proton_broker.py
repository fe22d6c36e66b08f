"""The Messenger against a second real broker: the Proton C example broker.

``tests/brokers/proton_broker.sh`` installs Debian's libqpid-proton11-dev and
libqpid-proton11-dev-examples when missing and builds
``/usr/share/proton/examples/c/broker.c`` into a cache directory. Each test runs
its own broker (``broker 127.0.0.1 0``, it starts in milliseconds) in a fresh
working directory and stops it at teardown, so tests share no state.

Facts about this broker (0.37, Debian 12) that the tests rely on, beyond
BROKERS.md (each was observed here; the ones marked *test* are asserted):

* Given port 0 it binds a free port itself and its ``listening on PORT`` line
  names the port it got, so no port has to be guessed; a port that is taken
  makes it print ``PN_LISTENER_CLOSE: proton:io: Address already in use`` and
  exit 0. Its stdout is block-buffered apart from that line (run it under
  ``stdbuf -oL`` to see its diagnostics), and it has no SIGTERM handler:
  terminating it drops every connection without an AMQP close.
* Queues are in memory only: what it accepted is gone when it stops. It takes
  5 messages of credit per sender link at a time, and accepts and settles each
  message as soon as it has it (*test*).
* It pre-settles every message it sends (*test*): a consumer's accept, reject
  or release changes nothing, and a message is gone from its queue once sent.
* It honours credit (*test*) but ignores the AMQP *drain* flag: it never
  answers a drain. A Messenger (this one and the original 0.17 alike) that
  gave the only credit of ``recv(1)`` to an empty queue's link and drains it to
  move the credit to a busy one waits until its timeout.
* TLS and plain AMQP share its one port (*test*): it detects TLS per
  connection. Without ``ssl-certs/`` in its working directory it prints
  ``Failed to set up server certificate`` and still offers TLS, with
  anonymous ciphers only (*test*): TLS 1.2, encrypted but with no certificate,
  which a client that verifies refuses (the broker logs ``no shared cipher``,
  the client sees only ``unexpected eof while reading``).
* Its container-id is its ``argv[0]`` (the binary's path).
* A sender link without a target address (``amqp://127.0.0.1:PORT``, no queue
  name) crashes it (SIGSEGV in ``queues_get(NULL)``): every test names a queue.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from proton import SSL

from msgr_tui.messenger import (
    ABORTED,
    ACCEPTED,
    PENDING,
    REJECTED,
    RELEASED,
    SETTLED,
    Message,
    Messenger,
)
from msgr_tui.messenger.subscription import SubscriptionState
from tests.certs import CertificateSet
from tests.command_line import CommandProcess, msgr_tui
from tests.helpers import ThreadedPeer, pump_until, started, stop_all, stopping_messengers

SCRIPT = Path(__file__).resolve().with_name("proton_broker.sh")
HOST = "127.0.0.1"
# Every blocking Messenger call gets this timeout: a lost message is an error, not a hang.
TIMEOUT = 20.0
# How long the broker may take to say "listening on", and to exit when told to.
START_DEADLINE = 15.0
STOP_DEADLINE = 5.0
LISTENING = re.compile(r"^listening on (\d+)$")
# What broker.c loads from its working directory, and the key password it uses.
CERT_FILE = Path("ssl-certs/tserver-certificate.pem")
KEY_FILE = Path("ssl-certs/tserver-private-key.pem")
KEY_PASSWORD = b"tserverpw"

MakeMessenger = Callable[..., Messenger]


# ------------------------------------------------------------------ the broker


class Broker:
    """One run of ``broker 127.0.0.1 PORT`` in ``directory``: started, ready, stoppable."""

    def __init__(self, binary: Path, directory: Path, port: int = 0) -> None:
        self.directory = directory
        self.output: list[str] = []
        command = [str(binary), HOST, str(port)]
        stdbuf = shutil.which("stdbuf")
        if stdbuf:
            # Line-buffered stdout: its diagnostics reach us before it is stopped.
            command = [stdbuf, "-oL", *command]
        self.process = subprocess.Popen(
            command,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True, name="proton-broker")
        self._reader.start()
        try:
            self.port = self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _wait_until_listening(self) -> int:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(
                    f"the broker did not say 'listening on' within {START_DEADLINE} s; "
                    f"it printed: {self.output}",
                    pytrace=False,
                )
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the broker is gone
                code = self.process.wait(STOP_DEADLINE)
                pytest.fail(
                    f"the broker exited ({code}) before listening; it printed: {self.output}",
                    pytrace=False,
                )
            found = LISTENING.match(line)
            if found:
                return int(found[1])

    def address(self, name: str, scheme: str = "amqp", host: str = HOST) -> str:
        return f"{scheme}://{host}:{self.port}/{name}"

    @property
    def where(self) -> str:
        """The connection's label in failures: scheme, host and port."""
        return f"amqp://{HOST}:{self.port}"

    def stop(self) -> int:
        """Terminate the broker (kill it if it does not go) and return its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_DEADLINE)
        self._reader.join(STOP_DEADLINE)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return self.process.returncode


class Brokers:
    """Starts brokers for one test, each in a working directory of its own."""

    def __init__(self, binary: Path, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.started: list[Broker] = []

    def start(self, *, port: int = 0, directory: Path | None = None) -> Broker:
        if directory is None:
            directory = self.root / f"broker-{len(self.started)}"
            directory.mkdir()
        broker = Broker(self.binary, directory, port)
        self.started.append(broker)
        return broker

    def stop_all(self) -> None:
        for broker in self.started:
            broker.stop()


@pytest.fixture(scope="session")
def broker_binary() -> Path:
    """The broker built by tests/brokers/proton_broker.sh (installing packages if needed)."""
    try:
        built = subprocess.run(
            [str(SCRIPT), "build"], capture_output=True, text=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{SCRIPT} build did not finish within 600 s", pytrace=False)
    if built.returncode != 0:
        pytest.fail(
            f"could not build the Proton C example broker with {SCRIPT} build "
            f"(exit {built.returncode}):\n{built.stderr[-4000:]}",
            pytrace=False,
        )
    binary = Path(built.stdout.strip().splitlines()[-1])
    assert binary.is_file(), f"{SCRIPT} printed {binary}, which is not a file"
    return binary


@pytest.fixture
def brokers(broker_binary: Path, tmp_path: Path) -> Iterator[Brokers]:
    started_here = Brokers(broker_binary, tmp_path)
    yield started_here
    started_here.stop_all()


@pytest.fixture
def broker(brokers: Brokers) -> Broker:
    """A broker without TLS files: plain AMQP on 127.0.0.1, on a port it chose."""
    return brokers.start()


@pytest.fixture
def tls_broker(brokers: Brokers, certs: CertificateSet, tmp_path: Path) -> Broker:
    """A broker with a certificate from the suite's CA, its key encrypted with ``tserverpw``."""
    directory = tmp_path / "tls-broker"
    (directory / CERT_FILE).parent.mkdir(parents=True)
    (directory / CERT_FILE).write_bytes(Path(certs.server_cert).read_bytes())
    key = serialization.load_pem_private_key(Path(certs.server_key).read_bytes(), password=None)
    (directory / KEY_FILE).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD),
        )
    )
    broker = brokers.start(directory=directory)
    # The broker says so (and goes on without TLS) when it cannot load them.
    assert not any("Failed to set up server certificate" in line for line in broker.output), (
        broker.output
    )
    return broker


# ------------------------------------------------------------------- helpers


@pytest.fixture
def make(brokers: Brokers) -> Iterator[MakeMessenger]:
    """Start Messengers (timeout TIMEOUT unless given); stop them before the broker goes."""
    with stopping_messengers(TIMEOUT) as factory:
        yield factory


def receive(messenger: Messenger, count: int) -> list[tuple[Message, int]]:
    """Blocking receive of exactly ``count`` messages (each recv bounded by the timeout)."""
    got: list[tuple[Message, int]] = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages arrived"
        messenger.recv(count - len(got))
        while messenger.incoming and len(got) < count:
            message = Message()
            tracker = messenger.get(message)
            got.append((message, tracker))
    return got


def remaining(broker: Broker, name: str) -> list[Any]:
    """Drain queue ``name`` and return the bodies that were in it, in order.

    A sentinel is put behind them and the queue is read up to it, so "empty" is
    known without waiting for a silence. Nobody else may be consuming the queue.
    """
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    messenger = started(timeout=TIMEOUT, outgoing_window=1)
    try:
        tracker = messenger.put(Message(address=broker.address(name), body=sentinel))
        messenger.send()
        assert messenger.status(tracker) is ACCEPTED
        messenger.subscribe(broker.address(name))
        bodies: list[Any] = []
        message = Message()
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline, f"queue {name} did not drain: {bodies[-5:]}"
            messenger.recv()
            while messenger.incoming:
                messenger.get(message)
                if message.body == sentinel:
                    return bodies
                bodies.append(message.body)
    finally:
        messenger.stop()


def put_all(messenger: Messenger, address: str, bodies: list[Any]) -> list[int]:
    return [messenger.put(Message(address=address, body=body)) for body in bodies]


# ------------------------------------------------------------ send, receive


def test_messages_of_every_kind_arrive_intact_and_in_order(
    broker: Broker, make: MakeMessenger
) -> None:
    queue_address = broker.address("orders")
    sent = [
        Message(body="plain text, ünïcode ✓"),
        Message(body=b"\x00\x01 binary \xff\xfe"),
        Message(body={"order": 42, "items": [1, 2, 3], "rush": True, "price": 9.5, "note": None}),
        Message(body=["a", 1, None]),
        Message(
            body="with properties",
            subject="new order",
            id="order-42",
            correlation_id="corr-7",
            content_type="text/plain",
            reply_to=broker.address("replies"),
            properties={"customer": "ada", "priority": 3, "rush": True, "ratio": 0.5},
        ),
    ]
    sender = make("proton-sender", outgoing_window=len(sent))
    trackers = []
    for message in sent:
        message.address = queue_address
        trackers.append(sender.put(message))
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * len(sent)

    receiver = make("proton-receiver")
    subscription = receiver.subscribe(queue_address)
    received = [message for message, _ in receive(receiver, len(sent))]
    assert subscription.state is SubscriptionState.ATTACHED
    assert [m.body for m in received] == [m.body for m in sent]
    assert isinstance(received[1].body, bytes)
    assert all(m.address == queue_address for m in received)
    last = received[-1]
    assert last.subject == "new order"
    assert last.id == "order-42"
    assert last.correlation_id == "corr-7"
    assert last.content_type == "text/plain"
    assert last.reply_to == broker.address("replies")
    assert last.properties == {"customer": "ada", "priority": 3, "rush": True, "ratio": 0.5}
    assert receiver.incoming == 0
    receiver.stop()
    assert remaining(broker, "orders") == []


def test_a_message_larger_than_a_frame_crosses_the_broker_intact(
    broker: Broker, make: MakeMessenger
) -> None:
    # The broker gathers the frames of a delivery before queueing it, and sends
    # it on in frames of its own.
    body = os.urandom(5 * 1024 * 1024)
    sender = make(outgoing_window=1)
    [tracker] = put_all(sender, broker.address("large"), [body])
    sender.send()
    assert sender.status(tracker) is ACCEPTED
    receiver = make()
    receiver.subscribe(broker.address("large"))
    [(message, _)] = receive(receiver, 1)
    assert message.body == body
    receiver.stop()
    assert remaining(broker, "large") == []


def test_the_broker_presettles_what_it_delivers_and_ignores_the_consumers_outcome(
    broker: Broker, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=4)
    put_all(sender, broker.address("jobs"), ["keep", "bad", "later", "next"])
    sender.send()

    consumer = make(incoming_window=10)
    consumer.subscribe(broker.address("jobs"))
    received = receive(consumer, 3)
    assert [m.body for m, _ in received] == ["keep", "bad", "later"]
    trackers = [t for _, t in received]
    # Settled by the broker before we decide anything.
    assert [consumer.status(t) for t in trackers] == [SETTLED] * 3
    keep, bad, later = trackers
    consumer.accept(keep)
    consumer.reject(bad)
    consumer.release(later)
    consumer.accept()  # everything still in the window: nothing left to do, no error
    # Our decisions are recorded (the original 0.17 Messenger reports the same).
    assert [consumer.status(t) for t in trackers] == [ACCEPTED, REJECTED, RELEASED]

    # The consumer goes on receiving, and the next delivery is settled too.
    [(message, tracker)] = receive(consumer, 1)
    assert message.body == "next"
    assert consumer.status(tracker) is SETTLED
    consumer.stop()
    # The released and rejected messages are not back: the broker forgot each
    # message when it sent it.
    assert remaining(broker, "jobs") == []


def test_the_broker_accepts_what_it_queues(broker: Broker, make: MakeMessenger) -> None:
    sender = make(outgoing_window=3)
    first = sender.put(Message(address=broker.address("ledger"), body=0))
    assert sender.status(first) is PENDING
    trackers = [first, *put_all(sender, broker.address("ledger"), [1, 2, 3, 4])]
    sender.send()
    # The last three (the window) report the broker's outcome; the rest are forgotten.
    assert [sender.status(t) for t in trackers] == [None, None, ACCEPTED, ACCEPTED, ACCEPTED]
    assert sender.outgoing == 0
    assert all(sender.failure(t) is None for t in trackers)

    # With the default window (0) messages go pre-settled and report nothing,
    # yet the broker queues them just the same.
    quiet = make()
    [tracker] = put_all(quiet, broker.address("ledger"), ["presettled"])
    quiet.send()
    assert quiet.status(tracker) is None
    assert quiet.outgoing == 0
    assert remaining(broker, "ledger") == [0, 1, 2, 3, 4, "presettled"]


def test_request_and_reply_through_the_broker(broker: Broker, make: MakeMessenger) -> None:
    replies = broker.address("replies-for-requester")

    def answer(messenger: Messenger, request: Message, tracker: int) -> None:
        messenger.put(
            Message(
                address=request.reply_to,
                body=str(request.body).upper(),
                correlation_id=request.correlation_id,
            )
        )

    with ThreadedPeer("responder", listen=broker.address("requests"), handler=answer) as responder:
        requester = make("requester", outgoing_window=3)
        requester.subscribe(replies)
        trackers = [
            requester.put(
                Message(
                    address=broker.address("requests"),
                    body=f"request {i}",
                    reply_to=replies,
                    correlation_id=f"req-{i}",
                )
            )
            for i in range(3)
        ]
        requester.send()
        assert [requester.status(t) for t in trackers] == [ACCEPTED] * 3
        answers = [message for message, _ in receive(requester, 3)]
    assert responder.errors == []
    assert [r.reply_to for r in responder.received] == [replies] * 3
    assert {m.correlation_id: m.body for m in answers} == {
        f"req-{i}": f"REQUEST {i}" for i in range(3)
    }
    assert all(m.address == replies for m in answers)


# ------------------------------------------------------------------- credit


def test_recv_n_takes_n_and_the_broker_keeps_the_rest_until_asked(
    broker: Broker, make: MakeMessenger
) -> None:
    sender = make(outgoing_window=10)
    trackers = put_all(sender, broker.address("backlog"), list(range(10)))
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * 10

    receiver = make(blocking=False)
    receiver.subscribe(broker.address("backlog"))
    bodies: list[int] = []
    message = Message()

    def take(count: int) -> Callable[[], bool]:
        def taken() -> bool:
            while receiver.incoming:
                receiver.get(message)
                bodies.append(message.body)
            return len(bodies) >= count and receiver.receiving == 0

        return taken

    receiver.recv(3)
    pump_until([receiver], take(3), what="three messages")
    assert bodies == [0, 1, 2]
    receiver.recv(3)  # asking for more
    pump_until([receiver], take(6), what="three more")
    assert bodies == [0, 1, 2, 3, 4, 5]
    assert receiver.incoming == 0
    stop_all(receiver)
    # Whatever the broker sent beyond the credit (pre-settled) would have been
    # lost with the receiver: everything else is still there, in order.
    assert remaining(broker, "backlog") == [6, 7, 8, 9]


def test_ten_thousand_messages_are_sent_and_received_exactly_once_in_order(
    broker: Broker, make: MakeMessenger
) -> None:
    count = 10_000
    sentinel = "end of stream"
    sender = make(outgoing_window=count, timeout=90)
    trackers = [
        sender.put(Message(address=broker.address("bulk"), body=i, properties={"seq": i}))
        for i in range(count)
    ]
    sender.send()
    assert sender.outgoing == 0
    assert all(sender.status(t) is ACCEPTED for t in trackers)
    # Put behind the stream on the same link, so the broker queues it last.
    sender.put(Message(address=broker.address("bulk"), body=sentinel))
    sender.send()

    receiver = make(timeout=90)
    receiver.subscribe(broker.address("bulk"))
    bodies: list[Any] = []
    sequence: list[int] = []
    message = Message()
    while sentinel not in bodies[-1:]:
        receiver.recv()
        while receiver.incoming:
            receiver.get(message)
            bodies.append(message.body)
            if message.body != sentinel:
                sequence.append(message.properties["seq"])
    # Every message once, in order, and nothing between the last one and the sentinel.
    assert bodies == [*range(count), sentinel]
    assert sequence == list(range(count))


# ----------------------------------------------------- the broker goes away


def test_a_broker_that_dies_mid_stream_aborts_what_it_did_not_answer(
    brokers: Brokers, broker: Broker, make: MakeMessenger
) -> None:
    count = 1000
    sender = make("producer", outgoing_window=count, blocking=False)
    trackers = put_all(sender, broker.address("stream"), list(range(count)))
    # The broker takes 5 messages per round of credit: the stream is far from done.
    pump_until(
        [sender],
        lambda: sum(sender.status(t) is ACCEPTED for t in trackers) >= 100,
        what="part of the stream accepted",
    )
    assert broker.stop() == -signal.SIGTERM

    sender.blocking = True
    sender.send()  # returns: a failure on the wire does not raise
    statuses = [sender.status(t) for t in trackers]
    answered = statuses.count(ACCEPTED)
    assert answered >= 100
    # The broker answered in order: ACCEPTED up to where it died, ABORTED after.
    assert statuses == [ACCEPTED] * answered + [ABORTED] * (count - answered)
    assert count - answered > 0
    assert sender.outgoing == 0
    failure = sender.failure(trackers[-1])
    assert failure is not None
    assert failure.where == broker.where
    assert str(failure).startswith(broker.where)
    assert failure.reason
    assert failure.permanent is False  # a broker going away may come back
    assert sender.failure(trackers[0]) is None
    assert sender.retries == ()  # retry mode is off by default

    # The Messenger goes on with every other address.
    other = brokers.start()
    tracker = sender.put(Message(address=other.address("stream"), body="elsewhere"))
    sender.send()
    assert sender.status(tracker) is ACCEPTED


def test_with_retry_a_stream_survives_a_broker_restart_on_the_same_port(
    brokers: Brokers, broker: Broker, make: MakeMessenger
) -> None:
    count = 2000
    address = broker.address("resilient")
    sender = make("producer", retry=True, outgoing_window=count, blocking=False)
    consumer = make("consumer", retry=True, blocking=False)
    subscription = consumer.subscribe(address)
    consumer.recv(-1)
    received: list[int] = []
    message = Message()

    def accepted() -> int:
        while consumer.incoming:  # the consumer keeps reading all along
            consumer.get(message)
            received.append(message.body)
        return sum(sender.status(t) is ACCEPTED for t in trackers)

    def waiting() -> bool:
        accepted()
        retries = sender.retries
        return (
            bool(retries)
            and retries[0].messages > 0
            and subscription.state is SubscriptionState.RETRYING
        )

    trackers = put_all(sender, address, list(range(count)))
    pump_until([sender, consumer], lambda: accepted() >= 300, what="part of the stream accepted")
    broker.stop()
    pump_until([sender, consumer], waiting, what="both Messengers to wait for the broker")
    assert not any(sender.status(t) is ABORTED for t in trackers)
    # What the first broker answered is done with (if the consumer had not
    # read it yet, it went down with the broker's memory); what it did not
    # answer waits here, PENDING, for the next broker.
    answered_before = {i for i, t in enumerate(trackers) if sender.status(t) is ACCEPTED}
    unanswered = set(range(count)) - answered_before
    assert unanswered
    assert all(sender.status(trackers[i]) is PENDING for i in unanswered)

    again = brokers.start(port=broker.port)
    assert again.port == broker.port
    pump_until(
        [sender, consumer],
        lambda: accepted() == count and unanswered <= set(received),
        timeout=60,
        what="every message accepted and every unanswered one received",
    )
    assert subscription.state is SubscriptionState.ATTACHED
    assert sender.retries == ()
    # At least once: none of the unanswered messages is lost (a message may
    # arrive twice), nothing else arrives, and what the first broker had
    # answered was not sent again.
    assert set(received) <= set(range(count))
    times = Counter(received)
    assert all(times[i] <= 1 for i in answered_before)
    stop_all(sender, consumer)


def bodies_at(make: MakeMessenger, address: str, count: int) -> list[Any]:
    """The bodies of the first ``count`` messages a new consumer of ``address`` gets."""
    consumer = make("consumer")
    consumer.subscribe(address)
    got: list[Any] = []
    message = Message()
    while len(got) < count:
        consumer.recv(count - len(got))
        while consumer.incoming:
            consumer.get(message)
            got.append(message.body)
    return got


def test_recv_with_retry_waits_out_a_broker_restart_and_goes_on(
    brokers: Brokers, broker: Broker, make: MakeMessenger
) -> None:
    feed = broker.address("feed")
    recv = CommandProcess("recv", feed, "--retry", "--count", "2")
    try:
        before = make("before", outgoing_window=1)
        tracker = before.put(Message(address=feed, body="before the restart"))
        before.send()
        assert before.status(tracker) is ACCEPTED
        recv.wait_for_line("stdout", "before the restart")

        broker.stop()
        retrying = recv.wait_for_line("stderr", "retrying in")
        assert broker.where in retrying
        again = brokers.start(port=broker.port)
        # The broker forgot its queues: recv's link must be made again for this to reach it.
        sent = msgr_tui("send", again.address("feed"), "--body", "after the restart")
        assert sent.returncode == 0, sent.stderr
        code, stdout, stderr = recv.finish()
    finally:
        recv.kill()
    assert code == 0, stderr
    assert [line.split()[-1] for line in stdout.splitlines()] == ["restart"] * 2
    assert "after the restart" in stdout and "Traceback" not in stderr


def test_send_with_retry_waits_for_a_broker_that_is_not_up_yet(
    brokers: Brokers, broker: Broker, make: MakeMessenger
) -> None:
    port = broker.port
    broker.stop()  # nobody listens on the port now
    queue_address = f"amqp://{HOST}:{port}/late"
    send = CommandProcess("send", queue_address, "--body", "m", "--count", "3", "--retry")
    try:
        send.wait_for_line("stderr", "Connection refused: retrying in")
        later = brokers.start(port=port)
        code, stdout, stderr = send.finish()
    finally:
        send.kill()
    assert code == 0, stderr
    assert "3 of 3 messages" in stdout
    assert bodies_at(make, later.address("late"), 3) == ["m", "m", "m"]


def test_move_with_retry_waits_for_its_destination_to_come_up(
    brokers: Brokers, broker: Broker, make: MakeMessenger
) -> None:
    source = broker.address("parked")
    sender = make("sender", outgoing_window=3)
    put_all(sender, source, ["a", "b", "c"])
    sender.send()
    down = brokers.start()
    port = down.port
    down.stop()  # the destination is not up yet
    dest = f"amqp://{HOST}:{port}/moved"
    move = CommandProcess("move", source, dest, "--count", "3", "--retry")
    try:
        move.wait_for_line("stderr", "Connection refused: retrying in")
        up = brokers.start(port=port)
        code, stdout, stderr = move.finish()
    finally:
        move.kill()
    assert code == 0, stderr
    assert "3 of 3 messages moved" in stdout
    assert bodies_at(make, up.address("moved"), 3) == ["a", "b", "c"]


def test_without_retry_send_fails_at_once_on_the_same_refusal(broker: Broker) -> None:
    port = broker.port
    broker.stop()
    result = msgr_tui("send", f"amqp://{HOST}:{port}/late", "--body", "m")
    assert result.returncode == 3
    assert "Connection refused" in result.stderr and "retrying" not in result.stderr


# ---------------------------------------------------------------------- TLS


def test_tls_with_the_suites_ca_and_plain_amqp_share_the_brokers_port(
    tls_broker: Broker, make: MakeMessenger, certs: CertificateSet
) -> None:
    assert SSL.present(), "python-qpid-proton was built without TLS support"
    secure = tls_broker.address("secure", scheme="amqps", host="localhost")
    sender = make(outgoing_window=3, trusted_certificates=certs.ca, verify_hostname=True)
    trackers = put_all(sender, secure, ["over TLS 1", "over TLS 2"])
    sender.send()
    assert [sender.status(t) for t in trackers] == [ACCEPTED] * 2
    [connection] = sender.connections
    assert connection.tls_protocol is not None and connection.tls_protocol.startswith("TLS")
    assert connection.tls_peer_subject == "CN=localhost"

    plain = make(outgoing_window=1)
    [tracker] = put_all(plain, tls_broker.address("secure"), ["in the clear"])
    plain.send()
    assert plain.status(tracker) is ACCEPTED
    assert [c.tls_protocol for c in plain.connections] == [None]

    receiver = make(trusted_certificates=certs.ca, verify_hostname=True)
    receiver.subscribe(secure)
    received = [m for m, _ in receive(receiver, 3)]
    assert [m.body for m in received] == ["over TLS 1", "over TLS 2", "in the clear"]
    assert [m.address for m in received] == [secure, secure, tls_broker.address("secure")]
    assert [c.tls_protocol is not None for c in receiver.connections] == [True]


def test_tls_to_the_broker_with_an_untrusted_ca_is_aborted_with_the_reason(
    tls_broker: Broker, make: MakeMessenger, certs: CertificateSet
) -> None:
    secure = tls_broker.address("secure", scheme="amqps", host="localhost")
    sender = make(outgoing_window=1, trusted_certificates=certs.rogue_ca, verify_hostname=True)
    [tracker] = put_all(sender, secure, ["must not leave"])
    sender.send()  # returns: the failure is reported, not raised
    assert sender.status(tracker) is ABORTED
    failure = sender.failure(tracker)
    assert failure is not None
    assert failure.where == f"amqps://localhost:{tls_broker.port}"
    assert "certificate verify failed" in failure.reason
    assert failure.permanent is True
    assert sender.outgoing == 0
    assert remaining(tls_broker, "secure") == []


def test_a_broker_without_certificates_offers_only_anonymous_tls(
    broker: Broker, make: MakeMessenger, certs: CertificateSet
) -> None:
    assert any("Failed to set up server certificate" in line for line in broker.output)
    # A client that does not verify gets an encrypted but unauthenticated link...
    trusting = make(outgoing_window=1)
    [tracker] = put_all(trusting, broker.address("open", scheme="amqps"), ["anonymous TLS"])
    trusting.send()
    assert trusting.status(tracker) is ACCEPTED
    [connection] = trusting.connections
    assert connection.tls_protocol == "TLSv1.2"  # anonymous ciphers do not exist in TLS 1.3
    assert connection.tls_peer_subject is None  # no certificate at all
    # ...which a client that verifies refuses, without raising.
    verifying = make(outgoing_window=1, trusted_certificates=certs.ca, verify_hostname=True)
    [refused] = put_all(
        verifying, broker.address("open", scheme="amqps", host="localhost"), ["verified"]
    )
    verifying.send()
    assert verifying.status(refused) is ABORTED
    failure = verifying.failure(refused)
    assert failure is not None and failure.where == f"amqps://localhost:{broker.port}"
    assert remaining(broker, "open") == ["anonymous TLS"]
