"""At start: messages an earlier session left unanswered - send them again, look, or keep them."""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ...formatting import count_of, printable
from ...locations import recovery_dir
from ...recovery import RecoveryFile
from ..help_text import screen_help_markdown
from .help import HelpScreen


class RecoveryChoice(Enum):
    SEND = "send"
    """Send every message again, each to its own address."""
    OPEN = "open"
    """Show them in Outgoing, held: nothing is sent until asked."""
    KEEP = "keep"
    """Leave the files as they are."""


class RecoveryScreen(ModalScreen[RecoveryChoice]):
    """Lists the recovery files found and offers what can be done with them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="recovery.help"),
        Binding("s", "choose('send')", "Send again", id="recovery.send"),
        Binding("o", "choose('open')", "Open in Outgoing", id="recovery.open"),
        Binding("k,escape", "choose('keep')", "Keep the files", id="recovery.keep"),
    ]

    HELP = (
        "Outgoing messages no peer answered when msgr-tui last stopped (a quit, a "
        "signal, a crash) were kept in recovery files. `s` sends them again, each to "
        "its own address; a file is removed once all its messages are answered. `o` "
        "shows them in Outgoing, held, where `r` sends a file's messages. `k` keeps the "
        "files for later (msgr-tui send --from FILE sends one)."
    )

    def __init__(self, files: list[RecoveryFile]) -> None:
        super().__init__()
        self.files = files

    def compose(self) -> ComposeResult:
        readable = [found for found in self.files if found.problem is None]
        total = sum(found.count for found in readable)
        with Vertical(id="recovery-panel"):
            yield Static(
                f"{count_of(total, 'outgoing message')} {'was' if total == 1 else 'were'} "
                f"not answered when msgr-tui last stopped; they are in "
                f"{printable(str(recovery_dir()))}:"
            )
            yield Static("\n".join(self._file_line(found) for found in self.files), id="files")
            yield Static(
                "s  send them again, each to its own address\n"
                "o  open them in Outgoing, held (r there sends them)\n"
                "k  keep the files (msgr-tui send --from FILE sends one)",
                id="recovery-choices",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#recovery-panel").border_title = "Messages from an earlier session"

    @staticmethod
    def _file_line(found: RecoveryFile) -> str:
        line = f"  {printable(found.path.name)}  {count_of(found.count, 'message')}"
        if found.problem is not None:
            line += f" - cannot be read: {printable(found.problem)} (kept)"
        elif found.partial:
            line += " (cut short when it was written; what it holds is whole)"
        return line

    def action_choose(self, choice: str) -> None:
        self.dismiss(RecoveryChoice(choice))

    def action_help(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        self.app.push_screen(
            HelpScreen(
                screen_help_markdown(
                    "Messages from an earlier session", self.HELP, RecoveryScreen, keymap
                )
            )
        )
