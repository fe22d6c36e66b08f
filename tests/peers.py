"""Peers for the tests that are not msgr-tui's Messenger: a raw Proton server, child processes.

``RawPeer`` runs a python-qpid-proton Container in a thread, doing the AMQP
handshake by hand so that it can misbehave on purpose (refuse links, end
sessions, close connections with a condition, drop the socket). ``Child``
runs a Python script in a separate process whose stdout lines the test reads.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proton import Condition, Endpoint, Handler
from proton import Message as ProtonMessage
from proton.reactor import ApplicationEvent, Container, EventInjector

from tests.helpers import DEADLINE

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Delivery:
    """A message as a raw peer saw it: the link's target, the message's address, its body."""

    target: str | None
    address: str | None
    body: Any


class PeerBehaviour(Handler):
    """Server-side AMQP handshake done by hand, with hooks to misbehave.

    By default it opens whatever the client opens, grants credit to links it
    receives on, accepts every message and records its body (``received``)
    and, with the link's target and the message's address, in ``deliveries``.
    ``decide(link)`` may return an action for each link the client attaches:
    ``"refuse"`` (close the link with ``amqp:not-found``), ``"end-session"``,
    ``"close-connection"`` or None (welcome).
    """

    def __init__(
        self, decide: Callable[[Any], str | None] = lambda link: None, feed: list | None = None
    ) -> None:
        self.decide = decide
        self.feed = list(feed or [])  # bodies to send on links the client receives on
        self.connections: list[Any] = []
        self.received: list[Any] = []
        self.deliveries: list[Delivery] = []
        self.acceptor: Any = None
        self.injector: EventInjector | None = None

    def on_connection_remote_open(self, event: Any) -> None:
        connection = event.connection
        self.connections.append(connection)
        if connection.state & Endpoint.LOCAL_UNINIT:
            connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        action = self.decide(link)
        if action == "refuse":
            link.condition = Condition("amqp:not-found", f"no node named {_terminus(link)!r}")
            link.close()
        elif action == "end-session":
            link.session.condition = Condition(
                "amqp:resource-limit-exceeded", "session quota used up"
            )
            link.session.close()
        elif action == "close-connection":
            event.connection.condition = Condition(
                "amqp:connection:forced", "broker going down for maintenance"
            )
            event.connection.close()
        else:
            link.source.copy(link.remote_source)
            link.target.copy(link.remote_target)
            link.open()
            if link.is_receiver:
                link.flow(100)
            self.on_welcome(link)

    def on_welcome(self, link: Any) -> None:
        """A link was accepted (hook for subclasses)."""

    def on_link_flow(self, event: Any) -> None:
        link = event.link
        while link.is_sender and link.credit > 0 and self.feed:
            link.send(ProtonMessage(body=self.feed.pop(0)))
        if link.is_sender and link.drain_mode:
            link.drained()  # nothing more to send: the credit goes back, as a sender must

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = event.link
        if link.is_receiver and delivery.readable and not delivery.partial:
            message = ProtonMessage()
            message.decode(link.recv(delivery.pending))
            link.advance()
            self.deliveries.append(
                Delivery(link.remote_target.address, message.address, message.body)
            )
            self.received.append(message.body)
            delivery.update(delivery.ACCEPTED)
            delivery.settle()
            link.flow(1)

    def on_connection_remote_close(self, event: Any) -> None:
        if not event.connection.state & Endpoint.LOCAL_CLOSED:
            event.connection.close()

    def on_session_remote_close(self, event: Any) -> None:
        if not event.session.state & Endpoint.LOCAL_CLOSED:
            event.session.close()

    def on_link_remote_close(self, event: Any) -> None:
        if not event.link.state & Endpoint.LOCAL_CLOSED:
            event.link.close()

    @staticmethod
    def drop(connection: Any) -> None:
        """Stop talking at once: no AMQP close, the socket just goes away."""
        transport = connection.transport
        if transport is not None:
            transport.close_tail()
            transport.close_head()

    def on_shutdown(self, event: Any) -> None:
        self.acceptor.close()
        for connection in self.connections:
            self.drop(connection)
        self.injector.close()


def _terminus(link: Any) -> str | None:
    return link.remote_target.address if link.is_receiver else link.remote_source.address


class RawPeer:
    """A Proton Container listening on 127.0.0.1 (free port) in its own thread."""

    def __init__(self, behaviour: PeerBehaviour) -> None:
        self.behaviour = behaviour
        self.container = Container(behaviour)
        self.injector = EventInjector()
        behaviour.injector = self.injector
        self.container.selectable(self.injector)
        behaviour.acceptor = self.container.listen("127.0.0.1:0")
        self.port: int = behaviour.acceptor._selectable._delegate.getsockname()[1]
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-peer")

    @property
    def address(self) -> str:
        return f"amqp://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self.container.run()
        except BaseException as error:  # reported to the test thread
            self.errors.append(error)

    def __enter__(self) -> RawPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "raw peer did not stop"
        for fd in self.injector.pipe:
            os.close(fd)
        assert self.errors == []


def refuse_names_starting_with(
    prefix: str, action: str = "refuse", feed: list | None = None
) -> PeerBehaviour:
    return PeerBehaviour(
        lambda link: action if (_terminus(link) or "").startswith(prefix) else None, feed
    )


class Child:
    """A Python child process whose stdout lines are collected by a thread."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError("the child process said nothing in time") from None

    def poll_lines(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(DEADLINE)
        self._reader.join(DEADLINE)
        self.process.stdout.close()
