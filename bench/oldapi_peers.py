"""Old-API sender and receiver, one script for the original Messenger and ours.

    python bench/oldapi_peers.py ours '<json config>'
    ../shared/oracle/run-original bench/oldapi_peers.py original '<json config>'

The first argument picks the import, and nothing else differs:

* ``original``: ``from proton import ...`` - under ``run-original`` that is
  Proton 0.17's C ``pn_messenger`` through its SWIG binding;
* ``ours``: ``from msgr_tui.messenger import ...``.

Below the import the code uses only the API both have (``Messenger``,
``Message``, ``ACCEPTED``, ``PENDING``; ``timeout``, ``outgoing_window``,
``incoming_window``, ``start``, ``subscribe``, ``put``, ``send``, ``status``,
``outgoing``, ``recv``, ``incoming``, ``get``, ``accept``, ``work``,
``stop``): a program written for the original, run unchanged on ours. It
never reads ``Subscription.address`` (the original's blocks on a listener)
and does not use threads (the original's binding keeps the GIL while it
blocks): a receiver learns its port by binding a socket to port 0 first, and
reads the parent's ``stop`` with ``select`` between rounds of ``work``.

It talks to the parent (``messenger_throughput.py``) in JSON lines on stdout,
as ``throughput_peers.py`` does: ``ready`` (with ``port``, ``cpu``, ``api``:
which Messenger it runs), ``result``, ``error``, then ``exit`` with the CPU
seconds used in all. ``MSGR_BENCH_CPROFILE=FILE`` runs the role under cProfile
(pstats to FILE). Roles:

``sender`` / ``receiver``
    One throughput run (config ``mode`` ``alo`` or ``amo``), the protocol of
    ``throughput_peers.py``'s Messenger roles.
``hold-sender`` / ``hold-receiver``
    Memory per message in flight: the receiver takes every message (``get``)
    and never accepts it, so the sender holds every tracker PENDING, its
    delivery unsettled. Both report their resident set size at two marks the
    parent sets (``mark`` on stdin): after ``warm`` messages and after ``warm
    + count``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
import time
import traceback
from collections import deque
from types import SimpleNamespace
from typing import Any

QUEUE = "bench"
HERE = os.path.dirname(os.path.abspath(__file__))


def load_api(impl: str) -> SimpleNamespace:
    """The one line that differs: which ``Messenger`` and ``Message``."""
    if impl == "original":
        from proton import ACCEPTED, PENDING, Message, Messenger
    elif impl == "ours":
        # The working tree's msgr_tui, not whatever copy happens to be installed.
        sys.path.insert(0, os.path.dirname(HERE))
        from msgr_tui.messenger import ACCEPTED, PENDING, Message, Messenger
    else:
        raise SystemExit(f"unknown implementation {impl!r} (original or ours)")
    module = sys.modules[Messenger.__module__.rpartition(".")[0] or Messenger.__module__]
    version = getattr(module, "VERSION", None)
    where = os.path.dirname(os.path.abspath(module.__file__ or "?"))
    label = f"{module.__name__}{' ' + '.'.join(map(str, version)) if version else ''} ({where})"
    return SimpleNamespace(
        Messenger=Messenger, Message=Message, ACCEPTED=ACCEPTED, PENDING=PENDING, label=label
    )


def emit(event: str, **fields: Any) -> None:
    """One JSON line to the parent."""
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def cpu() -> float:
    return time.process_time()


def rss_bytes() -> int:
    """Resident set size now (not the peak), from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_stdin = bytearray()


def stdin_line(timeout: float = 0.0) -> str | None:
    """A line from the parent if one is there within ``timeout``; '' at EOF.

    Reads the file descriptor itself: a buffered ``sys.stdin`` could hold a
    second line that ``select`` no longer sees.
    """
    while b"\n" not in _stdin:
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return None
        chunk = os.read(0, 4096)
        if not chunk:
            return ""
        _stdin.extend(chunk)
    end = _stdin.index(b"\n") + 1
    line = bytes(_stdin[:end]).decode()
    del _stdin[:end]
    return line


def free_port() -> int:
    """A port nobody listens on now (the original cannot report the port of ``~host:0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BenchError(Exception):
    """The run went wrong in a way the parent should report as is."""


def listen(api: SimpleNamespace, messenger: Any) -> int:
    """subscribe("~127.0.0.1:PORT") on a free port; a few tries if one is taken meanwhile."""
    for attempt in range(5):
        port = free_port()
        try:
            messenger.subscribe(f"~127.0.0.1:{port}")
        except Exception as error:  # the original raises MessengerException, ours too
            if attempt == 4 or "in use" not in str(error):
                raise
            continue
        return port
    raise AssertionError("unreachable")


def make_message(api: SimpleNamespace, config: dict[str, Any]) -> Any:
    message = api.Message()
    message.address = f"amqp://127.0.0.1:{config['port']}/{QUEUE}"
    message.body = b"x" * config["size"]
    return message


# ------------------------------------------------------------------ throughput


def sender(api: SimpleNamespace, config: dict[str, Any]) -> dict[str, Any]:
    """put, and every ``batch`` puts one round of I/O; ``send()`` waits for the rest.

    After each batch: ``send(0)`` (write, read the answers and new credit,
    without waiting), or ``send(batch)`` (wait for ``batch`` more to be done)
    when more than ``batch`` messages still wait for the wire. At-least-once:
    ``outgoing_window`` keeps the status of every message until it is seen
    ACCEPTED (statuses are checked oldest first after each batch).
    At-most-once: ``outgoing_window = 0``: every transfer goes pre-settled.
    """
    count, batch, warmup = config["count"], config["batch"], config["warmup"]
    track = config["mode"] == "alo"
    ACCEPTED, PENDING = api.ACCEPTED, api.PENDING
    messenger = api.Messenger()
    messenger.timeout = config["timeout"]
    messenger.outgoing_window = config["outgoing_window"] if track else 0
    messenger.start()
    message = make_message(api, config)
    put, send, status = messenger.put, messenger.send, messenger.status
    trackers: deque[Any] = deque()
    accepted = 0

    def collect() -> int:
        """Count the oldest trackers that have their answer; stop at the first PENDING."""
        done = 0
        while trackers:
            state = status(trackers[0])
            if state == PENDING:
                break
            if state != ACCEPTED:
                raise BenchError(
                    f"sender: tracker {trackers[0]} reports {state} "
                    "(None: it fell out of the outgoing window; raise --outgoing-window)"
                )
            trackers.popleft()
            done += 1
        return done

    try:
        # Connection, link and first credit, outside the measured time.
        for _ in range(warmup):
            put(message)
        send()
        t_first = time.monotonic()
        cpu_first = cpu()
        deadline = t_first + config["timeout"]
        for index in range(1, count + 1):
            tracker = put(message)
            if track:
                trackers.append(tracker)
            if index % batch == 0:
                send(batch if messenger.outgoing > batch else 0)
                if track:
                    accepted += collect()
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"timed out after {config['timeout']}s: put {index} of {count}"
                    )
        send()
        t_last = time.monotonic()
        cpu_last = cpu()
        if track:
            accepted += collect()
            if accepted != count or trackers:
                raise BenchError(f"sender: {accepted} of {count} messages ACCEPTED")
    finally:
        messenger.stop()
    return {
        "t_first": t_first,
        "t_last": t_last,
        "cpu": cpu_last - cpu_first,
        "sent": count,
        "accepted": accepted if track else None,
        "encoded": len(message.encode()),
    }


def serve_until_stop(messenger: Any) -> None:
    """Keep answering (the sender still reads its last answers and closes) until told to stop."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stdin_line() is not None:
            return
        messenger.work(0.05)


def receiver(api: SimpleNamespace, config: dict[str, Any]) -> None:
    """subscribe(~) / recv() / get(msg): every message decoded into a Message.

    At-least-once: ``incoming_window = window`` and ``accept()`` after each
    drained batch. At-most-once: ``incoming_window = 0``. Config
    ``recv_credit`` N: ``recv(N)`` (explicit credit, N in flight or queued)
    instead of ``recv()`` (the original's automatic 1,024 a link).
    """
    total = config["count"] + config["warmup"]
    warmup, size = config["warmup"], config["size"]
    explicit = config["mode"] == "alo"
    recv_credit = config.get("recv_credit")
    messenger = api.Messenger()
    messenger.timeout = config["timeout"]
    messenger.incoming_window = config["incoming_window"] if explicit else 0
    messenger.start()
    port = listen(api, messenger)
    emit("ready", port=port, cpu=cpu(), api=api.label)
    message = api.Message()
    recv, get, accept = messenger.recv, messenger.get, messenger.accept
    received = bad = 0
    t_first = cpu_first = 0.0
    deadline = time.monotonic() + config["timeout"]
    try:
        while received < total:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"timed out after {config['timeout']}s: received {received} of {total}"
                )
            if recv_credit:
                recv(recv_credit)
            else:
                recv()
            for _ in range(messenger.incoming):
                get(message)
                received += 1
                if len(message.body) != size:
                    bad += 1
                if received == warmup + 1:
                    t_first = time.monotonic()
                    cpu_first = cpu()
            if explicit:
                accept()
        t_last = time.monotonic()
        emit(
            "result",
            t_first=t_first,
            t_last=t_last,
            cpu=cpu() - cpu_first,
            received=received,
            bad=bad,
        )
        if bad:
            raise BenchError(f"receiver: {bad} messages had the wrong body size")
        serve_until_stop(messenger)
    finally:
        messenger.timeout = 5.0
        messenger.stop()


# ------------------------------------------------------------ memory in flight


def wait_for_mark(messenger: Any, limit: float) -> None:
    """Do I/O until the parent writes ``mark`` (or closes stdin)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if stdin_line() is not None:
            return
        messenger.work(0.02)
    raise BenchError(f"no mark from the parent within {limit:.0f}s")


def hold_sender(api: SimpleNamespace, config: dict[str, Any]) -> dict[str, Any]:
    """put ``warm`` then ``count`` more; the receiver answers none: RSS at both marks.

    The parent marks once the receiver holds all the messages put so far, so
    at each mark every one has been written out and waits for its answer.
    """
    warm, count = config["warm"], config["count"]
    PENDING = api.PENDING
    messenger = api.Messenger()
    messenger.timeout = config["timeout"]
    messenger.outgoing_window = warm + count
    messenger.start()
    message = make_message(api, config)
    trackers = []
    # work(0), not send(0): the original's send(0) waits (until its timeout) when
    # the messages it moved onto the wire meanwhile are not answered.
    try:
        for _ in range(warm):
            trackers.append(messenger.put(message))
        wait_for_mark(messenger, config["timeout"])
        rss_warm = rss_bytes()
        for index in range(count):
            trackers.append(messenger.put(message))
            if index % 256 == 255:
                messenger.work(0)
        wait_for_mark(messenger, config["timeout"])
        rss_full = rss_bytes()
        pending = sum(1 for tracker in trackers if messenger.status(tracker) == PENDING)
        if pending != warm + count:
            raise BenchError(f"hold sender: {pending} of {warm + count} trackers PENDING")
        emit("result", rss_warm=rss_warm, rss_full=rss_full, pending=pending)
        wait_for_mark(messenger, config["timeout"])
    finally:
        messenger.timeout = 2.0
        # Unanswered deliveries may keep the original's stop waiting: its timeout.
        with contextlib.suppress(Exception):
            messenger.stop()
    return {}


def hold_receiver(api: SimpleNamespace, config: dict[str, Any]) -> None:
    """get every message, accept none: RSS after ``warm`` and after ``warm + count``."""
    warm, count = config["warm"], config["count"]
    messenger = api.Messenger()
    messenger.timeout = config["timeout"]
    messenger.incoming_window = warm + count
    messenger.start()
    port = listen(api, messenger)
    emit("ready", port=port, cpu=cpu(), api=api.label)
    message = api.Message()
    received = 0
    deadline = time.monotonic() + config["timeout"]
    try:
        for target in (warm, warm + count):
            while received < target:
                if time.monotonic() > deadline:
                    raise BenchError(f"hold receiver: {received} of {target} in time")
                messenger.recv()
                while messenger.incoming:
                    messenger.get(message)
                    received += 1
            emit("held", received=received, rss=rss_bytes())
        serve_until_stop(messenger)
    finally:
        messenger.timeout = 2.0
        with contextlib.suppress(Exception):
            messenger.stop()


ROLES = {
    "sender": sender,
    "receiver": receiver,
    "hold-sender": hold_sender,
    "hold-receiver": hold_receiver,
}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    impl, config = sys.argv[1], json.loads(sys.argv[2])
    profile_path = os.environ.get("MSGR_BENCH_CPROFILE")
    status = 0
    try:
        api = load_api(impl)
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            try:
                result = profiler.runcall(ROLES[config["role"]], api, config)
            finally:
                profiler.dump_stats(profile_path)
        else:
            result = ROLES[config["role"]](api, config)
        if result:
            emit("result", api=api.label, **result)
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
