"""Shared test helpers: wait on conditions with deadlines, run peers in threads."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from msgr_tui.messenger import Interrupt, Message, Messenger, Timeout
from msgr_tui.messenger.events import FailureReported, MessengerEvent
from msgr_tui.messenger.failures import Failure

DEADLINE = 15.0

# A factory of started Messengers (see the ``messengers`` fixture).
Make = Callable[..., Messenger]


def pump_until(
    messengers: Iterable[Messenger],
    condition: Callable[[], bool],
    timeout: float = DEADLINE,
    what: str = "condition",
    describe: Callable[[], str] | None = None,
) -> None:
    """Drive every messenger with ``work`` until ``condition()`` holds or the deadline passes.

    ``describe`` says what was seen instead, for the failure message.
    """
    messengers = list(messengers)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            seen = f" ({describe()})" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{seen}")
        busy = False
        for messenger in messengers:
            busy = messenger.work(0) or busy
        if not busy:
            # Nothing moved: block briefly on the first messenger's sockets.
            messengers[0].work(0.005)


def wait_for(
    condition: Callable[[], bool], timeout: float = DEADLINE, what: str = "condition"
) -> None:
    """Poll a condition that another thread makes true (no Messenger to pump here)."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        event.wait(0.005)


def started(name: str | None = None, **properties: Any) -> Messenger:
    messenger = Messenger(name)
    for key, value in properties.items():
        setattr(messenger, key, value)
    messenger.start()
    return messenger


@contextlib.contextmanager
def stopping_messengers(timeout: float) -> Iterator[Make]:
    """A factory of started Messengers (``timeout`` unless given); at the end, those still
    running are stopped, each a blocking stop bounded by 5 s."""
    created: list[Messenger] = []

    def factory(name: str | None = None, **properties: Any) -> Messenger:
        properties.setdefault("timeout", timeout)
        messenger = started(name, **properties)
        created.append(messenger)
        return messenger

    yield factory
    for messenger in created:
        if not messenger.stopped:
            messenger.blocking = True
            messenger.timeout = 5
            with contextlib.suppress(Exception):
                messenger.stop()


def failures_heard(messenger: Messenger) -> list[Failure]:
    """The failures the Messenger reports to its ``on_event`` callback, as they come."""
    heard: list[Failure] = []

    def on_event(event: MessengerEvent) -> None:
        if isinstance(event, FailureReported):
            heard.append(event.failure)

    messenger.on_event = on_event
    return heard


def stop_all(*messengers: Messenger, timeout: float = 5.0) -> None:
    """Stop messengers that share a thread: close them all, pump until all are stopped."""
    for messenger in messengers:
        messenger.blocking = False
        messenger.stop()
    deadline = time.monotonic() + timeout
    while not all(m.stopped for m in messengers):
        if time.monotonic() > deadline:
            raise AssertionError("messengers did not stop in time")
        for messenger in messengers:
            if not messenger.stopped:
                messenger.work(0.005)


@dataclass
class Received:
    address: str | None
    body: Any
    subject: str | None
    reply_to: str | None
    properties: dict | None
    tracker: int
    correlation_id: Any = None
    durable: bool = False


@dataclass
class ThreadedPeer:
    """A Messenger that lives in its own thread, like a separate program would.

    ``handler(messenger, message, tracker)`` decides what happens to each message
    (default: nothing, so the incoming window rules apply). Received messages are
    recorded in ``received``.
    """

    name: str | None = None
    listen: str = "amqp://~127.0.0.1:0"
    handler: Callable[[Messenger, Message, int], None] | None = None
    incoming_window: int = 0
    outgoing_window: int = 0
    recv_limit: int | None = None
    setup: Callable[[Messenger], None] | None = None
    received: list[Received] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.messenger = Messenger(self.name)
        self._ready = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"peer-{self.name}")

    @property
    def address(self) -> str:
        scheme = "amqps" if self.listen.startswith("amqps") else "amqp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> ThreadedPeer:
        self._thread.start()
        outcome = self._ready.get(timeout=DEADLINE)
        if isinstance(outcome, BaseException):
            raise outcome
        self.port = outcome
        return self

    def _run(self) -> None:
        messenger = self.messenger
        try:
            messenger.incoming_window = self.incoming_window
            messenger.outgoing_window = self.outgoing_window
            if self.setup:
                self.setup(messenger)
            messenger.start()
            subscription = messenger.subscribe(self.listen)
            self._ready.put(subscription.port)
        except BaseException as error:  # reported to the test thread
            self._ready.put(error)
            return
        message = Message()
        while not self._stop.is_set():
            try:
                messenger.recv(self.recv_limit)
                while messenger.incoming:
                    tracker = messenger.get(message)
                    self.received.append(
                        Received(
                            message.address,
                            message.body,
                            message.subject,
                            message.reply_to,
                            message.properties,
                            tracker,
                            message.correlation_id,
                            message.durable,
                        )
                    )
                    if self.handler:
                        self.handler(messenger, message, tracker)
                messenger.send(0)
            except Interrupt:
                continue
            except Timeout:
                continue
            except Exception as error:
                self.errors.append(error)
        messenger.timeout = 5
        try:
            messenger.stop()
        except Exception as error:
            self.errors.append(error)

    def stop(self) -> None:
        self._stop.set()
        self.messenger.interrupt()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "peer thread did not stop"

    def __enter__(self) -> ThreadedPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port() -> int:
    """A loopback port that was just listened on and is not any more."""
    messenger = Messenger()
    messenger.start()
    port = messenger.subscribe("amqp://~127.0.0.1:0").port
    messenger.stop()
    assert port is not None
    return port
