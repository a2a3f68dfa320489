"""The review queue: what awaits the acting user, oldest first, and what is due for validation."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Label

from govern.tui import formatting as fmt
from govern.tui.messages import QueueLoaded
from govern.tui.screens.base import GovernScreen
from govern.tui.screens.catalogue import VersionPeek
from govern.tui.widgets.table import Column, Tone, VirtualTable


def _waiting(since: dt.datetime) -> str:
    days = (dt.datetime.now(dt.UTC) - since).days
    if days <= 0:
        return "today"
    return f"{days} day{'s' if days != 1 else ''}"


def _due_tone(status: str) -> Tone:
    return "bad" if status == "overdue" else "warn"


QUEUE_COLUMNS = (
    Column("ref", "Version", 18, lambda q: q.ref, flex=True, max_width=32),
    Column(
        "state",
        "State",
        12,
        lambda q: fmt.state_label(q.state),
        tone=lambda q: fmt.state_tone(q.state),
        drop=2,
    ),
    Column(
        "tier", "Tier", 8, lambda q: q.risk_tier, tone=lambda q: fmt.tier_tone(q.risk_tier), drop=3
    ),
    Column("since", "Waiting", 8, lambda q: _waiting(q.waiting_since), justify="right", drop=1),
    Column("reason", "Why it waits for you", 28, lambda q: q.reason, flex=True),
)
DUE_COLUMNS = (
    Column("ref", "Version", 18, lambda d: d.ref, flex=True, max_width=32),
    Column(
        "state",
        "State",
        10,
        lambda d: fmt.state_label(d.state),
        tone=lambda d: fmt.state_tone(d.state),
    ),
    Column("owner", "Owner", 10, lambda d: d.owner, drop=1),
    Column("due", "Due", 10, lambda d: fmt.day(d.next_validation_due)),
    Column(
        "left",
        "Status",
        16,
        lambda d: f"overdue {-d.days_left} d" if d.days_left < 0 else f"due in {d.days_left} d",
        tone=lambda d: _due_tone(d.status),
        flex=True,
    ),
)


class QueueScreen(GovernScreen):
    """Versions awaiting the acting user's decision, and validations falling due."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "refresh", "Refresh"),
        Binding("tab", "focus_next", "Next table", show=False),
        Binding("2", "app.go('queue')", "Queue", show=False),  # you are here
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        with Horizontal(id="queue-main"):
            with Vertical(id="queue-body"):
                yield Label("Awaiting you", classes="section-title", id="queue-title")
                yield VirtualTable(
                    QUEUE_COLUMNS, empty_text="Loading the review queue…", id="queue"
                )
                yield Label("Validation due", classes="section-title", id="due-title")
                yield VirtualTable(DUE_COLUMNS, empty_text="Loading…", id="due")
            yield VersionPeek(hint="Enter opens its workflow", id="queue-peek")
        yield Footer(compact=True)

    def __init__(self) -> None:
        super().__init__()
        self._loaded_once = False

    def on_mount(self) -> None:
        self.query_one("#queue", VirtualTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        # Decisions made elsewhere change the queue; the first showing loads it in on_mount.
        if self._loaded_once:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="queue")
    def load(self) -> None:
        queue = self.guarded(self.backend.queue)
        due = self.guarded(self.backend.due)
        if queue is not None and due is not None:
            self.post_message(QueueLoaded(queue, due))

    def on_queue_loaded(self, message: QueueLoaded) -> None:
        self._loaded_once = True
        role = self.govern.role or "user"
        queue = self.query_one("#queue", VirtualTable)
        queue.empty_text = "Nothing awaits you."
        queue.set_rows(message.queue, keep_cursor=True)
        due = self.query_one("#due", VirtualTable)
        due.empty_text = "No validation is due soon."
        due.set_rows(message.due, keep_cursor=True)
        self.query_one("#queue-title", Label).update(
            f"Awaiting {self.backend.actor} ({role}): {len(message.queue)}, oldest first"
        )
        self.query_one("#due-title", Label).update(f"Validation due or overdue: {len(message.due)}")

    @on(VirtualTable.RowSelected)
    def _open(self, event: VirtualTable.RowSelected) -> None:
        self.govern.open_version(event.row.ref, tab="workflow")

    # --- the side panel (wide terminals): the highlighted version's particulars ---------

    @on(VirtualTable.RowHighlighted)
    def _highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        if event.table.has_focus and event.table.current is not None:
            self.peek(event.table.current.ref)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, VirtualTable) and event.widget.current is not None:
            self.peek(event.widget.current.ref)

    @work(thread=True, exclusive=True, group="queue-peek")
    def peek(self, ref: str) -> None:
        name = ref.split("@", 1)[0]
        versions = self.guarded(self.backend.list_versions, model=name)
        found = next((v for v in versions or [] if v.ref == ref), None)
        self.app.call_from_thread(self.query_one("#queue-peek", VersionPeek).show, found)
