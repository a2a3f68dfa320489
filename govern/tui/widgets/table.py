"""A table that renders only the rows on screen.

Textual's DataTable measures every cell when rows are added (1.5 s for 10,000 rows on our
machines, ``notes/measurements.md``). This one keeps the rows as plain Python objects and
draws the visible lines on demand with the Line API, so 10,000 or 1,000,000 rows cost the
same to show. Columns are declared once; narrow terminals drop the least important ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Semantic cell tones, mapped to the current theme's colours when drawn.
Tone = Literal["good", "bad", "warn", "muted", "accent", "plain"]
_TONE_VARIABLES: dict[str, str] = {
    "good": "text-success",
    "bad": "text-error",
    "warn": "text-warning",
    "accent": "text-primary",
}


@dataclass(frozen=True)
class Column:
    """How one column is labelled, sized, drawn and sorted.

    ``drop`` orders which columns go when the terminal is too narrow: the highest number
    goes first, 0 never;
    ``flex`` columns share the spare width, each up to ``max_width`` (0 = no limit).
    """

    key: str
    title: str
    width: int
    value: Callable[[Any], str]
    tone: Callable[[Any], Tone] | None = None
    sort_key: Callable[[Any], Any] | None = None
    flex: bool = False
    justify: Literal["left", "right"] = "left"
    drop: int = 0
    max_width: int = 0


def _fit(text: str, width: int, justify: str) -> str:
    """Pad or truncate ``text`` to exactly ``width`` cells, with an ellipsis when cut."""
    if width <= 0:
        return ""
    text = text.replace("\n", " ")
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…"
    if justify == "right":
        return " " * (width - length) + text
    return text + " " * (width - length)


class VirtualTable(ScrollView, can_focus=True):
    """Rows of any Python objects, drawn a screenful at a time, with a cursor and sorting."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open", show=True),
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--header-sorted",
        "virtual-table--cursor",
        "virtual-table--even-row",
        "virtual-table--empty",
    }

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .virtual-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .virtual-table--header-sorted {
            text-style: bold underline;
            background: $panel;
            color: $text-accent;
        }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .virtual-table--even-row {
            background: $surface-lighten-1 40%;
        }
        & > .virtual-table--empty {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True)

    class RowHighlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> VirtualTable:
            return self.table

    class RowSelected(Message):
        """A row was chosen with Enter or a click on the highlighted row."""

        def __init__(self, table: VirtualTable, index: int, row: Any) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> VirtualTable:
            return self.table

    class SortChanged(Message):
        """The user asked to sort by a column (a click on its header)."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class NearEnd(Message):
        """The cursor or the view came close to the last row: a pager may fetch more."""

        def __init__(self, table: VirtualTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        empty_text: str = "Nothing to show.",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.rows: Sequence[Any] = ()
        self.empty_text = empty_text
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self._tones: dict[str, Style] = {}
        self._near_end_sent = False

    # --- data ---------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[Any], *, keep_cursor: bool = False) -> None:
        """Show ``rows`` (any objects the columns understand); nothing is measured."""
        self.rows = rows
        self._near_end_sent = False
        if not keep_cursor:
            self.cursor_row = 0
            self.scroll_to(y=0, animate=False)
        else:
            self.cursor_row = min(self.cursor_row, max(len(rows) - 1, 0))
        self._update_virtual_size()
        self.refresh()

    def append_rows(self, rows: Sequence[Any]) -> None:
        """Add rows at the end (a pager's next page), keeping the cursor where it is."""
        self.rows = [*self.rows, *rows]
        self._near_end_sent = False
        self._update_virtual_size()
        self.refresh()

    @property
    def current(self) -> Any | None:
        """The row under the cursor, if any."""
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row]
        return None

    def set_sort(self, key: str | None, *, reverse: bool = False) -> None:
        """Mark the header of the column the rows are sorted by (sorting is the owner's job)."""
        self.sort_column = key
        self.sort_reverse = reverse
        self.refresh()

    # --- geometry -----------------------------------------------------------------------

    def _update_virtual_size(self) -> None:
        width = sum(w for _c, w in self._columns_for(self.scrollable_content_region.width)) + (
            len(self._layout) - 1
        )
        self.virtual_size = Size(max(width, 1), len(self.rows) + 1)

    def on_resize(self, _event: events.Resize) -> None:
        self._layout_width = -1
        self._update_virtual_size()

    def _columns_for(self, width: int) -> list[tuple[Column, int]]:
        """Visible columns and their widths for a content ``width``; flex takes the rest."""
        if width == self._layout_width and self._layout:
            return self._layout
        shown = list(self.columns)

        def needed(cols: list[Column]) -> int:
            return sum(c.width for c in cols) + len(cols) - 1

        for column in sorted(
            (c for c in self.columns if c.drop), key=lambda c: c.drop, reverse=True
        ):
            if needed(shown) <= width:
                break
            shown.remove(column)
        spare = max(width - needed(shown), 0)
        widths = {c.key: c.width for c in shown}
        # Spare cells go to the flex columns in turn, each up to its limit, so a capped
        # column (an action name) stops growing and the rest goes to the others.
        growing = [c for c in shown if c.flex]
        while spare and growing:
            share = max(spare // len(growing), 1)
            for column in list(growing):
                room = column.max_width - widths[column.key] if column.max_width else spare
                step = min(share, room, spare)
                widths[column.key] += step
                spare -= step
                if column.max_width and widths[column.key] >= column.max_width:
                    growing.remove(column)
                if not spare:
                    break
        layout = [(column, widths[column.key]) for column in shown]
        self._layout = layout
        self._layout_width = width
        return layout

    # --- drawing ------------------------------------------------------------------------

    def _tone_style(self, tone: Tone) -> Style:
        if not self._tones:
            variables = self.app.theme_variables
            for name, variable in _TONE_VARIABLES.items():
                try:
                    color = Color.parse(variables.get(variable, "")).rich_color
                except Exception:  # an unparsable theme value: draw plainly
                    color = None
                self._tones[name] = Style(color=color)
            self._tones["muted"] = Style(dim=True)
            self._tones["plain"] = Style()
        return self._tones.get(tone, Style())

    def notify_style_update(self) -> None:
        self._tones = {}
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        layout = self._columns_for(width)
        base = self.rich_style
        if y == 0:
            strip = self._header_strip(layout)
        elif not self.rows:
            strip = self._empty_strip(y, width)
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            strip = self._row_strip(index, layout)
        return strip.crop_extend(scroll_x, scroll_x + width, base).simplify()

    def _header_strip(self, layout: list[tuple[Column, int]]) -> Strip:
        header = self.get_component_rich_style("virtual-table--header")
        sorted_style = self.get_component_rich_style("virtual-table--header-sorted")
        segments: list[Segment] = []
        for position, (column, width) in enumerate(layout):
            title = column.title
            if column.key == self.sort_column:
                arrow = "▼" if self.sort_reverse else "▲"
                # The arrow always shows; a title too long for it loses its end instead.
                room = max(width - 2, 0)
                title = (title if cell_len(title) <= room else set_cell_size(title, room)) + (
                    f" {arrow}" if width >= 2 else arrow
                )
            style = sorted_style if column.key == self.sort_column else header
            segments.append(Segment(_fit(title, width, column.justify), style))
            if position < len(layout) - 1:
                segments.append(Segment(" ", header))
        total = sum(w for _c, w in layout) + len(layout) - 1
        width = max(self.scrollable_content_region.width, total)
        return Strip(segments).extend_cell_length(width, header)

    def _empty_strip(self, y: int, width: int) -> Strip:
        if y != 2:
            return Strip.blank(width, self.rich_style)
        style = self.get_component_rich_style("virtual-table--empty")
        return Strip([Segment(_fit("  " + self.empty_text, width, "left"), style)])

    def _row_strip(self, index: int, layout: list[tuple[Column, int]]) -> Strip:
        row = self.rows[index]
        base = self.rich_style
        if index == self.cursor_row:
            line_style = base + self.get_component_rich_style("virtual-table--cursor")
            cursor = True
        else:
            line_style = base
            if index % 2:
                line_style = base + self.get_component_rich_style("virtual-table--even-row")
            cursor = False
        segments: list[Segment] = []
        for position, (column, width) in enumerate(layout):
            try:
                text = column.value(row)
            except Exception:  # a malformed row shows as '?' rather than breaking the screen
                text = "?"
            style = line_style
            if column.tone is not None and not cursor:
                style = line_style + self._tone_style(column.tone(row))
            segments.append(Segment(_fit(text, width, column.justify), style))
            if position < len(layout) - 1:
                segments.append(Segment(" ", line_style))
        total = sum(w for _c, w in layout) + len(layout) - 1
        width = max(self.scrollable_content_region.width, total)
        return Strip(segments).extend_cell_length(width, line_style)

    # --- cursor -------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_cursor_into_view()
        if self.rows:
            self.post_message(self.RowHighlighted(self, new))
        self._check_near_end()

    def _refresh_row(self, index: int) -> None:
        y = index - self.scroll_offset.y + 1
        self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        top = round(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def _check_near_end(self) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        bottom = round(self.scroll_offset.y) + visible
        near = max(self.cursor_row, bottom) >= len(self.rows) - visible
        if self.rows and near and not self._near_end_sent:
            self._near_end_sent = True
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._check_near_end()

    def action_cursor(self, step: int) -> None:
        if self.rows:
            self.cursor_row = max(0, min(len(self.rows) - 1, self.cursor_row + step))

    def action_page(self, direction: int) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        self.action_cursor(direction * visible)

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor_row = len(self.rows) - 1 if where < 0 else 0

    def action_select(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.RowSelected(self, self.cursor_row, row))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            key = self._column_at(offset.x + round(self.scroll_offset.x))
            if key is not None:
                self.post_message(self.SortChanged(self, key))
            return
        index = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor_row or event.chain > 1:
                self.cursor_row = index
                self.action_select()
            else:
                self.cursor_row = index

    def _column_at(self, x: int) -> str | None:
        left = 0
        for column, width in self._layout:
            if left <= x < left + width + 1:
                return column.key
            left += width + 1
        return None
