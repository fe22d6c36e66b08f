"""The msgr-tui application: what is app-wide (themes, keymap, quitting, profiles)
around one MainScreen per Messenger session."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from ..formatting import printable
from ..locations import new_recovery_file
from ..profiles import ProfileSession
from ..settings import Settings
from .help_text import help_markdown, known_binding_ids
from .messages import SessionEnded
from .profile_switch import ProfileSwitcher
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .themes import load_themes

DEFAULT_THEME = "msgr-dark"
QUIT_GRACE = 6.0
# Told to stop (SIGTERM) or the terminal went away (SIGHUP): quit as ctrl+q does.
QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


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
        Binding("f2", "profiles", "Profiles", id="app.profiles"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        notices: Iterable[str] = (),
        start_messenger: bool = True,
        profiles: ProfileSession | None = None,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._main = MainScreen(settings)
        self._start_messenger = start_messenger
        self._startup_notices = list(notices)
        self._quitting = False
        # 128 + the signal that ended the app (SIGTERM, SIGHUP), for the shell.
        self.signal_exit_code: int | None = None
        # What the user must know once the screen is gone (printed after the app
        # ends): where the outgoing messages nobody answered were kept.
        self.exit_notes: list[str] = []
        # Binding id -> keys, from the config file's [keymap]; the help shows it.
        self.keymap = dict(keymap or {})
        self.profile_switcher = ProfileSwitcher(self, profiles) if profiles is not None else None

    # ------------------------------------------------------------- session

    @property
    def main_screen(self) -> MainScreen:
        """The screen of the current session (modal screens may cover it)."""
        return self._main

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
        themes, failures = load_themes()
        for theme in themes:
            self.register_theme(theme)
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
        self._install_signal_handlers()
        # Pushed, not the default screen: Textual cannot switch away from that one.
        await self.push_screen(self._main)
        if self._start_messenger:
            if self.profile_switcher is not None:
                self.profile_switcher.connect_at_start()  # may ask for a password first
            else:
                self._main.connect()

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
        self.push_screen(HelpScreen(help_markdown(type(self), self.keymap)))

    def action_profiles(self) -> None:
        if self.profile_switcher is None:
            self.notify("no config file in use: start msgr-tui from the command line")
            return
        self.profile_switcher.open_profiles()

    async def action_quit(self) -> None:
        """Stop the Messenger cleanly (closing its connections), then exit.

        Outgoing messages nobody answered are kept in a recovery file, and
        the app says where once it has ended.
        """
        if self._quitting:
            self._end_app()  # second ctrl+q: do not wait any longer
            return
        self._quitting = True
        if not self._main.running:
            self._end_app()
            return
        self._main.stop(save_to=new_recovery_file())
        self.set_timer(QUIT_GRACE, self._end_app)

    def _signalled(self, number: int) -> None:
        """SIGTERM or SIGHUP (the SSH session went away): quit as ctrl+q does."""
        self.signal_exit_code = 128 + number
        self.run_worker(self.action_quit(), exclusive=False)

    def _end_app(self) -> None:
        self.exit(return_code=self.signal_exit_code or 0)

    @on(SessionEnded)
    def _session_ended(self, event: SessionEnded) -> None:
        kept = event.kept
        if kept is not None and (kept.count or kept.problem):
            if kept.problem:
                note = f"outgoing messages not answered could not be saved: {kept.problem}"
            else:
                note = (
                    f"{kept.count} outgoing message(s) not answered were saved to {kept.path}: "
                    f"send them again with msgr-tui send --from {kept.path}"
                )
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
