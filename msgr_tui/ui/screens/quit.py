"""Quitting while something is at stake: wait for the answers, save them, or quit anyway.

Shown only when quitting now would leave outgoing messages unanswered or
incoming ones undecided; the counts follow the session live, so waiting can
be watched and ends by itself when the last answer comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from ...bridge import AtStake
from ...formatting import count_of, printable
from ...locations import new_recovery_file, recovery_dir
from ...messagefile import MessageFileError, MessageFileWriter
from ..help_text import screen_help_markdown
from .help import HelpScreen

if TYPE_CHECKING:
    from .main import MainScreen


@dataclass(frozen=True, slots=True)
class QuitDecision:
    """Quit, keeping the outgoing messages still unanswered in ``save_to`` (None: lose them)."""

    save_to: Path | None


class QuitScreen(ModalScreen[QuitDecision | None]):
    """Says what quitting would leave undone and what each way out does (None: stay)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="quit.help"),
        Binding("w", "wait", "Wait for answers", id="quit.wait"),
        Binding("s", "save", "Save and quit", id="quit.save"),
        Binding("q", "quit_anyway", "Quit anyway", id="quit.anyway"),
        Binding("escape", "stay", "Stay", id="quit.stay"),
    ]

    HELP = (
        "Quitting now would leave messages undone. `w` waits until every outgoing "
        "message is answered, then quits (escape stops waiting); `s` saves the "
        "unanswered outgoing messages to a message file (msgr-tui send --from sends it) "
        "and quits; `q` quits without them. Undecided incoming messages go back to "
        "their senders either way: the clean close releases them."
    )

    def __init__(self, session: MainScreen) -> None:
        super().__init__()
        self.session = session
        self.waiting = False
        self.asking_path = False

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-panel"):
            yield Static(id="quit-stake")
            yield Static(id="quit-choices")
            # Disabled until asked for, so that no key of the choices lands in it.
            yield Input(id="quit-path", placeholder="message file to save them to", disabled=True)
            yield Static(id="quit-error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#quit-panel").border_title = "Quit msgr-tui?"
        self.query_one("#quit-path", Input).display = False
        self.watch(self.session, "at_stake", self._stake_changed)

    # ------------------------------------------------------------- showing

    def _stake_changed(self, stake: AtStake) -> None:
        self.query_one("#quit-stake", Static).update(describe_stake(stake))
        self.query_one("#quit-choices", Static).update(self._choices(stake))
        if self.waiting and not stake.awaited:
            # The failed ones (if any) are kept as a quit always keeps them.
            self.dismiss(QuitDecision(new_recovery_file()))

    def _choices(self, stake: AtStake) -> str:
        if self.waiting:
            return (
                f"Waiting for {count_of(stake.awaited, 'answer')}; msgr-tui quits when "
                "the last one comes.\nescape  stop waiting"
            )
        if self.asking_path:
            return "Save to (enter: save and quit, escape: back):"
        lines = []
        if stake.awaited:
            lines.append("w  wait for the answers, then quit")
        if stake.outgoing:
            lines.append(f"s  save the {count_of(stake.outgoing, 'unanswered message')} and quit")
        if not stake:
            lines.append("q  quit (nothing is at stake any more)")
        else:
            lost = []
            if stake.outgoing:
                verb = "is" if stake.outgoing == 1 else "are"
                lost.append(f"{count_of(stake.outgoing, 'unanswered message')} {verb} lost")
            if stake.incoming:
                back = (
                    "goes back to its sender" if stake.incoming == 1 else "go back to their senders"
                )
                lost.append(f"{count_of(stake.incoming, 'undecided message')} {back}")
            lines.append("q  quit anyway:")
            lines.extend(f"     {consequence}" for consequence in lost)
        lines.append("escape  stay")
        return "\n".join(lines)

    def _refresh(self) -> None:
        self._stake_changed(self.session.at_stake)

    def _ask_path(self, asking: bool) -> None:
        self.asking_path = asking
        field = self.query_one("#quit-path", Input)
        field.display = asking
        field.disabled = not asking
        self.query_one("#quit-error", Static).update("")
        if asking:
            if not field.value:
                field.value = str(new_recovery_file())
            field.focus()
        self._refresh()

    # ------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        stake = self.session.at_stake
        if action == "help":
            return True
        if self.waiting or self.asking_path:
            return action == "stay"
        if action == "wait":
            return bool(stake.awaited)
        if action == "save":
            return bool(stake.outgoing)
        return True

    def action_wait(self) -> None:
        self.waiting = True
        self.refresh_bindings()
        self._refresh()

    def action_save(self) -> None:
        self._ask_path(True)
        self.refresh_bindings()

    def action_quit_anyway(self) -> None:
        self.dismiss(QuitDecision(None))

    def action_stay(self) -> None:
        if self.waiting:
            self.waiting = False
        elif self.asking_path:
            self._ask_path(False)
        else:
            self.dismiss(None)
            return
        self.refresh_bindings()
        self._refresh()

    @on(Input.Submitted, "#quit-path")
    def _path_given(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        path = Path(text).expanduser()
        try:
            if path.parent == recovery_dir():  # the default: made on first use
                path.parent.mkdir(parents=True, exist_ok=True)
            MessageFileWriter.check_free(path)
        except (MessageFileError, OSError) as error:
            self.query_one("#quit-error", Static).update(printable(str(error)))
            return
        self.dismiss(QuitDecision(path))

    def action_help(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        self.app.push_screen(
            HelpScreen(screen_help_markdown("Quit", self.HELP, QuitScreen, keymap))
        )


def describe_stake(stake: AtStake) -> str:
    """What quitting now leaves undone, in a sentence per kind."""
    lines = []
    if stake.outgoing:
        line = f"{count_of(stake.outgoing, 'outgoing message')} not answered yet"
        if stake.failed:
            line += f" ({stake.failed} failed: no answer will come)"
        lines.append(line)
    if stake.incoming:
        lines.append(f"{count_of(stake.incoming, 'incoming message')} waiting for your decision")
    return "\n".join(lines) or "Nothing is at stake any more."
