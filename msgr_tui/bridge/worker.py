"""The bridge thread: pumps one Messenger, runs UI commands, reports events in batches."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..crashes import write_crash_log
from ..drafts import DraftError, build_message
from ..formatting import count_of
from ..hints import explained
from ..locations import new_recovery_file
from ..messagefile import MessageFileError, SectionError, decode_message, save_messages
from ..messenger import (
    ABORTED,
    ACCEPTED,
    MODIFIED,
    REJECTED,
    RELEASED,
    SETTLED,
    Interrupt,
    Messenger,
    MessengerException,
)
from ..messenger.address import parse_address
from ..messenger.events import (
    ConnectionClosed,
    ConnectionOpened,
    FailureReported,
    IncomingSettled,
    LinkClosed,
    LinkOpened,
    MessengerEvent,
    RetryScheduled,
    TrackerUpdated,
)
from ..messenger.failures import Failure
from ..messenger.status import Status
from ..messenger.subscription import BrowseMode, SubscriptionState
from ..recovery import RecoveredMessage, retire
from ..settings import Settings
from .commands import (
    Accept,
    Command,
    Forward,
    Modify,
    Purge,
    Put,
    Reject,
    Release,
    Replay,
    SendMessages,
    Settle,
    Stop,
    Subscribe,
    Unsubscribe,
)
from .events import (
    AtStake,
    BridgeEvent,
    BridgeStopped,
    ConnectionChanged,
    ConnectionPhase,
    IncomingDecided,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    Notice,
    PutFailed,
    ReplayAnswered,
    Severity,
    SourceReading,
    Stats,
    SubscriptionChanged,
    UnansweredSaved,
)

log = logging.getLogger(__name__)

Emit = Callable[[list[BridgeEvent]], None]

# How often events are handed to the UI: about once a frame, never per message.
BATCH_INTERVAL = 1 / 30
# In a flood, every batch repaints the tables; four a second is plenty to watch
# and leaves the UI thread time for the user's keys.
FLOOD_BATCH_INTERVAL = 1 / 4
FLOOD_BATCH_SIZE = 200
# A purge ends once its source sent nothing for this long: what it held "now" is in.
PURGE_QUIET = 1.0
# Messages taken off the incoming queue per round, so commands stay responsive in a flood.
GET_BATCH = 2_000
STATS_INTERVAL = 1.0
LISTEN_FALLBACK_PORTS = 20
STOP_GRACE = 5.0
# Outgoing statuses that are a peer's answer; anything else (PENDING, ABORTED, or
# None for a tracker the window let go) leaves the message unanswered.
_ANSWERED = frozenset((ACCEPTED, REJECTED, RELEASED, MODIFIED, SETTLED))
_BROWSING = frozenset((BrowseMode.COPY, BrowseMode.PEEK))


@dataclass(slots=True)
class _Purge:
    """A source being purged: what it accepted so far and when its last message came."""

    source: str
    last: float
    accepted: int = 0


@dataclass(slots=True)
class _Replay:
    """A recovery file sent again: kept until all of it is answered or saved anew."""

    origin: str
    count: int
    waiting: set[int] = field(default_factory=set)
    accepted: int = 0
    not_put: int = 0


class MessengerBridge:
    """Owns a Messenger that only its own thread touches.

    Create it in any thread, run :meth:`run` in a worker thread, talk to it
    with :meth:`submit` (any thread). ``emit`` is called from the worker
    thread with lists of events; it must hand them over quickly (the Textual
    app posts one message per batch).
    """

    def __init__(self, settings: Settings, emit: Emit) -> None:
        self.settings = settings
        self._emit = emit
        self._clock = time.monotonic
        self.messenger = Messenger(settings.messenger_name)
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._events: list[BridgeEvent] = []
        self._last_flush = 0.0
        self._interval = BATCH_INTERVAL
        self._stopping = False
        self._seq = 0
        self._received = 0
        self._sent = 0
        self._stats_at = 0.0
        self._stats_counts = (0, 0)
        # Incoming trackers waiting for a decision -> the subscription address they came from.
        self._pending_in: dict[int, str | None] = {}
        # Subscription address -> a purge under way there.
        self._purges: dict[str, _Purge] = {}
        self._connections: set[str] = set()
        # Subscribed address (maybe with credentials added) -> as the user wrote it.
        self._sources: dict[str, str] = {}
        # Outgoing tracker -> the message as put (no credentials), until its peer
        # answers it: what a Stop with save_to keeps. ABORTED stays: never answered.
        self._unanswered: dict[int, bytes] = {}
        self._aborted: set[int] = set()
        # Recovery files sent again, and which file each of their trackers came from.
        self._replays: dict[str, _Replay] = {}
        self._replay_of: dict[int, _Replay] = {}
        # Copy tracker -> the original it moves (accepted once the copy is).
        self._moving: dict[int, int] = {}
        # A message file being sent at a rate: what is left, and when the next one is due.
        self._paced: deque[RecoveredMessage] = deque()
        self._pace = 0.0
        self._next_paced = 0.0
        self._at_stake = AtStake()
        self._save_to: str | None = None
        # Read by the UI thread once ``finished`` is set (the app may be gone by
        # then, and with it the events that would have said so).
        self.finished = threading.Event()
        self.kept: UnansweredSaved | None = None
        self.crash_log: str | None = None

    @property
    def name(self) -> str:
        return self.messenger.name

    # ----------------------------------------------------------- any thread

    def submit(self, command: Command) -> None:
        """Queue a command for the worker and wake it (thread-safe)."""
        self._commands.put(command)
        self.messenger.interrupt()

    def stop(self) -> None:
        self.submit(Stop())

    # ------------------------------------------------------- worker thread

    def run(self) -> None:
        """The worker thread's body: returns after a Stop command (or a fatal error)."""
        error: str | None = None
        try:
            self._start()
            self._loop()
        except Exception as failure:  # the UI must learn why the bridge died
            log.exception("messenger bridge failed")
            error = f"{type(failure).__name__}: {failure}"
            crash_log = write_crash_log(failure, "the Messenger thread")
            self.crash_log = str(crash_log) if crash_log is not None else None
            if self._save_to is None:  # a crash keeps what a quit would
                self._save_to = str(new_recovery_file())
        finally:
            try:
                self._shutdown()
            finally:
                self._events.append(BridgeStopped(error, self.crash_log))
                self._flush(force=True)
                self.finished.set()

    def _start(self) -> None:
        settings = self.settings
        messenger = self.messenger
        messenger.blocking = False
        messenger.timeout = settings.timeout
        messenger.incoming_window = settings.incoming_window
        messenger.outgoing_window = settings.outgoing_window
        messenger.retry = settings.retry
        settings.configure(messenger)
        messenger.on_event = self._on_messenger_event
        messenger.start()
        for index, source in enumerate(settings.listen):
            self._listen(source, fallback=settings.listen_fallback and index == 0)
        selectors = dict(settings.selectors)
        for source in settings.subscribe:
            self._subscribe(source, selector=selectors.get(source))
        for source in settings.browse:
            self._subscribe(source, browse=True, selector=selectors.get(source))
        try:
            messenger.recv(-1)
        except MessengerException as failure:
            # A source refused at once (its broker is down) is reported like any later
            # failure; it must not end the session before it has begun.
            self._events.append(Notice(str(failure)))
        self._stats_at = self._clock()
        self._flush(force=True)

    def _loop(self) -> None:
        messenger = self.messenger
        while not self._stopping:
            self._run_commands()
            if self._stopping:
                return
            taken = 0
            while messenger.incoming and taken < GET_BATCH:
                self._take()
                taken += 1
            try:
                # One round of I/O a turn: credit (recv(-1) was called once at
                # start) and the outgoing links are kept going by work() itself.
                self._put_paced()
                wait = 0.0 if messenger.incoming else self._until_next_flush()
                if self._purges:
                    wait = min(wait, PURGE_QUIET / 4)
                if self._paced:
                    wait = min(wait, max(0.0, self._next_paced - self._clock()))
                messenger.work(wait)
            except Interrupt:
                pass
            except MessengerException as failure:
                self._events.append(Notice(str(failure)))
            self._stats()
            if self._purges:
                self._purges_done()
            self._flush()

    def _take(self) -> None:
        messenger = self.messenger
        try:
            # Not decoded here: the UI decodes the rows it shows (see MessageArrived).
            # A message that cannot be decoded is not rejected for the user: it waits
            # for a decision like any other, shown as undecodable.
            tracker, data = messenger.get_encoded()
        except MessengerException as failure:
            self._events.append(Notice(str(failure)))
            return
        self._seq += 1
        self._received += 1
        subscription = messenger.incoming_subscription
        browsed = subscription is not None and subscription.browse_mode in _BROWSING
        address = subscription.address if subscription is not None else None
        purge = self._purges.get(address) if address is not None else None
        if purge is not None and not browsed:
            purge.accepted += 1
            purge.last = self._clock()
        if messenger.incoming_window and not browsed:
            self._pending_in[tracker] = address
        self._events.append(MessageArrived(self._seq, tracker, time.time(), data, browsed))
        if browsed:
            return  # given back by the Messenger, never decided here
        if not messenger.incoming_window:
            self._events.append(IncomingDecided(tracker, ACCEPTED, automatic=True))
        elif purge is not None:
            self._act(messenger.accept, tracker, ACCEPTED)

    def _until_next_flush(self) -> float:
        if not self._events:
            return STATS_INTERVAL
        return max(0.0, self._last_flush + self._interval - self._clock())

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._run(command)
            except MessengerException as failure:
                self._events.append(Notice(str(failure)))

    def _run(self, command: Command) -> None:
        handlers: dict[type, Callable[[Any], None]] = {
            Put: self._put,
            Replay: self._replay,
            Forward: self._forward,
            SendMessages: self._send_messages,
            Accept: lambda command: self._act(self.messenger.accept, command.tracker, ACCEPTED),
            Reject: lambda command: self._act(self.messenger.reject, command.tracker, REJECTED),
            Release: lambda command: self._act(self.messenger.release, command.tracker, RELEASED),
            Modify: self._modify,
            Purge: self._purge,
            Settle: self._settle,
            Subscribe: self._subscribe_or_listen,
            Unsubscribe: self._unsubscribe,
            Stop: self._stop,
        }
        handlers[type(command)](command)

    def _settle(self, command: Settle) -> None:
        self.messenger.settle(command.tracker)
        self._pending_in.pop(command.tracker, None)

    def _subscribe_or_listen(self, command: Subscribe) -> None:
        if parse_address(command.source).listen:
            self._listen(command.source, fallback=False)
        else:
            self._subscribe(command.source, browse=command.browse, selector=command.selector)

    def _unsubscribe(self, command: Unsubscribe) -> None:
        self.messenger.unsubscribe(command.source)
        self._events.append(SubscriptionChanged(command.source, SubscriptionState.CLOSED))

    def _stop(self, command: Stop) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._save_to = command.save_to

    def _purge(self, command: Purge) -> None:
        address = next(
            (mine for mine, theirs in self._sources.items() if theirs == command.source), None
        )
        if address is None:
            self._events.append(Notice(f"{command.source}: not subscribed, nothing to purge"))
            return
        purge = self._purges[address] = _Purge(command.source, last=self._clock())
        for tracker, came_from in list(self._pending_in.items()):
            if came_from == address:
                purge.accepted += 1
                self._act(self.messenger.accept, tracker, ACCEPTED)

    def _purges_done(self) -> None:
        """End the purges whose source sent nothing for PURGE_QUIET seconds, and tell."""
        now = self._clock()
        for address, purge in list(self._purges.items()):
            if now - purge.last >= PURGE_QUIET:
                del self._purges[address]
                self._events.append(
                    Notice(
                        f"{purge.source}: purged, {count_of(purge.accepted, 'message')} "
                        "received and accepted",
                        Severity.INFORMATION,
                    )
                )

    def _modify(self, command: Modify) -> None:
        def modify(tracker: int | None) -> None:
            self.messenger.modify(
                tracker, delivery_failed=True, undeliverable_here=command.undeliverable_here
            )

        self._act(modify, command.tracker, MODIFIED)

    def _act(
        self, action: Callable[[int | None], None], tracker: int | None, outcome: Status
    ) -> None:
        action(tracker)
        candidates = list(self._pending_in) if tracker is None else [tracker]
        for candidate in candidates:
            if self.messenger.status(candidate) is outcome:
                self._pending_in.pop(candidate, None)
                self._events.append(IncomingDecided(candidate, outcome))

    def _put(self, command: Put) -> None:
        draft = command.draft
        try:
            message = build_message(draft)
        except DraftError as failure:
            self._events.append(PutFailed(command.draft_id, str(failure), failure.field))
            return
        shown = message.address
        as_put = message.encode()  # before the profile's credentials go in
        message.address = self.settings.with_credentials(shown)
        try:
            tracker = self.messenger.put(message)
        except MessengerException as failure:
            self._events.append(PutFailed(command.draft_id, str(failure)))
            return
        self._queued(tracker, as_put, shown, message.subject or "", command.draft_id)

    def _queued(
        self, tracker: int, as_put: bytes, address: str, subject: str, draft_id: int | None
    ) -> None:
        """A message is put: at stake until answered (kept as put), and shown in Outgoing."""
        self._unanswered[tracker] = as_put
        self._sent += 1
        self._events.append(MessageQueued(tracker, draft_id, address, subject, time.time()))

    def _replay(self, command: Replay) -> None:
        """Put a recovery file's messages, as they were put, each to its own address."""
        if command.origin in self._replays:
            return  # already sent again in this session
        replay = self._replays[command.origin] = _Replay(command.origin, len(command.messages))
        for recovered in command.messages:
            tracker = self._put_recovered(recovered)
            if tracker is None:
                replay.not_put += 1  # it is still in the file, which is kept
                continue
            replay.waiting.add(tracker)
            self._replay_of[tracker] = replay

    def _send_messages(self, command: SendMessages) -> None:
        if command.rate is None:
            for recovered in command.messages:
                self._put_recovered(recovered)
            return
        self._paced.extend(command.messages)
        self._pace = 1.0 / command.rate
        self._next_paced = min(self._next_paced or self._clock(), self._clock())

    def _put_paced(self) -> None:
        """Put the paced messages that are due (a late turn catches up, never bursts ahead)."""
        now = self._clock()
        while self._paced and self._next_paced <= now:
            self._put_recovered(self._paced.popleft())
            self._next_paced += self._pace

    def _put_recovered(self, recovered: RecoveredMessage) -> int | None:
        """Put an encoded message to its own address (with the profile's credentials)."""
        try:
            tracker = self.messenger.put_encoded(
                recovered.data, self.settings.with_credentials(recovered.address)
            )
        except MessengerException as failure:
            self._events.append(Notice(f"{recovered.address}: {failure}"))
            return None
        self._queued(tracker, recovered.data, recovered.address, recovered.subject, None)
        return tracker

    def _forward(self, command: Forward) -> None:
        """Put copies of received messages; a move accepts each original after its copy."""
        for original, snapshot in command.originals:
            address = command.destination or snapshot.address or ""
            # Encoded once, without the profile's credentials: what is kept if unanswered.
            as_put = snapshot.to_message(address).encode()
            try:
                tracker = self.messenger.put_encoded(
                    as_put, self.settings.with_credentials(address)
                )
            except MessengerException as failure:
                self._events.append(Notice(f"{address}: {failure}; the original stays pending"))
                continue
            if command.move:
                self._moving[tracker] = original
            self._queued(tracker, as_put, address, snapshot.subject or "", None)

    def _moved(self, copy: int, status: Status | None) -> None:
        """A moved message's copy was answered (or lost): accept its original, or say why not."""
        original = self._moving.pop(copy)
        if status is ACCEPTED:
            if original in self._pending_in:
                self._act(self.messenger.accept, original, ACCEPTED)
            return
        said = status.name if status is not None else "lost"
        self._events.append(
            Notice(
                f"a moved message's copy was {said}: its original stays pending",
                Severity.WARNING,
            )
        )

    def _answered(self, tracker: int, status: Status) -> None:
        """A peer answered an outgoing message: it is no longer at stake."""
        self._unanswered.pop(tracker, None)
        self._aborted.discard(tracker)
        if tracker in self._moving:
            self._moved(tracker, status)
        replay = self._replay_of.pop(tracker, None)
        if replay is None:
            return
        replay.waiting.discard(tracker)
        replay.accepted += status is ACCEPTED
        if not replay.waiting and not replay.not_put:
            retire(Path(replay.origin))
            self._events.append(ReplayAnswered(replay.origin, replay.count, replay.accepted))

    def _listen(self, source: str, *, fallback: bool) -> None:
        parsed = parse_address(source)
        attempts = [source]
        if fallback and parsed.port:
            host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
            prefix = f"{parsed.effective_scheme}://~{host}"
            suffix = f"/{parsed.name}" if parsed.name is not None else ""
            ports = [
                parsed.port + i for i in range(1, LISTEN_FALLBACK_PORTS) if parsed.port + i < 65536
            ]
            attempts += [f"{prefix}:{port}{suffix}" for port in [*ports, 0]]
        last_error: MessengerException | None = None
        for attempt in attempts:
            try:
                subscription = self.messenger.subscribe(attempt)
            except MessengerException as failure:
                last_error = failure
                if "in use" not in str(failure):
                    break
                continue
            note = None
            if attempt != source:
                note = (
                    f"{parsed.without_credentials()} was taken; listening on "
                    f"{subscription.connect_address} instead"
                )
            self._events.append(ListenerBound(source, attempt, subscription.connect_address, note))
            self._events.append(
                SubscriptionChanged(
                    attempt, SubscriptionState.LISTENING, None, subscription.connect_address
                )
            )
            return
        text = str(last_error)
        failure = Failure(parsed.without_credentials(), text)
        self._events.append(SubscriptionChanged(source, SubscriptionState.FAILED, failure))
        self._events.append(Notice(text))

    def _subscribe(self, source: str, *, browse: bool = False, selector: str | None = None) -> None:
        try:
            subscription = self.messenger.subscribe(
                self.settings.with_credentials(source), browse=browse, selector=selector
            )
        except MessengerException as error:
            failure = Failure(source, str(error))
            self._events.append(SubscriptionChanged(source, SubscriptionState.FAILED, failure))
            self._events.append(Notice(str(error)))
            return
        self._sources[subscription.address] = source
        self._events.append(
            SubscriptionChanged(
                source,
                subscription.state,
                subscription.failure,
                reading=SourceReading.of(subscription),
            )
        )

    def _on_messenger_event(self, event: MessengerEvent) -> None:
        events = self._events
        kind = type(event)
        if kind is TrackerUpdated or kind is RetryScheduled:
            events.append(event)  # the library's own words are the UI's
            if kind is TrackerUpdated:
                status = event.status
                if status in _ANSWERED:
                    self._answered(event.tracker, status)
                elif status is ABORTED and event.tracker in self._unanswered:
                    self._aborted.add(event.tracker)
                    if event.tracker in self._moving:
                        self._moved(event.tracker, status)
        elif kind is IncomingSettled:
            self._pending_in.pop(event.tracker, None)
            events.append(IncomingDecided(event.tracker, event.status, automatic=True))
        elif kind is ConnectionOpened:
            self._connections.add(event.label)
            events.append(
                ConnectionChanged(
                    event.label, ConnectionPhase.OPEN, event.inbound, event.remote_container
                )
            )
        elif kind is ConnectionClosed:
            self._connections.discard(event.label)
            phase = ConnectionPhase.FAILED if event.failure else ConnectionPhase.CLOSED
            events.append(
                ConnectionChanged(event.label, phase, event.inbound, failure=event.failure)
            )
        elif (kind is LinkOpened or kind is LinkClosed) and event.source is not None:
            subscription = self._subscription(event.source)
            if subscription is not None:
                source = self._sources.get(event.source, event.source)
                events.append(
                    SubscriptionChanged(
                        source,
                        subscription.state,
                        subscription.failure,
                        reading=SourceReading.of(subscription),
                    )
                )
        elif kind is FailureReported:
            # What the original logged and went on with: the user hears it once.
            events.append(Notice(explained(event.failure)))

    def _subscription(self, address: str) -> Any:
        for subscription in self.messenger.subscriptions:
            if subscription.address == address:
                return subscription
        return None

    def _stats(self) -> None:
        now = self._clock()
        elapsed = now - self._stats_at
        if elapsed < STATS_INTERVAL:
            return
        received, sent = self._stats_counts
        self._events.append(
            Stats(
                self.messenger.name,
                len(self._connections),
                self._received,
                self._sent,
                (self._received - received) / elapsed,
                (self._sent - sent) / elapsed,
            )
        )
        self._stats_at = now
        self._stats_counts = (self._received, self._sent)

    def _flush(self, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_flush < self._interval:
            return
        at_stake = AtStake(len(self._unanswered), len(self._aborted), len(self._pending_in))
        if at_stake != self._at_stake:
            self._at_stake = at_stake
            self._events.append(at_stake)
        if not self._events:
            return
        batch, self._events = self._events, []
        self._last_flush = now
        self._interval = FLOOD_BATCH_INTERVAL if len(batch) > FLOOD_BATCH_SIZE else BATCH_INTERVAL
        self._emit(batch)

    def _save_unanswered(self, path: str) -> UnansweredSaved:
        """Write the messages no peer answered to ``path`` (nothing when there are none)."""
        status = self.messenger.status
        kept = [
            (data, state)
            for tracker, data in self._unanswered.items()
            if (state := status(tracker)) not in _ANSWERED
        ]
        if not kept:
            return UnansweredSaved(path, 0)
        try:
            records = [
                (decode_message(data), {"unsent": "aborted" if state is ABORTED else "unknown"})
                for data, state in kept
            ]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            save_messages(path, records)
        except (MessageFileError, OSError, SectionError) as error:
            return UnansweredSaved(path, 0, str(error))
        return UnansweredSaved(path, len(kept))

    def _shutdown(self) -> None:
        messenger = self.messenger
        if messenger.stopped:
            return
        try:
            messenger.stop()
            deadline = self._clock() + STOP_GRACE
            while not messenger.stopped and self._clock() < deadline:
                with contextlib.suppress(Interrupt, MessengerException):
                    messenger.work(0.05)
        except MessengerException as failure:
            self._events.append(Notice(f"stopping: {failure}"))
        if self._save_to is not None:
            kept = self.kept = self._save_unanswered(self._save_to)
            self._events.append(kept)
            if kept.problem is None:
                # What they held that is still unanswered is in the new file now.
                for replay in self._replays.values():
                    if not replay.not_put:
                        retire(Path(replay.origin))
