"""Help: what each pane is for and the keys that work there (as currently bound)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        # Imported here: Markdown (and markdown-it) cost ~80 ms of every start otherwise.
        from textual.widgets import Markdown

        with VerticalScroll(id="help"):
            yield Markdown(self.markdown)
        yield Footer()

    def on_mount(self) -> None:
        scroll = self.query_one("#help", VerticalScroll)
        scroll.border_title = "Help"
        scroll.focus()
