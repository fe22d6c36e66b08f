"""The raw Proton sender and receiver processes of ``messenger_throughput.py``.

Run as ``python bench/throughput_peers.py '<json config>'``: one process plays
one role (``raw-sender`` or ``raw-receiver``: Proton's ``Container`` +
``MessagingHandler``) and talks to the parent in JSON lines on stdout (the
Messengers' roles, ours and the original's, are in ``oldapi_peers.py``):

* ``{"event": "ready", "port": P, "cpu": C}`` - a receiver is listening;
* ``{"event": "result", ...}`` - the measured figures of this side;
* ``{"event": "error", "message": TEXT}`` - it failed (then exits non-zero);
* ``{"event": "exit", "cpu": C}`` - last line: CPU seconds used in all.

A receiver that has reported its result keeps serving the connection (the
sender still has to read the last acknowledgements and close) until the
peer closes it or the parent writes ``stop`` on its stdin.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process
of the machine), so the parent may subtract a receiver's time from a sender's.

Environment: ``MSGR_BENCH_CPROFILE=FILE`` runs the role under cProfile and
writes the statistics to FILE (pstats format). cProfile makes Python code
several times slower, so take its proportions, not its rates; py-spy (the
parent's ``--py-spy DIR``) samples without slowing the program down.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtMostOnce, Container

QUEUE = "bench"


def emit(event: str, **fields: Any) -> None:
    """One JSON line to the parent."""
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def cpu() -> float:
    return time.process_time()


class BenchError(Exception):
    """The run went wrong in a way the parent should report as is."""


# ------------------------------------------------------------------ raw Proton


class RawSender(MessagingHandler):
    """Container + MessagingHandler: send ``count`` messages as credit allows.

    At-least-once: unsettled transfers, the receiver accepts each, the sender
    counts ``on_accepted`` (auto_settle settles its side). At-most-once: the
    link is opened with AtMostOnce (snd-settle-mode settled): every transfer
    goes out pre-settled and nothing comes back.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(auto_settle=True)
        self.url = f"127.0.0.1:{config['port']}"
        self.count = config["count"]
        self.presettle = config["mode"] == "amo"
        self.timeout = config["timeout"]
        self.message = Message(body=b"x" * config["size"])
        self.sent = 0
        self.accepted = 0
        self.other_outcomes = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.error: str | None = None

    def on_start(self, event: Any) -> None:
        event.container.schedule(self.timeout, self)
        connection = event.container.connect(self.url, reconnect=False)
        options = AtMostOnce() if self.presettle else None
        event.container.create_sender(connection, QUEUE, options=options)

    def on_timer_task(self, event: Any) -> None:
        self.error = (
            f"raw sender timed out after {self.timeout}s: sent {self.sent}, "
            f"accepted {self.accepted} of {self.count}"
        )
        event.container.stop()

    def on_sendable(self, event: Any) -> None:
        sender = event.sender
        if self.t_first is None:
            self.t_first = time.monotonic()
            self.cpu_first = cpu()
        message = self.message
        while sender.credit > 0 and self.sent < self.count:
            sender.send(message)
            self.sent += 1
        if self.presettle and self.sent == self.count and self.t_last is None:
            # Nothing will answer: this is the moment the last message was
            # handed to the engine (the transport writes it out before the close).
            self.t_last = time.monotonic()
            self.cpu_last = cpu()
            event.connection.close()

    def on_accepted(self, event: Any) -> None:
        self.accepted += 1
        self._answered(event)

    def on_rejected(self, event: Any) -> None:
        self.other_outcomes += 1
        self._answered(event)

    def on_released(self, event: Any) -> None:
        self.other_outcomes += 1
        self._answered(event)

    def _answered(self, event: Any) -> None:
        if self.accepted + self.other_outcomes == self.count:
            self.t_last = time.monotonic()
            self.cpu_last = cpu()
            event.connection.close()

    def on_transport_error(self, event: Any) -> None:
        condition = event.transport.condition
        if self.t_last is None and self.error is None:
            self.error = f"transport error: {condition}"
        event.container.stop()

    def on_connection_closed(self, event: Any) -> None:
        event.container.stop()


def raw_sender(config: dict[str, Any]) -> dict[str, Any]:
    handler = RawSender(config)
    Container(handler).run()
    if handler.error:
        raise BenchError(handler.error)
    if handler.t_last is None or handler.t_first is None:
        raise BenchError(f"raw sender stopped early: sent {handler.sent} of {handler.count}")
    if handler.other_outcomes:
        raise BenchError(f"raw sender: {handler.other_outcomes} messages were not accepted")
    return {
        "t_first": handler.t_first,
        "t_last": handler.t_last,
        "cpu": handler.cpu_last - handler.cpu_first,
        "sent": handler.sent,
        "accepted": handler.accepted,
    }


class RawReceiver(MessagingHandler):
    """Container + MessagingHandler listening on an ephemeral port.

    prefetch 1000; auto_accept accepts (and settles) every unsettled message
    after ``on_message`` - the MessagingHandler has decoded it into a Message.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(prefetch=config.get("prefetch", 1000), auto_accept=True)
        self.total = config["count"] + config["warmup"]
        self.warmup = config["warmup"]
        self.size = config["size"]
        self.timeout = config["timeout"]
        self.received = 0
        self.bad = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.cpu_first = 0.0
        self.acceptor: Any = None
        self.error: str | None = None

    def on_start(self, event: Any) -> None:
        event.container.schedule(self.timeout, self)
        self.acceptor = event.container.listen("127.0.0.1:0")
        try:
            port = self.acceptor._selectable._delegate.getsockname()[1]
        except AttributeError as error:  # Proton's internals moved
            raise BenchError(f"cannot find the port the raw receiver listens on: {error}") from None
        emit("ready", port=port, cpu=cpu())

    def on_timer_task(self, event: Any) -> None:
        if self.t_last is None:
            self.error = (
                f"raw receiver timed out after {self.timeout}s: "
                f"received {self.received} of {self.total}"
            )
        event.container.stop()

    def on_message(self, event: Any) -> None:
        self.received += 1
        if len(event.message.body) != self.size:
            self.bad += 1
        if self.received == self.warmup + 1:
            self.t_first = time.monotonic()
            self.cpu_first = cpu()
        if self.received == self.total:
            self.t_last = time.monotonic()
            emit(
                "result",
                t_first=self.t_first,
                t_last=self.t_last,
                cpu=cpu() - self.cpu_first,
                received=self.received,
                bad=self.bad,
            )

    def on_connection_closed(self, event: Any) -> None:
        self._finish(event)

    def on_transport_closed(self, event: Any) -> None:
        self._finish(event)

    def _finish(self, event: Any) -> None:
        if self.t_last is None and self.error is None:
            self.error = f"raw receiver: connection closed after {self.received} of {self.total}"
        event.container.stop()


def raw_receiver(config: dict[str, Any]) -> None:
    handler = RawReceiver(config)
    Container(handler).run()
    if handler.error:
        raise BenchError(handler.error)
    if handler.bad:
        raise BenchError(f"raw receiver: {handler.bad} messages had the wrong body size")


ROLES = {
    "raw-sender": raw_sender,
    "raw-receiver": raw_receiver,
}


def run(config: dict[str, Any]) -> None:
    role = ROLES[config["role"]]
    result = role(config)
    if result is not None:
        emit("result", **result)


def main() -> int:
    config = json.loads(sys.argv[1])
    profile_path = os.environ.get("MSGR_BENCH_CPROFILE")
    status = 0
    try:
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            try:
                profiler.runcall(run, config)
            finally:
                profiler.dump_stats(profile_path)
        else:
            run(config)
    except BenchError as error:
        emit("error", message=str(error))
        status = 1
    except Exception:
        emit("error", message=traceback.format_exc())
        status = 1
    emit("exit", cpu=cpu())
    return status


if __name__ == "__main__":
    sys.exit(main())
