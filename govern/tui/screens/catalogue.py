"""The catalogue: every model version, filtered as you type, sorted by any column."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Footer, Header, Input, Label, Select, Static

from govern.domain.lifecycle import State
from govern.domain.refs import semver_key
from govern.tui import formatting as fmt
from govern.tui.messages import CatalogueLoaded
from govern.tui.screens.base import GovernScreen
from govern.tui.widgets.table import Column, VirtualTable

if TYPE_CHECKING:
    from govern.services.views import VersionSummary

TIERS = ("low", "medium", "high", "critical")
STATES = tuple(s.value for s in State)

# Widths add up to 78 cells with the separators, so every column shows in an 80-column
# terminal (and beside the side panel in a 120-column one); the name takes what is left.
COLUMNS = (
    Column(
        "name", "Model", 10, lambda v: v.name, flex=True, sort_key=lambda v: v.name, max_width=40
    ),
    Column("version", "Version", 8, lambda v: v.version, sort_key=lambda v: semver_key(v.version)),
    Column(
        "state",
        "State",
        11,
        lambda v: fmt.state_label(v.state),
        tone=lambda v: fmt.state_tone(v.state),
        sort_key=lambda v: STATES.index(v.state) if v.state in STATES else 99,
    ),
    Column(
        "tier",
        "Tier",
        8,
        lambda v: v.risk_tier,
        tone=lambda v: fmt.tier_tone(v.risk_tier),
        sort_key=lambda v: TIERS.index(v.risk_tier) if v.risk_tier in TIERS else 99,
    ),
    Column(
        "owner",
        "Owner",
        8,
        lambda v: v.owner,
        sort_key=lambda v: v.owner,
        drop=4,
        flex=True,
        max_width=20,
    ),
    Column(
        "policy",
        "Policy",
        6,
        lambda v: v.policy_outcome or fmt.MISSING,
        tone=lambda v: fmt.outcome_tone(v.policy_outcome),
        sort_key=lambda v: v.policy_outcome or "",
        drop=2,
    ),
    Column(
        "evaluated",
        "Evaluated",
        10,
        lambda v: fmt.day(v.last_evaluated_at),
        sort_key=lambda v: fmt.day(v.last_evaluated_at),
        drop=3,
    ),
    Column(
        "due",
        "Due",
        10,
        lambda v: fmt.day(v.next_validation_due),
        sort_key=lambda v: fmt.day(v.next_validation_due),
        drop=1,
    ),
)
_SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    c.key: c.sort_key for c in COLUMNS if c.sort_key is not None
}


def haystack(version: VersionSummary) -> str:
    """What type-to-filter searches: name, version, state, tier, owner, unit, policy outcome."""
    return " ".join(
        (
            version.name,
            version.version,
            version.state,
            fmt.state_label(version.state),
            version.risk_tier,
            version.owner,
            version.business_unit,
            version.policy_outcome or "",
        )
    ).lower()


class VersionPeek(Static):
    """A side panel with the highlighted version's particulars (wide terminals only)."""

    DEFAULT_CSS = """
    VersionPeek {
        width: 38;
        height: 1fr;
        padding: 0 1;
        border-left: vkey $foreground 20%;
        display: none;
    }
    """

    def __init__(self, *, hint: str = "Enter opens it · m compares it", id: str | None = None):
        super().__init__(id=id)
        self.hint = hint

    def show(self, version: VersionSummary | None) -> None:
        if version is None:
            self.update("")
            return
        rows = [
            ("State", fmt.markup(fmt.state_label(version.state), fmt.state_tone(version.state))),
            ("Risk tier", fmt.markup(version.risk_tier, fmt.tier_tone(version.risk_tier))),
            ("Owner", fmt.escape(version.owner)),
            ("Business unit", fmt.escape(version.business_unit or fmt.MISSING)),
            ("Registered", f"{fmt.day(version.created_at)} by {fmt.escape(version.created_by)}"),
            ("Last evaluated", fmt.day(version.last_evaluated_at)),
            (
                "Policy run",
                fmt.markup(
                    version.policy_outcome or "none", fmt.outcome_tone(version.policy_outcome)
                ),
            ),
            ("Validation due", fmt.day(version.next_validation_due)),
        ]
        lines = [f"[b]{fmt.escape(version.ref)}[/b]", ""]
        lines += [f"[$text-muted]{label:<15}[/]{value}" for label, value in rows]
        lines += ["", f"[$text-muted]{self.hint}[/]"]
        self.update(Content.from_markup("\n".join(lines)))


class CatalogueScreen(GovernScreen):
    """All versions with state, tier, owner, policy status, evaluation and due dates."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "cycle_state", "State"),
        Binding("t", "cycle_tier", "Tier"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse", show=False),
        Binding("m", "compare", "Compare", tooltip="The highlighted version against its champion"),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("escape", "clear_filter", "Clear", show=False),
        Binding("1", "app.go('catalogue')", "Catalogue", show=False),  # you are here
    ]

    def __init__(self) -> None:
        super().__init__()
        self.versions: list[VersionSummary] = []
        # Lower-cased search text per version, built once per load so a keystroke is cheap.
        self.haystacks: list[str] = []
        self.shown: list[VersionSummary] = []
        self.sort_key = "name"
        self.sort_reverse = False
        self._loaded_once = False

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        with Horizontal(id="catalogue-filters", classes="filter-bar"):
            yield Input(placeholder="/ to filter", id="filter", compact=True)
            yield Select(
                [(fmt.state_label(s), s) for s in STATES],
                prompt="any state",
                id="state",
                compact=True,
            )
            yield Select([(t, t) for t in TIERS], prompt="any tier", id="tier", compact=True)
            yield Label("loading…", id="count")
        with Horizontal(id="catalogue-body"):
            with Vertical():
                yield VirtualTable(COLUMNS, empty_text="Loading the catalogue…", id="versions")
            yield VersionPeek(id="peek")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#versions", VirtualTable).focus()
        self.call_after_refresh(self.govern.mark, "catalogue_first_paint")
        self.load()

    def on_screen_resume(self) -> None:
        if self._loaded_once:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="catalogue")
    def load(self) -> None:
        started = time.perf_counter()
        versions = self.guarded(self.backend.list_versions)
        if versions is not None:
            self.post_message(CatalogueLoaded(versions, time.perf_counter() - started))

    def on_catalogue_loaded(self, message: CatalogueLoaded) -> None:
        # The base order breaks ties of every sort (sorting is stable): by model name, then
        # newest version first.
        versions = sorted(message.versions, key=lambda v: semver_key(v.version), reverse=True)
        versions.sort(key=lambda v: v.name)
        self.versions = versions
        self.haystacks = [haystack(v) for v in self.versions]
        self._loaded_once = True
        table = self.query_one("#versions", VirtualTable)
        table.empty_text = (
            "The catalogue is empty: register a model with `govern register CARD.yaml`."
            if not self.versions
            else "No version matches the filter."
        )
        self.apply_filters(keep_cursor=True)
        self.call_after_refresh(self.govern.mark, "catalogue_rows_shown")

    # --- filtering and sorting ----------------------------------------------------------

    def apply_filters(self, *, keep_cursor: bool = False) -> None:
        words = self.query_one("#filter", Input).value.lower().split()
        state = self.query_one("#state", Select).value
        tier = self.query_one("#tier", Select).value
        rows = [
            v
            for v, text in zip(self.versions, self.haystacks, strict=True)
            if (state == Select.NULL or v.state == state)
            and (tier == Select.NULL or v.risk_tier == tier)
            and all(word in text for word in words)
        ]
        rows.sort(key=_SORT_KEYS[self.sort_key], reverse=self.sort_reverse)
        self.shown = rows
        table = self.query_one("#versions", VirtualTable)
        current = table.current
        table.set_rows(rows, keep_cursor=keep_cursor)
        if keep_cursor and current is not None:
            for index, row in enumerate(rows):
                if row.ref == current.ref:
                    table.cursor_row = index
                    break
        table.set_sort(self.sort_key, reverse=self.sort_reverse)
        total = len(self.versions)
        count = (
            f"{fmt.count(len(rows))} of {fmt.count(total)}"
            if len(rows) != total
            else fmt.count(total)
        )
        self.query_one("#count", Label).update(f"{count} version{'s' if total != 1 else ''}")
        self.query_one("#peek", VersionPeek).show(table.current)

    @on(Input.Changed, "#filter")
    @on(Select.Changed)
    def _filters_changed(self) -> None:
        self.apply_filters()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#versions", VirtualTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""
        self.query_one("#versions", VirtualTable).focus()

    def _cycle(self, select_id: str, values: tuple[str, ...]) -> None:
        select: Select[str] = self.query_one(f"#{select_id}", Select)
        options: list[Any] = [Select.NULL, *values]
        current = options.index(select.value) if select.value in options else 0
        select.value = options[(current + 1) % len(options)]

    def action_cycle_state(self) -> None:
        self._cycle("state", STATES)

    def action_cycle_tier(self) -> None:
        self._cycle("tier", TIERS)

    def action_cycle_sort(self) -> None:
        keys = list(_SORT_KEYS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = False
        self.apply_filters()
        self.notify(f"Sorted by {self.sort_key}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.apply_filters()

    @on(VirtualTable.SortChanged)
    def _header_clicked(self, event: VirtualTable.SortChanged) -> None:
        if event.key not in _SORT_KEYS:
            return
        if event.key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = event.key, False
        self.apply_filters()

    # --- opening ------------------------------------------------------------------------

    @on(VirtualTable.RowHighlighted, "#versions")
    def _highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        self.query_one("#peek", VersionPeek).show(event.table.current)

    @on(VirtualTable.RowSelected, "#versions")
    def _open(self, event: VirtualTable.RowSelected) -> None:
        self.govern.open_version(event.row.ref)

    def action_compare(self) -> None:
        current = self.query_one("#versions", VirtualTable).current
        if current is not None:
            self.govern.open_compare("", current.ref)
