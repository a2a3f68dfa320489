"""The governance settings: the rules in force, and every revision with what it changed.

Read-only. The rules (approvals by tier, who may take each action, policy bindings, waiver
and validation limits...) are catalogue data that only an admin changes, with a signed and
audited ``govern settings apply FILE``; every decision records the revision it was taken
under. This screen shows the revision in force (who applied it, when, the SHA-256 of its
document) and its values, the ones it changed marked; Enter on a revision of the history
shows what that revision changed, before and after.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, Label, Static

from govern.tui import formatting as fmt
from govern.tui.messages import SettingsLoaded
from govern.tui.screens.base import GovernScreen
from govern.tui.widgets.dialogs import MessageModal
from govern.tui.widgets.evidence import Evidence
from govern.tui.widgets.table import Column, VirtualTable

if TYPE_CHECKING:
    from govern.services.governance import SettingsRevisionPublic


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


#: Risk tiers from least to most: a table by tier reads in this order, not alphabetically.
TIER_ORDER = ("low", "medium", "high", "critical")
#: The history table shows up to this many revisions at once (then it scrolls).
HISTORY_ROWS = 8


def value_lines(value: Any) -> list[str]:
    """A setting's value as lines to read: a table of lists one entry a line, a table of
    numbers on one line (tiers from low to critical), a list comma-separated."""
    if isinstance(value, dict):
        if not value:
            return [fmt.MISSING]
        if set(value) <= set(TIER_ORDER):
            value = {tier: value[tier] for tier in TIER_ORDER if tier in value}
        if all(isinstance(v, list) for v in value.values()):
            return [
                f"{k}: {', '.join(_scalar(x) for x in v) or fmt.MISSING}" for k, v in value.items()
            ]
        return [" · ".join(f"{k} {_scalar(v)}" for k, v in value.items())]
    if isinstance(value, list):
        return [", ".join(_scalar(x) for x in value) or fmt.MISSING]
    return [_scalar(value)]


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(setting, was, now)`` for each setting whose value differs; within a table, only the
    entries that differ."""
    out: list[tuple[str, str, str]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            for entry in sorted(set(old) | set(new)):
                if old.get(entry) != new.get(entry):
                    out.append(
                        (
                            f"{key}.{entry}",
                            "\n".join(value_lines(old[entry])) if entry in old else fmt.MISSING,
                            "\n".join(value_lines(new[entry])) if entry in new else fmt.MISSING,
                        )
                    )
            continue
        was = "\n".join(value_lines(old)) if key in before else fmt.MISSING
        now = "\n".join(value_lines(new)) if key in after else fmt.MISSING
        out.append((key, was, now))
    return out


class SettingsValues(Evidence):
    """Every setting of a revision, name and value; the ones it changed marked ``●``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.document: dict[str, Any] | None = None
        self.changed: set[str] = set()
        self.revision: int | None = None

    def show(self, document: dict[str, Any], changed: list[str], revision: int) -> None:
        self.document = document
        self.changed = set(changed)
        self.revision = revision
        self.refresh(layout=True)

    def draw(self) -> RenderableType:
        c = self.colours()
        if self.document is None:
            return Text("Loading the governance settings…", style="dim italic")
        return values_grid(self.document, self.changed, c["warn"])


def values_grid(document: dict[str, Any], changed: set[str], mark_style: str) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    for key, value in document.items():
        mark = key in changed
        grid.add_row(
            Text("●", style=mark_style) if mark else "",
            Text(key, style=mark_style if mark else "bold"),
            Text("\n".join(value_lines(value))),
        )
    return grid


def _changed_text(revision: SettingsRevisionPublic) -> str:
    if revision.revision == 1 and not revision.changed:
        return "(the first: as the catalogue was created)"
    return ", ".join(revision.changed) or "nothing (the same rules again)"


REVISION_COLUMNS = (
    Column("revision", "Rev.", 4, lambda r: str(r.revision), justify="right"),
    Column("when", "Applied (UTC)", 16, lambda r: fmt.stamp(r.created_at)),
    Column("by", "By", 8, lambda r: r.created_by, flex=True, max_width=16, drop=2),
    Column("sha256", "SHA-256", 17, lambda r: r.sha256[:16] + "…", drop=1),
    Column("changed", "What it changed", 20, _changed_text, flex=True),
)


class RevisionTable(VirtualTable):
    """The revisions, newest first; Enter shows what one changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Changes", tooltip="What the highlighted revision changed")
    ]


class GovernanceScreen(GovernScreen):
    """The governance settings in force and their history (read-only)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "refresh", "Refresh", tooltip="Read the settings again"),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("4", "app.go('settings')", "Settings", show=False),  # you are here
    ]

    def __init__(self) -> None:
        super().__init__()
        self.current: SettingsRevisionPublic | None = None
        self.history: list[SettingsRevisionPublic] = []
        self._loaded_once = False

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        yield Static("Loading the governance settings…", id="settings-summary")
        yield Label("Settings in force", classes="section-title", id="values-title")
        with VerticalScroll(id="settings-values"):
            yield SettingsValues(id="settings-table")
        yield Label("History", classes="section-title", id="revisions-title")
        yield RevisionTable(REVISION_COLUMNS, empty_text="Loading the revisions…", id="revisions")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#revisions", VirtualTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        # An admin may have applied a revision meanwhile (from the command line).
        if self._loaded_once:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="settings")
    def load(self) -> None:
        found = self.guarded(self.backend.governance_settings)
        if found is not None:
            current, history = found
            self.post_message(SettingsLoaded(current, history))

    def on_settings_loaded(self, message: SettingsLoaded) -> None:
        self._loaded_once = True
        self.current = message.current
        self.history = list(message.history)
        current = message.current
        latest = next((r for r in self.history if r.revision == current.revision), None)
        changed = list(latest.changed) if latest is not None else []
        if current.revision == 1 and not changed:
            what = "the catalogue's first settings"
        else:
            what = "changed " + (", ".join(changed) or "nothing (the same rules again)")
        self.query_one("#settings-summary", Static).update(
            Content.from_markup(
                f"[b]Revision {current.revision}[/b] in force · applied "
                f"{fmt.moment(current.created_at)} by [b]{fmt.escape(current.created_by)}"
                f"[/b] · {fmt.escape(what)}\n"
                f"[$text-muted]SHA-256[/] {current.sha256}\n"
                "[$text-muted]Read-only here; an admin changes them with `govern settings "
                "apply FILE`.[/]"
            )
        )
        self.query_one("#settings-table", SettingsValues).show(
            current.document, changed, current.revision
        )
        legend = f" · [$text-warning]●[/] changed by revision {current.revision}" if changed else ""
        self.query_one("#values-title", Label).update(
            Content.from_markup(f"Settings in force: {len(current.document)}{legend}")
        )
        count = len(self.history)
        self.query_one("#revisions-title", Label).update(
            f"History: {count} revision{'s' if count != 1 else ''}, newest first"
            " · Enter shows what one changed"
        )
        table = self.query_one("#revisions", VirtualTable)
        table.empty_text = "No revision yet."
        table.set_rows(list(reversed(self.history)), keep_cursor=True)
        # As tall as its rows (the header and at least one line), the values get the rest.
        table.styles.height = min(max(count, 1), HISTORY_ROWS) + 1

    @on(VirtualTable.RowSelected, "#revisions")
    def _detail(self, event: VirtualTable.RowSelected) -> None:
        revision = event.row
        title, text, body = revision_detail(revision, self.history)
        self.app.push_screen(MessageModal(title, text, error=False, wide=True, body=body))


def revision_detail(
    revision: SettingsRevisionPublic, history: list[SettingsRevisionPublic]
) -> tuple[str, str, RenderableType]:
    """A revision's title, its changes as text, and the same as a grid (for the modal)."""
    earlier = [r for r in history if r.revision < revision.revision]
    head = (
        f"Applied {fmt.moment(revision.created_at)} by {revision.created_by}\n"
        f"SHA-256 {revision.sha256}"
    )
    title = f"Governance settings revision {revision.revision}"
    grid = Table.grid(padding=(0, 2), expand=True)
    if not earlier:
        lines = [head, "", "The first revision: the settings the catalogue was created with."]
        grid.add_column(overflow="fold")
        grid.add_row(Text("\n".join(lines)))
        grid.add_row(values_grid(revision.document, set(), "bold"))
        text = "\n".join(
            lines + [f"{k}: {'; '.join(value_lines(v))}" for k, v in revision.document.items()]
        )
        return title, text, grid
    previous = earlier[-1]
    found = changes(previous.document, revision.document)
    lines = [head, "", f"Changed from revision {previous.revision}:"]
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row(Text("\n".join(lines)), "", "")
    if found:
        grid.add_row(
            Text("Setting", style="dim"), Text("Was", style="dim"), Text("Now", style="dim")
        )
        for name, was, now in found:
            grid.add_row(Text(name), Text(was), Text(now))
    else:
        grid.add_row(Text("nothing: the same rules as before"), "", "")
    text = "\n".join(lines + [f"{name}: {was} → {now}" for name, was, now in found])
    return title, text, grid
