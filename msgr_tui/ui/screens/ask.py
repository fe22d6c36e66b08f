"""One line to type before an action that needs it: a destination, a file to save to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Static

from ...formatting import printable

# What a typed answer is checked with: None when it will do, else why not.
Check = Callable[[str], str | None]


class AskScreen(ModalScreen[str | None]):
    """``question``, an answer field (prefilled, with suggestions), enter to go, escape not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="ask.cancel"),
    ]

    def __init__(
        self,
        title: str,
        question: str,
        *,
        value: str = "",
        suggestions: Sequence[str] = (),
        check: Check | None = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.value = value
        self.suggestions = list(suggestions)
        self.check = check
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-panel"):
            yield Static(Text(printable(self.question)))
            suggester = SuggestFromList(self.suggestions) if self.suggestions else None
            yield Input(self.value, id="ask-answer", suggester=suggester)
            if self.suggestions:
                recent = ", ".join(self.suggestions[:3])
                yield Static(Text(printable(f"recent: {recent}")), classes="hint")
            yield Static("enter: go · right: take the suggestion · escape: cancel", classes="hint")
            yield Static(id="ask-error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ask-panel").border_title = self.title_text
        self.query_one("#ask-answer", Input).focus()

    @on(Input.Submitted, "#ask-answer")
    def _answered(self, event: Input.Submitted) -> None:
        answer = event.value.strip()
        if not answer and not self.allow_empty:
            problem: str | None = "nothing typed"
        else:
            problem = self.check(answer) if self.check else None
        if problem:
            self.query_one("#ask-error", Static).update(Text(printable(problem)))
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
