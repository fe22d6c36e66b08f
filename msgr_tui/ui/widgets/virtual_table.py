"""A table that renders only the rows on screen.

Textual's DataTable measures every cell as rows are added (100k rows block the
event loop for seconds); a message flood needs tables whose cost follows the
visible rows, not the row count. Rows are any objects; a ``cells`` function
turns one into styled cell texts only when it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class Cut(Enum):
    """Where a value too long for its column loses characters."""

    END = "end"  # "order 1 ship…": the start says most
    START = "start"  # "…5672/orders": the end says most
    MIDDLE = "middle"  # "amqp:…/orders": an address, its scheme and its node


@dataclass(frozen=True)
class Column:
    """``width`` None shares the spare width. On narrow screens fixed columns shrink
    to ``min_width`` and columns with ``drop_priority`` > 0 disappear, highest first."""

    label: str
    width: int | None = None
    min_width: int = 4
    drop_priority: int = 0
    # Share of the spare width, among columns without a fixed width.
    weight: int = 1
    cut: Cut = Cut.END


Cell = tuple[str, str | None]  # text and an optional component class for its style


class VirtualTable(ScrollView, can_focus=True):
    """Rows with a fixed header and a cursor; renders in time proportional to its height."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.cursor_up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home", "first", "First", show=False, id="table.first"),
        Binding("end", "last", "Last", show=False, id="table.last"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--empty",
        "status--pending",
        "status--accepted",
        "status--rejected",
        "status--released",
        "status--modified",
        "status--aborted",
        "status--settled",
        "status--auto",
        "status--failed",
        "status--attached",
        "status--listening",
        "status--connecting",
        "status--closed",
        "status--retrying",
        "muted",
        "marked",
    }

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
    }
    VirtualTable > .virtual-table--header { text-style: bold; color: $text; background: $panel; }
    VirtualTable > .virtual-table--cursor { background: $panel-lighten-1; }
    VirtualTable:focus > .virtual-table--cursor { background: $accent 40%; }
    VirtualTable > .virtual-table--empty { color: $text-muted; text-style: italic; }
    VirtualTable > .status--pending { color: $warning; }
    VirtualTable > .status--accepted { color: $success; }
    VirtualTable > .status--rejected { color: $error; }
    VirtualTable > .status--released { color: $secondary; }
    VirtualTable > .status--modified { color: $secondary; }
    VirtualTable > .status--aborted { color: $error; text-style: bold; }
    VirtualTable > .status--settled { color: $text-muted; }
    VirtualTable > .status--auto { color: $success; text-style: italic; }
    VirtualTable > .status--failed { color: $error; text-style: bold; }
    VirtualTable > .status--attached { color: $success; }
    VirtualTable > .status--listening { color: $success; }
    VirtualTable > .status--connecting { color: $warning; }
    VirtualTable > .status--closed { color: $text-muted; }
    VirtualTable > .status--retrying { color: $warning; text-style: italic; }
    VirtualTable > .muted { color: $text-muted; }
    VirtualTable > .marked { color: $accent; text-style: bold; }
    """

    # No repaint of its own: watch_cursor repaints the rows it changes.
    cursor = reactive(0, always_update=True, init=False, repaint=False)

    class Highlighted(Message):
        """The cursor moved to ``row``."""

        def __init__(self, table: VirtualTable, row: Any) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        cells: Callable[[Any], Sequence[Cell]],
        *,
        empty_text: str = "",
        follow: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self._cells = cells
        self._rows: Sequence[Any] = ()
        self._seen = 0
        self.empty_text = empty_text
        # Follow the newest row while the cursor sits on the last one.
        self.follow = follow
        self._widths: list[int] = []
        self._widths_for = -1

    # ------------------------------------------------------------------ data

    @property
    def rows(self) -> Sequence[Any]:
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def current(self) -> Any | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def set_rows(self, rows: Sequence[Any], *, keep: Any | None = None) -> None:
        """Show ``rows`` (the table keeps a reference, not a copy).

        ``keep``: a row to keep the cursor on if it is still there.
        """
        # The row list may have grown in place since the last call: compare
        # with the count seen then to know whether the cursor was on the last row.
        at_end = self.follow and self.cursor >= self._seen - 1
        self._rows = rows
        self._seen = len(rows)
        if keep is not None:
            try:
                self.cursor = rows.index(keep)  # type: ignore[attr-defined]
            except ValueError:
                self.cursor = min(self.cursor, max(len(rows) - 1, 0))
        elif at_end:
            self.cursor = max(len(rows) - 1, 0)
        else:
            self.cursor = min(self.cursor, max(len(rows) - 1, 0))
        self._resize()
        self.refresh()

    def rows_changed(self) -> None:
        """The row list was changed in place (appended, trimmed, states updated)."""
        self.set_rows(self._rows)

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self._scroll_cursor_into_view()

    def on_resize(self) -> None:
        self._widths_for = -1
        self._resize()

    # ---------------------------------------------------------------- cursor

    def watch_cursor(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        self._scroll_cursor_into_view()
        if self.scroll_offset.y == top:
            # Only the two rows the cursor left and reached change (line 0 is the
            # header): a key in a flood repaints two lines, not the whole table.
            self.refresh_line(old + 1)
            self.refresh_line(new + 1)
        else:
            self.refresh()
        row = self.current
        if row is not None:
            self.post_message(self.Highlighted(self, row))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def _move(self, delta: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(self.size.height - 2, 1))

    def action_page_down(self) -> None:
        self._move(max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self._move(-len(self._rows))

    def action_last(self) -> None:
        self._move(len(self._rows))

    # ------------------------------------------------------------- rendering

    def _column_widths(self, width: int) -> list[int]:
        if width == self._widths_for:
            return self._widths
        self._widths = column_widths(self.columns, width)
        self._widths_for = width
        return self._widths

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths = self._column_widths(width)
        if y == 0:
            style = self.get_component_rich_style("virtual-table--header")
            cells: Sequence[Cell] = [(column.label, None) for column in self.columns]
            return self._strip(cells, widths, width, style)
        index = int(self.scroll_offset.y) + y - 1
        base = self.rich_style
        if index >= len(self._rows):
            if index == 0 and self.empty_text:
                style = self.get_component_rich_style("virtual-table--empty")
                return Strip([Segment(set_cell_size(self.empty_text, width), style)], width)
            return Strip.blank(width, base)
        row = self._rows[index]
        if index == self.cursor:
            # The cursor row is drawn in the cursor's colours only: with 16
            # colours a status colour can equal the cursor's background.
            base = base + self.get_component_rich_style("virtual-table--cursor")
            cells = [(text, None) for text, _ in self._cells(row)]
            return self._strip(cells, widths, width, base)
        return self._strip(self._cells(row), widths, width, base)

    def _strip(self, cells: Sequence[Cell], widths: list[int], width: int, base: Style) -> Strip:
        segments = []
        used = 0
        first = True
        for (text, style_class), column_width, column in zip(
            cells, widths, self.columns, strict=False
        ):
            if column_width == 0:
                continue  # a column dropped for lack of room
            if not first:
                segments.append(Segment(" ", base))
                used += 1
            first = False
            room = min(column_width, max(width - used, 0))
            if room <= 0:
                break
            shown = text if cell_len(text) <= room else shortened(text, room, column.cut)
            style = base
            if style_class in self.COMPONENT_CLASSES:
                style = base + self.get_component_rich_style(style_class, partial=True)
            segments.append(Segment(set_cell_size(shown, room), style))
            used += room
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, width)


def column_widths(columns: Sequence[Column], width: int) -> list[int]:
    """Fit ``columns`` into ``width`` cells (one-cell gaps); dropped columns get 0."""
    visible = list(range(len(columns)))

    def needed(indexes: list[int], *, shrunk: bool) -> int:
        total = len(indexes) - 1
        for index in indexes:
            column = columns[index]
            if column.width is None or shrunk:
                total += column.min_width
            else:
                total += column.width
        return total

    droppable = sorted(
        (index for index, column in enumerate(columns) if column.drop_priority > 0),
        key=lambda index: -columns[index].drop_priority,
    )
    # Columns of priority 2+ go as soon as the preferred widths do not fit;
    # priority 1 only when even the minimum widths do not.
    for index in droppable:
        shrunk = columns[index].drop_priority < 2
        if needed(visible, shrunk=shrunk) > width:
            visible.remove(index)
    widths = [0] * len(columns)
    fixed = [i for i in visible if columns[i].width is not None]
    flexible = [i for i in visible if columns[i].width is None]
    for index in fixed:
        widths[index] = columns[index].width or 0
    spare = width - (len(visible) - 1) - sum(widths[i] for i in fixed)
    wanted = sum(columns[i].min_width for i in flexible)
    if spare < wanted:
        # Shrink fixed columns towards their minimum, widest first.
        shortfall = wanted - spare
        for index in sorted(fixed, key=lambda i: -widths[i]):
            give = min(shortfall, widths[index] - columns[index].min_width)
            if give > 0:
                widths[index] -= give
                shortfall -= give
        spare = width - (len(visible) - 1) - sum(widths[i] for i in fixed)
    if flexible:
        spare = max(spare, 0)
        # Everyone gets their minimum first, the rest goes by weight.
        base = {index: min(columns[index].min_width, spare // len(flexible)) for index in flexible}
        rest = spare - sum(base.values())
        total_weight = sum(columns[index].weight for index in flexible)
        given = 0
        for index in flexible:
            extra = rest * columns[index].weight // total_weight
            widths[index] = max(base[index] + extra, 1)
            given += extra
        for index in flexible[: rest - given]:
            widths[index] += 1
    return widths


def shortened(text: str, cells: int, cut: Cut) -> str:
    """``text`` in at most ``cells`` cells, an ellipsis where characters were cut."""
    if cell_len(text) <= cells:
        return text
    if cells <= 1:
        return "…"[:cells]
    if cut is Cut.START:
        return "…" + _tail(text, cells - 1)
    if cut is Cut.MIDDLE and cells >= 5:
        # A third for the start (the scheme and host begin), the rest for the end (the node).
        head = (cells - 1) // 3
        return set_cell_size(text, head) + "…" + _tail(text, cells - 1 - head)
    return set_cell_size(text, cells - 1) + "…"


def _tail(text: str, cells: int) -> str:
    """The last ``cells`` cells of ``text``."""
    if cells <= 0:
        return ""
    while cell_len(text) > cells:
        text = text[max(1, len(text) - cells - 1) :] if len(text) > cells + 1 else text[1:]
    return text
