"""The keys of the focused pane and the screen, on the bottom line, in one widget.

Textual's Footer is a container of one widget per key, mounted again whenever
the keys change (each focus change): at start it was the costliest part of
the first frame. This one draws the same line as ``Footer(compact=True)`` (the
first key of each action shown, ``key description`` with one cell between
them, disabled ones dimmed, the command palette's key docked right after a
thin bar) as one line of text, redrawn when the bindings change; a click on a
key presses it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

PALETTE_EDGE = "▏"  # what Footer's "vkey" left border draws


class KeysFooter(Widget, can_focus=False):
    """A one-line footer with the active keys (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keys-footer--key",
        "keys-footer--description",
        "keys-footer--disabled",
        "keys-footer--palette-edge",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # (first cell, end cell, key) of each key drawn, for clicks; the palette's last.
        self.spans: list[tuple[int, int, str]] = []
        # The descriptions of the keys that did not fit whole before the palette's.
        self.cut: list[str] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def _keys(self) -> tuple[list[tuple[str, str, str, bool]], tuple[str, str, str, bool] | None]:
        """(key, shown as, description, enabled) of each key shown, and the palette's."""
        app = self.app
        shown: dict[str, tuple[str, str, str, bool]] = {}
        active = self.screen.active_bindings
        for _, binding, enabled, _ in active.values():
            if binding.show and binding.action not in shown:
                shown[binding.action] = (
                    binding.key,
                    app.get_key_display(binding),
                    binding.description,
                    enabled,
                )
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _, binding, enabled, _ = active[app.COMMAND_PALETTE_BINDING]
            palette = (binding.key, app.get_key_display(binding), binding.description, enabled)
        return list(shown.values()), palette

    def _item(self, key: tuple[str, str, str, bool], base: Style) -> Text:
        _, display, description, enabled = key
        key_style = base + self.get_component_rich_style("keys-footer--key")
        text = Text(end="")
        text.append(display, key_style)
        if description:
            description_style = self.get_component_rich_style("keys-footer--description")
            text.append(f" {description}", base + description_style)
        if not enabled:
            text.stylize(self.get_component_rich_style("keys-footer--disabled", partial=True))
        return text

    def render(self) -> Text:
        width = self.size.width
        base = self.rich_style
        keys, palette = self._keys()
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, str]] = []
        descriptions: list[str] = []
        for key in keys:
            item = self._item(key, base)
            spans.append((len(line), len(line) + len(item), key[0]))
            descriptions.append(key[2])
            line.append_text(item)
            line.append(" ", base)
        right = Text(end="")
        if palette is not None:
            edge = self.get_component_rich_style("keys-footer--palette-edge")
            right.append(PALETTE_EDGE, base + edge)
            right.append_text(self._item(palette, base))
            right.append(" ", base)  # Footer's margin after each key, the last one too
        room = max(0, width - len(right))
        line.truncate(room, pad=True)
        ends = [end for _, end, _ in spans]
        self.cut = [what for end, what in zip(ends, descriptions, strict=True) if end > room]
        if palette is not None:
            spans = [(start, min(end, room), key) for start, end, key in spans if start < room]
            spans.append((room + 1, room + len(right) - 1, palette[0]))
        line.append_text(right)
        self.spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self.spans:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(key)
                return
