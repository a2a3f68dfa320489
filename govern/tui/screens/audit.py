"""The audit log: newest first, filtered, paged by sequence number, with chain verification.

Pages come from ``audit_log(before_seq=...)`` (keyset paging on the primary key), so the
screen costs the same on a log of a hundred events or of a million: it never loads the log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Footer, Header, Input, Label, Static

from govern.tui import formatting as fmt
from govern.tui.messages import AuditCounted, AuditPageLoaded, ChainVerified
from govern.tui.screens.base import GovernScreen
from govern.tui.widgets.dialogs import FormDialog, FormField, MessageModal
from govern.tui.widgets.table import Column, Tone, VirtualTable

if TYPE_CHECKING:
    from govern.services.views import AuditEventPublic

PAGE = 200


def summary(event: AuditEventPublic) -> str:
    """One line saying what an event did, from the fields that matter to a reader."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    parts: list[str] = []
    if payload.get("from_state") and payload.get("to_state"):
        parts.append(f"{payload['from_state']} → {payload['to_state']}")
    if payload.get("approvals"):
        parts.append(str(payload["approvals"]))
    if payload.get("reason"):
        parts.append(str(payload["reason"]))
    if payload.get("comment"):
        parts.append(f"“{payload['comment']}”")
    if payload.get("role") and not parts:
        parts.append(f"role {payload['role']}")
    if payload.get("risk_tier") and not parts:
        parts.append(f"{payload['risk_tier']} risk")
    if payload.get("outcome"):
        parts.append(f"outcome {payload['outcome']}")
    if not parts:
        parts.append(_fields(payload))
    return "; ".join(p for p in parts if p)


def _fields(payload: dict[str, Any]) -> str:
    """Short scalar fields as ``key value``; paths, hashes and uuids are left to the detail."""
    shown = []
    for key, value in payload.items():
        if key.endswith(("file", "path", "sha256", "hash")) or isinstance(value, list):
            continue
        if key.endswith("_id") and isinstance(value, str):  # uuids: noise in one line
            continue
        if isinstance(value, dict):
            value = value.get("name")
        if value is None or (isinstance(value, str) and ("/" in value or len(value) > 40)):
            continue
        shown.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(shown[:4])


def event_fields(event: AuditEventPublic) -> list[tuple[str, str]]:
    """An event in full: its own fields, then each payload field."""
    fields = [
        ("Time", str(event.ts)),
        ("Actor", event.actor),
        ("Action", event.action),
        ("Subject", event.subject or fmt.MISSING),
        ("Hash", event.hash),
    ]
    payload = event.payload if isinstance(event.payload, dict) else {"payload": event.payload}
    for key, value in sorted(payload.items()):
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        fields.append((str(key), shown))
    return fields


def event_table(event: AuditEventPublic) -> Table:
    """The fields as a grid: long values (hashes, paths) wrap beside their names."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for index, (name, value) in enumerate(event_fields(event)):
        if index == 5:
            grid.add_row("", "")  # the payload below the chained fields
        grid.add_row(name.replace("_", " "), Text(value))
    return grid


def _action_tone(event: AuditEventPublic) -> Tone:
    if event.action.endswith(".refused"):
        return "bad"
    if event.action.startswith("version."):
        return "accent"
    return "plain"


# In 80 columns the number, time, actor, action and subject fit and the line under the
# table says what the highlighted event did; wider terminals add the Detail column.
COLUMNS = (
    Column("seq", "#", 7, lambda e: str(e.seq), justify="right"),
    Column("ts", "Time (UTC)", 16, lambda e: fmt.stamp(e.ts), drop=2),
    Column("actor", "Actor", 8, lambda e: e.actor, flex=True, max_width=14),
    Column("action", "Action", 16, lambda e: e.action, tone=_action_tone, flex=True, max_width=26),
    Column(
        "subject",
        "Subject",
        18,
        lambda e: e.subject or fmt.MISSING,
        drop=1,
        flex=True,
        max_width=30,
    ),
    Column("detail", "Detail", 24, summary, flex=True, drop=3),
)


class EventTable(VirtualTable):
    """The events; Enter shows one in full."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select", "Detail")]


class AuditScreen(GovernScreen):
    """Every recorded change, newest first; verify the hash chain with one key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filters", "Filter"),
        Binding("v", "verify", "Verify chain"),
        Binding(
            "c",
            "verify_checkpoint",
            "Verify checkpoint",
            tooltip="Verify against a signed checkpoint file",
            show=False,
        ),
        Binding("g", "go_to", "Go to #", tooltip="Show the log from one event number down"),
        Binding("f5", "refresh", "Refresh", show=False, tooltip="Newest events again"),
        Binding("escape", "clear_filters", "Clear", show=False),
        Binding("3", "app.go('audit')", "Audit", show=False),  # you are here
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, str | None] = {"actor": None, "subject": None, "action": None}
        self.events: list[AuditEventPublic] = []
        self.exhausted = False
        self.total: int | None = None
        self._loading = False
        #: Show the log from this event number down (None: from the newest).
        self.start_at: int | None = None
        # Bumped by every reload, so a page fetched under old filters is dropped on arrival.
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        with Horizontal(classes="filter-bar"):
            yield Input(placeholder="actor", id="actor", compact=True, tooltip="Exactly this user")
            yield Input(
                placeholder="subject[@version]",
                id="subject",
                compact=True,
                tooltip="A model (all its versions) or one NAME@VERSION",
            )
            yield Input(
                placeholder="action prefix",
                id="action",
                compact=True,
                tooltip="An action or its prefix: version, version.approve, report",
            )
            yield Label("", id="audit-count")
        yield Static("Press v to verify the hash chain.", id="verdict")
        yield EventTable(COLUMNS, empty_text="Loading the audit log…", id="events")
        yield Static("", id="event-line")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#events", VirtualTable).focus()
        self.call_after_refresh(self.govern.mark, "audit_first_paint")
        self.reload()

    def reload(self) -> None:
        self.events = []
        self.exhausted = False
        self._generation += 1
        self._loading = True
        start = self.start_at + 1 if self.start_at is not None else None
        self.fetch(before_seq=start, append=False, generation=self._generation)
        self.count()

    def action_refresh(self) -> None:
        self.start_at = None
        self.reload()

    def action_go_to(self) -> None:
        """Jump to an event by number: one keyset query, however long the log."""

        def chosen(values: dict[str, str] | None) -> None:
            if values is None:
                return
            text = values["seq"].strip().replace(",", "").lstrip("#")
            if text and not text.isdigit():
                self.notify(f"{values['seq']!r} is not an event number", severity="error")
                return
            self.start_at = int(text) if text else None
            self.reload()
            self.query_one("#events", VirtualTable).focus()

        self.app.push_screen(
            FormDialog(
                "Go to an event",
                [FormField("seq", "Event number", "e.g. 500000; empty for the newest")],
                note="The log is shown from that event down, with the filters applied.",
                submit="Go",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="audit-count")
    def count(self) -> None:
        total = self.guarded(self.backend.count_events)
        if total is not None:
            self.post_message(AuditCounted(total))

    @work(thread=True, exclusive=True, group="audit-page")
    def fetch(self, *, before_seq: int | None, append: bool, generation: int) -> None:
        events = self.guarded(
            self.backend.audit_page,
            actor=self.filters["actor"],
            subject=self.filters["subject"],
            action=self.filters["action"],
            before_seq=before_seq,
            limit=PAGE,
        )
        if events is None:
            self._loading = False
        else:
            self.post_message(AuditPageLoaded(events, append, len(events) < PAGE, generation))

    def on_audit_page_loaded(self, message: AuditPageLoaded) -> None:
        if message.generation != self._generation:
            return
        self._loading = False
        table = self.query_one("#events", VirtualTable)
        self.exhausted = message.exhausted
        if message.append:
            self.events.extend(message.events)
            table.append_rows(message.events)
        else:
            self.events = list(message.events)
            table.empty_text = "No event matches the filters."
            table.set_rows(list(self.events))  # the table keeps its own list
            self.call_after_refresh(self.govern.mark, "audit_rows_shown")
        self._update_count()

    def on_audit_counted(self, message: AuditCounted) -> None:
        self.total = message.total
        self._update_count()

    def _update_count(self) -> None:
        loaded = f"{fmt.count(len(self.events))}{'' if self.exhausted else '+'}"
        filtered = any(self.filters.values())
        total = fmt.count(self.total) if self.total is not None else "…"
        text = f"{loaded} shown" + (" (filtered)" if filtered else "") + f" · {total} events"
        if self.start_at is not None:
            text += f" · from #{self.start_at}"
        self.query_one("#audit-count", Label).update(text)

    @on(VirtualTable.NearEnd, "#events")
    def _more(self) -> None:
        if self.exhausted or self._loading or not self.events:
            return
        self._loading = True
        self.fetch(before_seq=self.events[-1].seq, append=True, generation=self._generation)

    # --- filters ------------------------------------------------------------------------

    @on(Input.Submitted)
    def _filter(self, event: Input.Submitted) -> None:
        self._apply_filters()
        self.query_one("#events", VirtualTable).focus()

    def _apply_filters(self) -> None:
        for name in self.filters:
            value = self.query_one(f"#{name}", Input).value.strip()
            self.filters[name] = value or None
        self.reload()

    def action_focus_filters(self) -> None:
        self.query_one("#actor", Input).focus()

    def action_clear_filters(self) -> None:
        for name in self.filters:
            self.query_one(f"#{name}", Input).value = ""
        self._apply_filters()
        self.query_one("#events", VirtualTable).focus()

    # --- detail -------------------------------------------------------------------------

    @on(VirtualTable.RowHighlighted, "#events")
    def _highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        e = event.table.current
        line = self.query_one("#event-line", Static)
        if e is None:
            line.update("")
            return
        line.update(
            Content.from_markup(
                f"[b]#{e.seq}[/b] {fmt.moment(e.ts)} [b]{fmt.escape(e.actor)}[/b] "
                f"{fmt.escape(e.action)} {fmt.escape(e.subject or fmt.MISSING)}\n"
                f"[$text-muted]{fmt.escape(summary(e))}[/]"
            )
        )

    @on(VirtualTable.RowSelected, "#events")
    def _detail(self, event: VirtualTable.RowSelected) -> None:
        e = event.row
        text = "\n".join(f"{name}: {value}" for name, value in event_fields(e))
        self.app.push_screen(
            MessageModal(f"Audit event #{e.seq}", text, error=False, wide=True, body=event_table(e))
        )

    # --- verification -------------------------------------------------------------------

    def action_verify(self) -> None:
        self._show_verdict("[$text-primary]Verifying the hash chain…[/] (the screen stays usable)")
        self.verify(None)

    def action_verify_checkpoint(self) -> None:
        def chosen(values: dict[str, str] | None) -> None:
            if values:
                self._show_verdict("[$text-primary]Verifying against the checkpoint…[/]")
                self.verify(Path(values["path"]).expanduser())

        self.app.push_screen(
            FormDialog(
                "Verify against a signed checkpoint",
                [FormField("path", "Checkpoint file", "checkpoint.json", required=True)],
                note="Catches truncation and a rewrite of the whole chain.",
                submit="Verify",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="audit-verify")
    def verify(self, checkpoint: Path | None) -> None:
        started = time.perf_counter()
        verdict = self.guarded(self.backend.verify_audit, checkpoint)
        if verdict is not None:
            self.post_message(ChainVerified(verdict, time.perf_counter() - started))
        else:
            self.app.call_from_thread(self._show_verdict, "Verification did not run.")

    def on_chain_verified(self, message: ChainVerified) -> None:
        v = message.verdict
        if v.ok:
            where = " and matches the checkpoint" if v.checkpoint else ""
            text = (
                f"[b $text-success]✔ Chain intact[/]{where}: {fmt.count(v.events, 'event')}, head "
                f"#{fmt.count(v.head_seq)} {v.head_hash[:16]}… ({fmt.seconds(message.seconds)})"
            )
        else:
            problems = "; ".join(fmt.escape(p) for p in v.problems)
            text = f"[b $text-error]✘ Verification failed[/]: {problems}"
        self._show_verdict(text)
        self.notify(
            "Audit chain intact" if v.ok else "Audit chain verification FAILED",
            severity="information" if v.ok else "error",
        )

    def _show_verdict(self, markup: str) -> None:
        self.query_one("#verdict", Static).update(Content.from_markup(markup))
