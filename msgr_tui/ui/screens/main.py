"""The main screen: one session, its four panes around one Messenger in a worker thread.

A screen is one session. It owns the bridge it starts, the events of that
bridge come back to it alone, and it never restarts: another profile gets a
fresh MainScreen (the app swaps screens), so nothing of the previous session
(rows, a late event of the old Messenger) can reach the new panes.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from ...bridge import (
    AtStake,
    BridgeEvent,
    BridgeState,
    BridgeStopped,
    Command,
    ConnectionChanged,
    ConnectionPhase,
    Forward,
    IncomingDecided,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    MessengerBridge,
    Notice,
    PutFailed,
    Replay,
    ReplayAnswered,
    RetryScheduled,
    SendMessages,
    Stats,
    Stop,
    SubscriptionChanged,
    TrackerUpdated,
    UnansweredSaved,
)
from ...formatting import count_of, printable
from ...locations import new_recovery_file
from ...messagefile import (
    MessageFileError,
    MessageFileWriter,
    decode_message,
    read_messages,
    save_messages,
)
from ...messenger.address import AddressError, parse_address
from ...recovery import load_recovery_file
from ...settings import Settings
from ...startup_trace import mark
from ..messages import BridgeBatch, CommandRequested, SessionEnded
from ..widgets.compose_pane import ComposePane
from ..widgets.incoming import IncomingPane
from ..widgets.keys_footer import KeysFooter
from ..widgets.outgoing import OutgoingPane, OutgoingRow
from ..widgets.status_bar import StatusBar
from ..widgets.subscriptions import SubscriptionsPane
from ..widgets.virtual_table import VirtualTable

PANES = ("subscriptions", "compose", "incoming", "outgoing")
# The panes' border titles, for their frames in the first frame (see PaneFrame).
PANE_TITLES = {
    "subscriptions": "1 Subscriptions",
    "compose": "2 Compose",
    "incoming": "3 Incoming",
    "outgoing": "4 Outgoing",
}
# Bridge events applied in one turn of the event loop: about 3 ms of a flood's.
BATCH_SLICE = 2_000
# Keys the palette has no entry for: one for the filter field being typed in, one
# with its own older entry ("Accept all pending").
PALETTE_LEAVES_OUT = {"incoming.clear_filter", "incoming.accept_all"}


def destination_problem(address: str) -> str | None:
    """Why messages cannot be sent to ``address``, or None."""
    try:
        parsed = parse_address(address)
    except AddressError as error:
        return str(error)
    if parsed.listen:
        return "'~' means listen; send to host:port without '~'"
    return None


def free_file_problem(answer: str) -> str | None:
    """Why a message file cannot be written at ``answer``, or None."""
    try:
        MessageFileWriter.check_free(Path(answer).expanduser())
    except (OSError, MessageFileError) as error:
        return str(error)
    return None


def readable_problem(answer: str) -> str | None:
    path = Path(answer).expanduser()
    if not path.is_file():
        return f"{path}: no such file"
    return None


def send_plan(typed: str) -> tuple[str | None, float | None]:
    """``ADDRESS``, ``RATE/s``, both or neither: where a file's messages go and how fast."""
    address: str | None = None
    rate: float | None = None
    for word in typed.split():
        if word.endswith("/s"):
            rate = float(word[:-2])
        else:
            address = word
    return address, rate


def plan_problem(typed: str) -> str | None:
    words = typed.split()
    if len(words) > 2:
        return "an address, a rate (10/s), or both"
    try:
        address, rate = send_plan(typed)
    except ValueError:
        return "a rate is a number of messages a second, such as 10/s"
    if rate is not None and rate <= 0:
        return "a rate must be above 0"
    return destination_problem(address) if address else None


class PaneFrame(Widget):
    """Where a pane goes, in the first frame: its border and title, nothing inside.

    The four panes are some forty widgets: mounted before the first frame, they
    kept the screen blank for a fifth of a second. The frames are drawn first and
    the panes take their places right after (MainScreen._mount_panes).
    """

    def __init__(self, pane: Widget, title: str, *, focused: bool = False) -> None:
        super().__init__(classes="-focused" if focused else None)
        self.pane = pane
        # The pane's own (each pane sets it when mounted): the frame must not change it.
        self.border_title = title


def new_message_file_name() -> Path:
    """A file name in the working directory that says when its messages were saved."""
    return Path.cwd() / time.strftime("messages-%Y%m%d-%H%M%S.jsonl")


class MainScreen(Screen[None]):
    """Subscriptions, Compose, Incoming and Outgoing for one Messenger session."""

    # The ids keep their "app." prefix: these keys lived on the App before the
    # main screen had its own class, and users' [keymap] tables name them so.
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: ctrl+s must send even from a TextArea. Only this screen's
        # bindings are live while it is on top, so a modal form (the profile
        # editor) keeps ctrl+s for itself.
        # Not in the footer: the Compose pane's border says it, and 80 columns are few.
        Binding("ctrl+s", "send", "Send", priority=True, show=False, id="app.send"),
        Binding("z", "zoom", "Zoom", id="app.zoom"),
        Binding("escape", "leave_field", "Leave field", show=False, id="app.leave_field"),
        Binding("1", "focus_pane('subscriptions')", "Subs", show=False, id="app.focus_1"),
        Binding("2", "focus_pane('compose')", "Compose", show=False, id="app.focus_2"),
        Binding("3", "focus_pane('incoming')", "Incoming", show=False, id="app.focus_3"),
        Binding("4", "focus_pane('outgoing')", "Outgoing", show=False, id="app.focus_4"),
    ]

    # Zoomed (z), the status line and the keys stay; escape keeps its own meaning
    # (leave a field, clear the filter) and z zooms back out.
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str | None] = "#status, KeysFooter"
    ESCAPE_TO_MINIMIZE: ClassVar[bool | None] = False

    class PanesShown(TextualMessage):
        """The panes are mounted and drawn: the start is over (the app resumes the gc)."""

    at_stake: reactive[AtStake] = reactive(AtStake, always_update=False)
    """What quitting now would leave undone (the bridge says when it changes)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

        self.bridge: MessengerBridge | None = None
        self.bridge_stopped = False
        self._ended = asyncio.Event()
        # Bridge events not applied yet (see _bridge_batch).
        self._backlog: deque[BridgeEvent] = deque()
        self._backlog_scheduled = False
        max_messages = settings.max_messages
        # Built here, not in compose(): the session handles events through
        # them, and they exist (typed) before the screen is mounted.
        self.subscriptions = SubscriptionsPane(id="subscriptions")
        self.compose_pane = ComposePane(address=settings.compose_address or "", id="compose")
        self.incoming = IncomingPane(max_messages=max_messages, id="incoming")
        self.outgoing = OutgoingPane(max_messages=max_messages, id="outgoing")
        self.status_bar = StatusBar(profile=settings.profile, id="status")
        # Until the panes are mounted (just after the first frame), the bridge's
        # batches wait here, in order.
        self.panes_ready = False
        self._panes_asked = False
        self._waiting: list[BridgeBatch] = []
        # What the user asked for before the panes were there (a key pressed on the
        # first frame, a choice in the dialog over it), done once they are.
        self._after_panes: list[Callable[[], object]] = []
        self._handlers: dict[type, Callable[[Any], None]] = {
            SubscriptionChanged: self._subscription_changed,
            ListenerBound: self._listener_bound,
            Stats: self.status_bar.show_stats,
            Notice: self._notice,
            PutFailed: self._put_failed,
            ConnectionChanged: self._connection_changed,
            RetryScheduled: self._retry_scheduled,
            UnansweredSaved: self._unanswered_saved,
            AtStake: self._at_stake_changed,
            ReplayAnswered: self._replay_answered,
            BridgeStopped: self._bridge_stopped,
        }

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield PaneFrame(self.subscriptions, PANE_TITLES["subscriptions"])
                yield PaneFrame(self.compose_pane, PANE_TITLES["compose"])
            with Vertical(id="right"):
                yield PaneFrame(self.incoming, PANE_TITLES["incoming"], focused=True)
                yield PaneFrame(self.outgoing, PANE_TITLES["outgoing"])
        yield self.status_bar
        yield KeysFooter()

    def on_mount(self) -> None:
        mark("main screen mounted")
        # The app's first screen: Textual paints nothing until its start is done,
        # and a callback "after refresh" would come before that paint; the app
        # calls mount_panes_when_drawn once the first frame is out (App.on_ready).
        if getattr(self.app, "first_frame_out", True):
            self.mount_panes_when_drawn()

    def mount_panes_when_drawn(self) -> None:
        """Mount the panes in place of their frames once the frames are on the screen."""
        if not self._panes_asked:
            self._panes_asked = True
            self.call_after_refresh(self._mount_panes)

    async def _mount_panes(self) -> None:
        """The panes in place of their frames, in one update of the screen."""
        frames = list(self.query(PaneFrame))
        with self.app.batch_update():
            for frame in frames:
                parent = frame.parent
                assert isinstance(parent, Widget)
                await parent.mount(frame.pane, after=frame)
            await self.query(PaneFrame).remove()
            self.panes_ready = True
            self.incoming.table.focus()
        mark("panes mounted")
        self.call_after_refresh(self.post_message, self.PanesShown())
        waiting, self._waiting = self._waiting, []
        for batch in waiting:
            self._bridge_batch(batch)
        asked, self._after_panes = self._after_panes, []
        for action in asked:
            action()

    def _panes_or_later(self, action: Callable[[], object]) -> bool:
        """True if the panes are there; else False, and ``action`` is done once they are."""
        if not self.panes_ready:
            self._after_panes.append(action)
        return self.panes_ready

    # -------------------------------------------------------------- session

    @property
    def started(self) -> bool:
        """Whether this session's Messenger was ever started (a screen starts one once)."""
        return self.bridge is not None

    @property
    def running(self) -> bool:
        return self.bridge is not None and not self.bridge_stopped

    def connect(self) -> None:
        """Start this session's Messenger in a worker thread."""
        if self.bridge is not None:
            raise RuntimeError("a main screen runs one session; make a new one to reconnect")
        self.bridge = MessengerBridge(self.settings, self._emit_from_thread)
        self.status_bar.show_state(BridgeState.STARTING)
        self._run_bridge(self.bridge)
        # What exists now (modules, widgets, styles) lives as long as the session: the
        # collector need not walk it again each time a flood's rows make it run.
        gc.freeze()

    def not_connected(self) -> None:
        """No Messenger for this session (a password was not given): say so."""
        self.status_bar.show_state(BridgeState.NOT_CONNECTED)

    def stop(self, save_to: Path | None = None) -> None:
        """Ask the Messenger to close its connections and stop (SessionEnded follows).

        With ``save_to``, the outgoing messages still unanswered after the
        clean close are written there (SessionEnded.kept says how many).
        """
        if self.bridge is not None and not self.bridge_stopped:
            self.status_bar.show_state(BridgeState.STOPPING)
            self.bridge.submit(Stop(str(save_to) if save_to is not None else None))

    async def stop_and_wait(self, timeout: float, save_to: Path | None = None) -> bool:
        """Stop the Messenger; True once it has stopped, False if it did not within ``timeout``."""
        if not self.running:
            return True
        self.stop(save_to)
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def on_unmount(self) -> None:
        # However the screen goes (the app ends, a crash, a test), the worker
        # thread must not outlive it: the interpreter would wait for it forever.
        # A Stop already sent (a quit that chose) decides; else nothing is lost.
        self.stop(save_to=new_recovery_file())

    def end_notes(self) -> list[str]:
        """What the user must hear of how this session ended (empty until it has).

        Read from the bridge itself, so it holds after the app is gone too.
        """
        bridge = self.bridge
        if bridge is None or not bridge.finished.is_set():
            return []
        notes = []
        kept = bridge.kept
        if kept is not None and kept.problem:
            notes.append(f"outgoing messages not answered could not be saved: {kept.problem}")
        elif kept is not None and kept.count:
            notes.append(
                f"{count_of(kept.count, 'outgoing message')} not answered "
                f"{'was' if kept.count == 1 else 'were'} saved to {kept.path}: send them "
                f"again with msgr-tui send --from {kept.path} (or start msgr-tui)"
            )
        if bridge.crash_log is not None:
            notes.append(f"the Messenger thread failed; its traceback is in {bridge.crash_log}")
        return notes

    def wait_ended(self, timeout: float) -> bool:
        """Block until the bridge thread has ended (for after the app: no event loop needed)."""
        return self.bridge is None or self.bridge.finished.wait(timeout)

    def _emit_from_thread(self, events: list[BridgeEvent]) -> None:
        # post_message is thread-safe; one message per batch keeps floods cheap.
        self.post_message(BridgeBatch(events))

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="messenger", description="Messenger"
    )
    def _run_bridge(self, bridge: MessengerBridge) -> None:
        bridge.run()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "messenger" and event.state is WorkerState.ERROR:
            self.notify(f"the Messenger worker failed: {event.worker.error}", severity="error")

    def submit(self, command: Command) -> None:
        if self.bridge is None or self.bridge_stopped:
            self.notify("the Messenger is not running", severity="error")
            return
        self.bridge.submit(command)

    @on(CommandRequested)
    def _command_requested(self, event: CommandRequested) -> None:
        event.stop()
        self.submit(event.command)

    # --------------------------------------------------------------- events

    @on(BridgeBatch)
    def _bridge_batch(self, batch: BridgeBatch) -> None:
        if not self.panes_ready:
            self._waiting.append(batch)
            return
        # A flood's batch holds thousands of events: applied a slice at a time, each
        # slice its own turn of the event loop, so that a key pressed meanwhile is
        # handled between two slices, not after the whole batch. Events wait in one
        # queue, in the order they came, whatever batches come meanwhile.
        self._backlog.extend(batch.events)
        if not self._backlog_scheduled:  # else the next slice is already on its way
            self._apply_backlog()

    def _apply_backlog(self) -> None:
        self._backlog_scheduled = False
        backlog = self._backlog
        if len(backlog) <= BATCH_SLICE:
            events = list(backlog)
            backlog.clear()
        else:
            events = [backlog.popleft() for _ in range(BATCH_SLICE)]
            self._backlog_scheduled = True
            self.call_later(self._apply_backlog)
        if events:
            self._apply(events)

    def _apply(self, events: list[BridgeEvent]) -> None:
        incoming = self.incoming
        outgoing = self.outgoing
        arrived: list[MessageArrived] = []
        # Applied after the arrivals of the batch: a decision always follows
        # its message's arrival, and adding rows once per batch (not once per
        # decision) keeps a flood at one table update per frame.
        decided: list[IncomingDecided] = []
        outgoing_changed = False
        others = False
        for event in events:
            kind = type(event)
            if kind is MessageArrived:
                arrived.append(event)
            elif kind is IncomingDecided:
                decided.append(event)
            elif kind is MessageQueued:
                outgoing.add(OutgoingRow(event.tracker, event.at, event.address, event.subject))
                self.compose_pane.sent(event.address)
                outgoing_changed = True
            elif kind is TrackerUpdated:
                outgoing.set_status(event.tracker, event.status)
                outgoing_changed = True
            else:
                self._handlers[kind](event)
                others = True
        if arrived or decided:
            incoming.add_messages(arrived, decided)
        if outgoing_changed:
            outgoing.changed()
        if others and not self.bridge_stopped:
            self.status_bar.show_state(BridgeState.RUNNING)

    def _subscription_changed(self, event: SubscriptionChanged) -> None:
        self.subscriptions.update_source(
            event.source, event.state, event.failure, event.connect_address, event.reading
        )

    def _listener_bound(self, event: ListenerBound) -> None:
        self.status_bar.show_listening(event.connect_address)
        if event.note:
            self.notify(printable(event.note), severity="warning", timeout=10)
        if self.settings.compose_address is None:
            self.compose_pane.set_address(event.connect_address)

    def _notice(self, event: Notice) -> None:
        self.notify(printable(event.text), severity=event.severity.value, timeout=10)

    def _put_failed(self, event: PutFailed) -> None:
        self.compose_pane.show_error(event.error, event.field)

    def _connection_changed(self, event: ConnectionChanged) -> None:
        # A failure is told once, by the bridge's Notice (or by the retry).
        if event.phase is ConnectionPhase.OPEN:
            self.status_bar.connected(event.label)

    def _retry_scheduled(self, event: RetryScheduled) -> None:
        if event.attempt == 1:
            self.notify(
                printable(
                    f"{event.label}: {event.reason or 'connection lost'}; retrying "
                    f"({count_of(event.messages, 'message')}, "
                    f"{count_of(event.subscriptions, 'subscription')} wait)"
                ),
                severity="warning",
                timeout=10,
            )
        self.status_bar.show_retry(event)

    def _bridge_stopped(self, event: BridgeStopped) -> None:
        self.bridge_stopped = True
        self.status_bar.show_state(BridgeState.STOPPED)
        if event.error:
            where = f"; its traceback is in {event.crash_log}" if event.crash_log else ""
            self.notify(
                f"the Messenger stopped: {printable(event.error)}{printable(where)}",
                severity="error",
                timeout=30,
            )
        self._ended.set()
        if self.bridge is not None:
            self.bridge.finished.wait(1.0)  # set right after this event was sent
        self.post_message(SessionEnded(self.end_notes(), id(self)))

    def _unanswered_saved(self, event: UnansweredSaved) -> None:
        """Told with the session's end notes (read from the bridge, see end_notes)."""

    def _at_stake_changed(self, event: AtStake) -> None:
        self.at_stake = event

    def _replay_answered(self, event: ReplayAnswered) -> None:
        others = event.count - event.accepted
        outcome = "all accepted" if not others else f"{event.accepted} accepted, {others} not"
        self.notify(
            printable(
                f"{count_of(event.count, 'message')} of {Path(event.origin).name} answered "
                f"({outcome}): the recovery file is removed"
            ),
            timeout=10,
        )

    # ------------------------------------------------------ recovery files

    def send_again(self, path: Path) -> bool:
        """Send a recovery file's messages again; False (the user is told) if it cannot be read."""
        if not self._panes_or_later(lambda: self.send_again(path)):
            return True  # tried once the panes are there
        try:
            messages = load_recovery_file(path)
        except MessageFileError as error:
            self.notify(f"{printable(str(error))} (the file is kept)", severity="error")
            return False
        self.outgoing.release_held(path)
        self.submit(Replay(str(path), tuple(messages)))
        return True

    def hold(self, path: Path) -> bool:
        """Show a recovery file's messages in Outgoing, held (``r`` there sends them)."""
        if not self._panes_or_later(lambda: self.hold(path)):
            return True  # tried once the panes are there
        try:
            messages = load_recovery_file(path)
        except MessageFileError as error:
            self.notify(f"{printable(str(error))} (the file is kept)", severity="error")
            return False
        at = path.stat().st_mtime if path.exists() else 0.0
        self.outgoing.hold(
            [
                OutgoingRow(None, at, message.address, message.subject, held_from=path)
                for message in messages
            ]
        )
        return True

    # The dialogs (AskScreen, DetailScreen) are imported when first asked for: the
    # first frame needs neither.

    @on(OutgoingPane.SendHeldRequested)
    def _send_held(self, event: OutgoingPane.SendHeldRequested) -> None:
        event.stop()
        self.send_again(event.origin)

    @on(IncomingPane.ForwardRequested)
    def _forward_requested(self, event: IncomingPane.ForwardRequested) -> None:
        """Ask where to, then put the copies (a move accepts each original after its copy)."""
        event.stop()
        from .ask import AskScreen

        rows, move = event.rows, event.move
        verb = "Move" if move else "Copy"
        what = count_of(len(rows), "message")
        how = (
            "Each is accepted here once its copy is ACCEPTED there; a refused copy leaves "
            "its original pending."
            if move
            else "The originals stay as they are."
        )

        def chosen(destination: str | None) -> None:
            if destination is None:
                return
            originals = tuple((row.arrival.tracker, row.arrival.message) for row in rows)
            self.submit(Forward(originals, destination, move=move))
            self.compose_pane.sent(destination)
            self.incoming.clear_marks()
            self.notify(printable(f"{what} {'moving' if move else 'copied'} to {destination}"))

        self.app.push_screen(
            AskScreen(
                f"{verb} {what}",
                f"{verb} {what} to which address? {how}",
                suggestions=self.compose_pane.recent,
                check=destination_problem,
            ),
            chosen,
        )

    @on(IncomingPane.SaveRequested)
    def _save_requested(self, event: IncomingPane.SaveRequested) -> None:
        event.stop()
        from .ask import AskScreen

        rows = event.rows
        what = count_of(len(rows), "message")

        def chosen(answer: str | None) -> None:
            if answer is None:
                return
            path = Path(answer).expanduser()
            records = [
                (decode_message(row.arrival.message.to_message().encode()), {}) for row in rows
            ]
            try:
                save_messages(path, records)
            except (OSError, MessageFileError) as error:
                self.notify(printable(f"{path}: not saved: {error}"), severity="error")
                return
            self.notify(printable(f"{what} saved to {path}"))

        self.app.push_screen(
            AskScreen(
                f"Save {what}",
                f"Save {what} to which message file? (msgr-tui send --from FILE sends them)",
                value=str(new_message_file_name()),
                check=free_file_problem,
            ),
            chosen,
        )

    @on(ComposePane.SendFileRequested)
    def _send_file_requested(self, event: ComposePane.SendFileRequested) -> None:
        """Which file, then where to and how fast; the bridge puts them (paced)."""
        event.stop()
        from .ask import AskScreen

        def file_chosen(answer: str | None) -> None:
            if answer is None:
                return
            path = Path(answer).expanduser()
            try:
                count = sum(1 for _ in read_messages(path))  # every line read: a bad one says
            except MessageFileError as error:
                self.notify(printable(str(error)), severity="error")
                return
            what = count_of(count, "message")
            self.app.push_screen(
                AskScreen(
                    f"Send {what} of {path.name}",
                    f"Send {what} where, and how fast? An address sends them all there, "
                    "nothing each to its own; a rate such as 10/s after it paces them "
                    "(e.g. `amqp://host/q 10/s`, or `10/s` alone).",
                    check=lambda typed: plan_problem(typed),
                    allow_empty=True,
                ),
                lambda typed: self._send_file(path, typed),
            )

        self.app.push_screen(
            AskScreen("Send a message file", "Which message file?", check=readable_problem),
            file_chosen,
        )

    def _send_file(self, path: Path, typed: str | None) -> None:
        if typed is None:
            return
        address, rate = send_plan(typed)
        try:
            messages = load_recovery_file(path, address=address)
        except MessageFileError as error:
            self.notify(printable(str(error)), severity="error")
            return
        self.submit(SendMessages(tuple(messages), rate))
        pace = f", {rate:g} a second" if rate else ""
        where = f"to {address}" if address else "each to its own address"
        self.notify(printable(f"sending {count_of(len(messages), 'message')} {where}{pace}"))

    @on(IncomingPane.ComposeRequested)
    def _compose_requested(self, event: IncomingPane.ComposeRequested) -> None:
        event.stop()
        arrival = event.row.arrival
        if event.reply:
            self.compose_pane.reply_to(arrival.message, arrival.seq)
        elif not self.compose_pane.load(arrival.message, arrival.seq):
            return
        if self.maximized is not None:
            self.maximize(self.compose_pane, container=False)
        self.compose_pane.query_one("#body" if event.reply else "#subject").focus()

    @on(IncomingPane.DetailsRequested)
    def _details(self, event: IncomingPane.DetailsRequested) -> None:
        from .detail import DetailScreen

        self.app.push_screen(DetailScreen(event.arrival, event.state))

    # -------------------------------------------------------------- actions

    def action_send(self) -> None:
        if self._panes_or_later(self.action_send):
            self.compose_pane.submit()

    def action_focus_pane(self, pane: str) -> None:
        if not self._panes_or_later(lambda: self.action_focus_pane(pane)):
            return
        targets: dict[str, Callable[[], Widget]] = {
            "subscriptions": lambda: self.subscriptions.table,
            "compose": lambda: self.compose_pane.query_one("#address", Input),
            "incoming": lambda: self.incoming.table,
            "outgoing": lambda: self.outgoing.table,
        }
        target = targets[pane]()
        if self.maximized is not None:
            # Zoomed: the pane asked for takes the screen (hidden ones cannot take focus).
            self.maximize(self._pane_of(target) or target, container=False)
        target.focus()

    @property
    def zoomed(self) -> Widget | None:
        """The pane shown on the whole screen, if one is."""
        return self.maximized

    def _pane_of(self, widget: Widget | None) -> Widget | None:
        panes = (self.subscriptions, self.compose_pane, self.incoming, self.outgoing)
        while widget is not None and widget not in panes:
            parent = widget.parent
            widget = parent if isinstance(parent, Widget) else None
        return widget

    def action_zoom(self) -> None:
        """The focused pane on the whole screen (the status line and keys stay), or back."""
        if self.maximized is not None:
            self.minimize()
            return
        pane = self._pane_of(self.focused)
        if pane is not None:
            self.maximize(pane, container=False)

    def action_leave_field(self) -> None:
        focused = self.focused
        if isinstance(focused, (Input, TextArea)):
            pane = focused.parent
            while pane is not None and not isinstance(
                pane, (ComposePane, SubscriptionsPane, IncomingPane)
            ):
                pane = pane.parent
            if isinstance(pane, ComposePane):
                pane.focus()
            elif pane is not None:
                pane.query_one(VirtualTable).focus()

    def system_commands(self) -> Iterable[SystemCommand]:
        """This screen's entries in the command palette (the app adds them when it is on top)."""
        yield SystemCommand("Send message", "Send the message in Compose", self.action_send)
        yield SystemCommand(
            "Forget what the edited message kept",
            "Compose sends plain form messages again (no kept annotations or properties)",
            self.compose_pane.forget_kept,
        )
        # Every Incoming key has its entry, named as the key's description.
        incoming = self.incoming
        for binding in IncomingPane.BINDINGS:
            if isinstance(binding, Binding) and binding.id not in PALETTE_LEAVES_OUT:
                action = getattr(incoming, f"action_{binding.action}")
                yield SystemCommand(
                    f"Incoming: {binding.description}", f"key {binding.key}", action
                )
        yield SystemCommand(
            "Accept all pending",
            "Accept every pending incoming message",
            self.incoming.action_accept_all,
        )
        for number, pane in enumerate(PANES, 1):
            yield SystemCommand(
                f"Focus {pane}",
                f"Move to the {pane} pane (key {number})",
                lambda pane=pane: self.action_focus_pane(pane),
            )
