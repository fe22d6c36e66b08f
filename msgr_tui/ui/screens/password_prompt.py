"""Ask for a secret when connecting; the answer lives in memory only, never on disk."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from ...formatting import printable
from ...profiles import SecretRequest
from ...secret import Secret
from ..help_text import screen_help_markdown
from .help import HelpScreen

HELP = (
    "The profile needs a secret that is neither stored in the config file nor in its "
    "environment variable. Type it and press `enter` (an empty answer connects without "
    "one). It is kept in memory for this run only: never written, never shown. "
    "`escape` does not connect."
)


class PasswordScreen(ModalScreen[Secret | None]):
    """One secret for one profile; dismissed with the secret, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Don't connect", id="password.cancel"),
        Binding("f1", "help", "Help", id="password.help"),
    ]

    def __init__(self, request: SecretRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical(id="password-panel"):
            yield Static(printable(self.request.prompt), id="password-prompt")
            yield Input(password=True, id="password-input", placeholder="kept in memory only")
            yield Label("enter: connect · escape: don't connect", id="password-hint")
        yield Footer()

    def on_mount(self) -> None:
        panel = self.query_one("#password-panel", Vertical)
        panel.border_title = f"Profile {printable(self.request.profile)}"
        self.query_one("#password-input", Input).focus()

    @on(Input.Submitted, "#password-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(Secret(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        self.app.push_screen(
            HelpScreen(screen_help_markdown("Password", HELP, PasswordScreen, keymap))
        )
