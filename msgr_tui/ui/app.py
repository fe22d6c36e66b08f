"""The msgr-tui application: four panes around one Messenger running in a worker thread."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, TextArea
from textual.worker import Worker, WorkerState

from ..bridge import (
    BridgeEvent,
    BridgeState,
    BridgeStopped,
    Command,
    ConnectionChanged,
    ConnectionPhase,
    IncomingDecided,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    MessengerBridge,
    Notice,
    PutFailed,
    RetryScheduled,
    Stats,
    SubscriptionChanged,
    TrackerUpdated,
)
from ..formatting import printable
from ..profiles import ProfileSession
from ..settings import Settings
from .help_text import help_markdown, known_binding_ids
from .messages import BridgeBatch, CommandRequested
from .profile_switch import ProfileSwitcher
from .screens.detail import DetailScreen
from .screens.help import HelpScreen
from .themes import ThemeFailure, load_themes
from .widgets.compose_pane import ComposePane
from .widgets.incoming import IncomingPane
from .widgets.outgoing import OutgoingPane, OutgoingRow
from .widgets.status_bar import StatusBar
from .widgets.subscriptions import SubscriptionsPane
from .widgets.virtual_table import VirtualTable

DEFAULT_THEME = "msgr-dark"
QUIT_GRACE = 6.0

BridgeFactory = Callable[[Settings, Callable[[list[BridgeEvent]], None]], MessengerBridge]


class MsgrTuiApp(App[None]):
    """Subscriptions, Compose, Incoming and Outgoing on one screen."""

    TITLE = "msgr-tui"
    CSS_PATH: ClassVar[list[str]] = [
        "app.tcss",
        "widgets/panes.tcss",
        "widgets/compose_pane.tcss",
        "screens/screens.tcss",
        "screens/profiles.tcss",
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("ctrl+s", "send", "Send", priority=True, id="app.send"),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("f2", "profiles", "Profiles", id="app.profiles"),
        Binding("escape", "leave_field", "Leave field", show=False, id="app.leave_field"),
        Binding("1", "focus_pane('subscriptions')", "Subs", show=False, id="app.focus_1"),
        Binding("2", "focus_pane('compose')", "Compose", show=False, id="app.focus_2"),
        Binding("3", "focus_pane('incoming')", "Incoming", show=False, id="app.focus_3"),
        Binding("4", "focus_pane('outgoing')", "Outgoing", show=False, id="app.focus_4"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        bridge_factory: BridgeFactory | None = None,
        notices: Iterable[str] = (),
        start_messenger: bool = True,
        profiles: ProfileSession | None = None,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._bridge_factory = bridge_factory or MessengerBridge
        self._start_messenger = start_messenger
        self._startup_notices = list(notices)
        self.bridge: MessengerBridge | None = None
        self._quitting = False
        self.bridge_stopped = False
        self.theme_failures: list[ThemeFailure] = []
        # Binding id -> keys, from the config file's [keymap]; the help shows it.
        self.keymap = dict(keymap or {})
        self.profile_switcher = ProfileSwitcher(self, profiles) if profiles is not None else None

    # --------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        max_messages = self.settings.max_messages
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield SubscriptionsPane(id="subscriptions")
                yield ComposePane(address=self.settings.compose_address or "", id="compose")
            with Vertical(id="right"):
                yield IncomingPane(max_messages=max_messages, id="incoming")
                yield OutgoingPane(max_messages=max_messages, id="outgoing")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        themes, failures = load_themes()
        for theme in themes:
            self.register_theme(theme)
        self.theme_failures = failures
        if failures:
            self.notify(
                "\n".join(printable(str(failure)) for failure in failures),
                title="Some themes could not be loaded",
                severity="warning",
                timeout=15,
            )
        wanted = self.settings.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            available = ", ".join(sorted(self.available_themes))
            self.notify(f"theme {wanted!r} not found; available: {available}", severity="warning")
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME
        for notice in self._startup_notices:
            self.notify(printable(notice), severity="warning", timeout=15)
        self._apply_keymap()
        self._keep_panes_at_hand()
        if self._start_messenger:
            if self.profile_switcher is not None:
                self.profile_switcher.connect_at_start()  # may ask for a password first
            else:
                self.start_bridge()

    def _apply_keymap(self) -> None:
        if not self.keymap:
            return
        unknown = sorted(set(self.keymap) - known_binding_ids(self))
        if unknown:
            self.notify(
                f"[keymap] has unknown binding ids: {', '.join(unknown)} (F1 lists them)",
                severity="warning",
                timeout=15,
            )
        self.set_keymap(self.keymap)

    def _keep_panes_at_hand(self) -> None:
        # Modal screens hide the main one from query_one: keep the panes at hand.
        self.subscriptions = self.query_one(SubscriptionsPane)
        self.compose_pane = self.query_one(ComposePane)
        self.incoming = self.query_one(IncomingPane)
        self.outgoing = self.query_one(OutgoingPane)
        self.status_bar = self.query_one(StatusBar)
        self.incoming.table.focus()

    # --------------------------------------------------------------- bridge

    def start_bridge(self) -> None:
        self.bridge = self._bridge_factory(self.settings, self._emit_from_thread)
        self.status_bar.show_state(BridgeState.STARTING)
        self._run_bridge(self.bridge)

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
        self.submit(event.command)

    @on(BridgeBatch)
    def _bridge_batch(self, batch: BridgeBatch) -> None:
        incoming = self.incoming
        outgoing = self.outgoing
        arrived: list[MessageArrived] = []
        # Applied after the arrivals of the batch: a decision always follows
        # its message's arrival, and adding rows once per batch (not once per
        # decision) keeps a flood at one table update per frame.
        decided: list[IncomingDecided] = []
        outgoing_changed = False
        others = False
        for event in batch.events:
            kind = type(event)
            if kind is MessageArrived:
                arrived.append(event)
            elif kind is IncomingDecided:
                decided.append(event)
            elif kind is MessageQueued:
                outgoing.add(OutgoingRow(event.tracker, event.at, event.address, event.subject))
                outgoing_changed = True
            elif kind is TrackerUpdated:
                outgoing.set_status(event.tracker, event.status)
                outgoing_changed = True
            else:
                self._event_handlers[kind](event)
                others = True
        if arrived:
            incoming.add_messages(arrived)
        for decision in decided:
            incoming.set_state(decision.tracker, decision.outcome, decision.automatic)
        if decided:
            incoming.states_changed()
        if outgoing_changed:
            outgoing.changed()
        if others and not self.bridge_stopped:
            self.status_bar.show_state(BridgeState.RUNNING)

    @property
    def _event_handlers(self) -> dict[type, Callable[[Any], None]]:
        return {
            SubscriptionChanged: self._subscription_changed,
            ListenerBound: self._listener_bound,
            Stats: self.status_bar.show_stats,
            Notice: self._notice,
            PutFailed: lambda event: self.compose_pane.show_error(event.error, event.field),
            ConnectionChanged: self._connection_changed,
            RetryScheduled: self._retry_scheduled,
            BridgeStopped: self._bridge_stopped,
        }

    def _subscription_changed(self, event: SubscriptionChanged) -> None:
        self.subscriptions.update_source(
            event.source, event.state, event.failure, event.connect_address
        )

    def _listener_bound(self, event: ListenerBound) -> None:
        self.status_bar.show_listening(event.connect_address)
        if event.note:
            self.notify(printable(event.note), severity="warning", timeout=10)
        if self.settings.compose_address is None:
            self.compose_pane.set_address(event.connect_address)

    def _notice(self, event: Notice) -> None:
        self.notify(printable(event.text), severity=event.severity.value, timeout=10)

    def _connection_changed(self, event: ConnectionChanged) -> None:
        # A failure is told once, by the bridge's Notice (or by the retry).
        if event.phase is ConnectionPhase.OPEN:
            self.status_bar.connected(event.label)

    def _retry_scheduled(self, event: RetryScheduled) -> None:
        if event.attempt == 1:
            self.notify(
                printable(
                    f"{event.label}: {event.reason or 'connection lost'}; retrying "
                    f"({event.messages} messages, {event.subscriptions} subscriptions wait)"
                ),
                severity="warning",
                timeout=10,
            )
        self.status_bar.show_retry(event)

    def _bridge_stopped(self, event: BridgeStopped) -> None:
        self.bridge_stopped = True
        if self.profile_switcher is not None:
            self.profile_switcher.bridge_stopped()
        self.status_bar.show_state(BridgeState.STOPPED)
        if event.error:
            self.notify(f"the Messenger stopped: {printable(event.error)}", severity="error")
        if self._quitting:
            self.exit()

    # -------------------------------------------------------------- actions

    def action_send(self) -> None:
        compose = self.compose_pane
        compose.submit()

    def action_focus_pane(self, pane: str) -> None:
        targets: dict[str, Callable[[], Widget]] = {
            "subscriptions": lambda: self.subscriptions.table,
            "compose": lambda: self.compose_pane.query_one("#address", Input),
            "incoming": lambda: self.incoming.table,
            "outgoing": lambda: self.outgoing.table,
        }
        targets[pane]().focus()

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

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_markdown(self)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # ctrl+s sends from Compose only while the main screen shows; a modal form
        # (the profile editor) saves with the same key.
        return not (action == "send" and len(self.screen_stack) > 1)

    def action_profiles(self) -> None:
        if self.profile_switcher is None:
            self.notify("no config file in use: start msgr-tui from the command line")
            return
        self.profile_switcher.open_profiles()

    async def restart_with(self, settings: Settings) -> None:
        """A fresh session on other settings: new panes, then a new Messenger.

        The previous Messenger must have stopped (its BridgeStopped handled).
        """
        self.settings = settings
        await self.recompose()
        self._keep_panes_at_hand()
        if settings.theme and settings.theme in self.available_themes:
            self.theme = settings.theme
        self.bridge_stopped = False
        self.start_bridge()

    @on(IncomingPane.DetailsRequested)
    def _details(self, event: IncomingPane.DetailsRequested) -> None:
        self.push_screen(DetailScreen(event.arrival, event.state))

    async def action_quit(self) -> None:
        """Stop the Messenger cleanly (closing its connections), then exit."""
        if self._quitting:
            self.exit()  # second ctrl+q: do not wait any longer
            return
        self._quitting = True
        if self.bridge is None or self.bridge_stopped:
            self.exit()
            return
        self.status_bar.show_state(BridgeState.STOPPING)
        self.bridge.stop()
        self.set_timer(QUIT_GRACE, self.exit)

    def on_unmount(self) -> None:
        # However the app ends (a crash, a test, a second ctrl+q), the worker
        # thread must not outlive it: the interpreter would wait for it forever.
        if self.bridge is not None and not self.bridge_stopped:
            self.bridge.stop()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Send message", "Send the message in Compose", self.action_send)
        yield SystemCommand(
            "Accept all pending",
            "Accept every pending incoming message",
            self.incoming.action_accept_all,
        )
        for number, pane in enumerate(("subscriptions", "compose", "incoming", "outgoing"), 1):
            yield SystemCommand(
                f"Focus {pane}",
                f"Move to the {pane} pane (key {number})",
                lambda pane=pane: self.action_focus_pane(pane),
            )
