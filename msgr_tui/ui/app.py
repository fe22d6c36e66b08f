"""The msgr-tui application: what is app-wide (themes, keymap, quitting, profiles)
around one MainScreen per Messenger session."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen

from ..crashes import write_crash_log
from ..formatting import printable
from ..installation import missing_tls_notice
from ..locations import new_recovery_file
from ..profiles import ProfileSession
from ..recovery import RecoveryFile, find_recovery_files
from ..settings import Settings
from ..startup_trace import mark
from ..startup_trace import write as write_marks
from .help_text import help_markdown, known_binding_ids
from .messages import SessionEnded
from .profile_switch import ProfileSwitcher
from .screens.main import MainScreen
from .themes import load_themes

if TYPE_CHECKING:
    from .screens.quit import QuitDecision

# The modal screens are imported when first shown, not at start: the first
# frame needs none of them.

DEFAULT_THEME = "msgr-dark"
QUIT_GRACE = 6.0
# Told to stop (SIGTERM) or the terminal went away (SIGHUP): quit as ctrl+q does.
QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _TerminalOutput:
    """The terminal stream, for Textual's writer thread: a write that fails is dropped.

    When the terminal goes away (an SSH session dropped: SIGHUP), every write
    fails with EIO. Textual's writer thread dies at the first, its queue fills,
    and the app hangs for ever on its way out, after the session was saved but
    before it exits. Dropped here, the app quits as the signal asks.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError):
            return self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _surviving_hang_up(driver_class: type[Driver]) -> type[Driver]:
    """``driver_class`` writing through :class:`_TerminalOutput` (if it has a stream)."""

    class SurvivingHangUp(driver_class):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            stream = getattr(self, "_file", None)  # Textual's LinuxDriver writes to it
            if stream is not None and hasattr(stream, "write"):
                self._file = _TerminalOutput(stream)

    SurvivingHangUp.__name__ = SurvivingHangUp.__qualname__ = driver_class.__name__
    return SurvivingHangUp


class MsgrTuiApp(App[None]):
    """The app: a MainScreen for the session, modal screens over it."""

    TITLE = "msgr-tui"
    # One list, read once at start: the main screen's layout, the panes' look,
    # the modal screens'. Every session's fresh MainScreen finds them loaded.
    CSS_PATH: ClassVar[list[str]] = [
        "screens/main.tcss",
        "widgets/panes.tcss",
        "widgets/compose_pane.tcss",
        "screens/screens.tcss",
        "screens/profiles.tcss",
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        # Not in the footer, which at 80 columns has room for the keys of the pane
        # in use: the help and the command palette offer it.
        Binding("f2", "profiles", "Profiles", show=False, id="app.profiles"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        notices: Iterable[str] = (),
        recovered: Iterable[RecoveryFile] | None = None,
        start_messenger: bool = True,
        profiles: ProfileSession | None = None,
        keymap: dict[str, str] | None = None,
        on_shown: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._main = MainScreen(settings)
        self._start_messenger = start_messenger
        self._startup_notices = list(notices)
        # Recovery files earlier runs left: offered once the session is up.
        self._recovered = list(recovered) if recovered is not None else None
        self._recovery_offered = False
        self._quitting = False
        # 128 + the signal that ended the app (SIGTERM, SIGHUP), for the shell.
        self.signal_exit_code: int | None = None
        # What the user must know once the screen is gone (printed after the app
        # ends): where the outgoing messages nobody answered were kept.
        self.exit_notes: list[str] = []
        self._told: set[int] = set()  # sessions whose end notes are in exit_notes
        # Called once the main screen is drawn with its panes (the command line
        # resumes the gc).
        self._on_shown = on_shown
        # Binding id -> keys, from the config file's [keymap]; the help shows it.
        self.keymap = dict(keymap or {})
        self.profile_switcher = ProfileSwitcher(self, profiles) if profiles is not None else None
        # Whether Textual has painted its first frame (on_ready): the main screen
        # mounts its panes only then.
        self.first_frame_out = False
        # Here, not once mounted: a theme set later styles every widget a second time.
        self._theme_notices = self._choose_theme(self.settings.theme or DEFAULT_THEME)

    # ------------------------------------------------------------- session

    @property
    def main_screen(self) -> MainScreen:
        """The screen of the current session (modal screens may cover it)."""
        return self._main

    @property
    def quitting(self) -> bool:
        """Whether the app is on its way out (a quit was decided or a signal came)."""
        return self._quitting

    @property
    def settings(self) -> Settings:
        """The current session's settings."""
        return self._main.settings

    async def begin_session(self, settings: Settings) -> None:
        """Run a Messenger on ``settings``: in the current screen if it never ran one
        with other settings, else in a fresh MainScreen that replaces it.

        A running session must have been ended first (:meth:`end_session`).
        """
        main = self._main
        if main.running:
            raise RuntimeError("end the running session before beginning another")
        if main.started or main.settings != settings:
            main = MainScreen(settings)
            # Modal screens over the old session (help opened meanwhile) go with it.
            while self._main in self.screen_stack and self.screen is not self._main:
                await self.pop_screen()
            self._main = main
            await self.switch_screen(main)
            if settings.theme and settings.theme in self.available_themes:
                self.theme = settings.theme
        main.connect()
        self._offer_recovered()

    async def end_session(self, timeout: float) -> bool:
        """Stop the current Messenger cleanly; False if it did not stop within ``timeout``.

        Outgoing messages it leaves unanswered go to a recovery file.
        """
        return await self._main.stop_and_wait(timeout, save_to=new_recovery_file())

    def not_connected(self) -> None:
        """The session could not start (no password given): the status bar says so."""
        self._main.not_connected()

    # --------------------------------------------------------------- start

    async def on_mount(self) -> None:
        mark("app mounting")
        for title, notice in self._theme_notices:
            self.notify(notice, title=title, severity="warning", timeout=15)
        tls_notice = missing_tls_notice()
        if tls_notice is not None:
            self._startup_notices.append(tls_notice)
        for notice in self._startup_notices:
            self.notify(printable(notice), severity="warning", timeout=15)
        self._apply_keymap()
        self._install_signal_handlers()
        # Pushed, not the default screen: Textual cannot switch away from that one.
        await self.push_screen(self._main)
        mark("main screen pushed")
        if self._start_messenger:
            if self.profile_switcher is not None:
                self.profile_switcher.connect_at_start()  # may ask for a password first
            else:
                self._main.connect()
        self._offer_recovered()

    def on_ready(self) -> None:
        # Textual's word that the first frame is out (after its start, which it
        # paints in one go): now the main screen's panes may come in.
        self.first_frame_out = True
        mark("first frame out")
        self._main.mount_panes_when_drawn()

    @on(MainScreen.PanesShown)
    def _shown(self) -> None:
        mark("panes drawn")
        write_marks()
        on_shown, self._on_shown = self._on_shown, None  # once: the next sessions' too
        if on_shown is not None:
            on_shown()

    def _choose_theme(self, wanted: str) -> list[tuple[str, str]]:
        """Register the themes and start on ``wanted``; what to tell the user (title, text)."""
        themes, failures = load_themes()
        for theme in themes:
            self.register_theme(theme)
        notices = []
        if failures:
            listed = "\n".join(printable(str(failure)) for failure in failures)
            notices.append(("Some themes could not be loaded", listed))
        if wanted not in self.available_themes:
            available = ", ".join(sorted(self.available_themes))
            notices.append(("", f"theme {wanted!r} not found; available: {available}"))
            wanted = DEFAULT_THEME
        if wanted in self.available_themes:
            # Before the start, the restyle this queues parses the stylesheet once with
            # the theme's variables, before any widget is styled.
            self.theme = wanted
        return notices

    def _offer_recovered(self) -> None:
        """Once a session runs (a password may be asked first): offer what earlier runs left."""
        if self._recovery_offered or not self._main.running:
            return
        self._recovery_offered = True
        found = self._recovered
        if found is None:
            found = find_recovery_files()
        if not found:
            return
        from .screens.recovered import RecoveryChoice, RecoveryScreen

        def chosen(choice: RecoveryChoice | None) -> None:
            readable = [item.path for item in found if item.problem is None]
            if choice is RecoveryChoice.SEND:
                for path in readable:
                    self._main.send_again(path)
            elif choice is RecoveryChoice.OPEN:
                for path in readable:
                    self._main.hold(path)
                self._main.action_focus_pane("outgoing")

        self.push_screen(RecoveryScreen(found), chosen)

    def get_driver_class(self) -> type[Driver]:
        return _surviving_hang_up(super().get_driver_class())

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in QUIT_SIGNALS:
            # Only possible in the main thread (a test may run the app elsewhere).
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self._signalled, number)

    def _apply_keymap(self) -> None:
        if not self.keymap:
            return
        unknown = sorted(set(self.keymap) - known_binding_ids(type(self)))
        if unknown:
            self.notify(
                f"[keymap] has unknown binding ids: {', '.join(unknown)} (F1 lists them)",
                severity="warning",
                timeout=15,
            )
        self.set_keymap(self.keymap)

    # ------------------------------------------------------------- actions

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(help_markdown(type(self), self.keymap)))

    def action_profiles(self) -> None:
        if self.profile_switcher is None:
            self.notify("no config file in use: start msgr-tui from the command line")
            return
        self.profile_switcher.open_profiles()

    def action_quit(self) -> None:
        """Quit: at once when nothing is at stake, else after asking (QuitScreen).

        Quitting closes every connection cleanly (undecided incoming messages
        go back to their senders) and keeps the outgoing messages nobody
        answered in a recovery file, unless the user chose otherwise.
        """
        if self._quitting:
            self._end_app()  # ctrl+q again while stopping: do not wait any longer
            return
        from .screens.quit import QuitScreen

        if isinstance(self.screen, QuitScreen):
            return  # already asking
        if self._main.running and self._main.at_stake:
            self.push_screen(QuitScreen(self._main), self._quit_decided)
            return
        self._stop_and_quit(new_recovery_file())

    def _quit_decided(self, decision: QuitDecision | None) -> None:
        if decision is not None:
            self._stop_and_quit(decision.save_to)

    def _stop_and_quit(self, save_to: Path | None) -> None:
        self._quitting = True
        if not self._main.running:
            self._end_app()
            return
        self._main.stop(save_to=save_to)
        self.set_timer(QUIT_GRACE, self._end_app)

    def _signalled(self, number: int) -> None:
        """SIGTERM or SIGHUP (the SSH session went away): quit, keeping what is at stake."""
        self.signal_exit_code = 128 + number
        if not self._quitting:
            self._stop_and_quit(new_recovery_file())

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook for an exception nothing handled (it then exits): first
        # keep the traceback and what is at stake, as a quit would.
        crash_log = write_crash_log(error, "the UI")
        where = f"; the traceback is in {crash_log}" if crash_log is not None else ""
        self.exit_notes.append(f"msgr-tui failed: {type(error).__name__}: {error}{where}")
        self._main.stop(save_to=new_recovery_file())
        super()._handle_exception(error)

    def closing_notes(self, timeout: float) -> list[str]:
        """Every note the user must read once the app has ended (call after ``run``).

        Waits up to ``timeout`` for the session's Messenger to finish its clean
        close, which may outlive the screen (a crash, a second ctrl+q).
        """
        main = self._main
        if not main.wait_ended(timeout):
            self.exit_notes.append(
                "the Messenger did not finish closing in time; outgoing messages not "
                "answered may not have been saved"
            )
        if id(main) not in self._told:
            self._told.add(id(main))
            self.exit_notes.extend(main.end_notes())
        return list(self.exit_notes)

    def _end_app(self) -> None:
        self.exit(return_code=self.signal_exit_code or 0)

    @on(SessionEnded)
    def _session_ended(self, event: SessionEnded) -> None:
        if event.session not in self._told:
            self._told.add(event.session)
            for note in event.notes:
                self.exit_notes.append(note)
                self.notify(printable(note), severity="warning", timeout=30)
        if self._quitting:
            self._end_app()

    def on_unmount(self) -> None:
        # The screen stops its Messenger when it goes; this covers an app that
        # ends before the screen was ever mounted.
        self._main.stop()
        loop = asyncio.get_running_loop()
        for number in QUIT_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # Sending or accepting from the palette opened over a modal form would
        # act on panes the user cannot see: only the main screen offers them.
        if isinstance(screen, MainScreen):
            yield from screen.system_commands()
