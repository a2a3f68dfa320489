"""Champion against challenger: performance and fairness side by side, with the deltas and
the promotion gate's verdict."""

from __future__ import annotations

from typing import Any, ClassVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header

from govern.tui import formatting as fmt
from govern.tui.messages import ComparisonLoaded
from govern.tui.screens.base import GovernScreen
from govern.tui.widgets.dialogs import FormDialog, FormField
from govern.tui.widgets.evidence import Evidence


class ComparisonView(Evidence):
    """The comparison as tables; better is green, worse is red, in each metric's direction."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.comparison: Any = None
        self.reasons: list[str] = []
        self.message = "Comparing…"

    def show(self, comparison: Any, reasons: list[str]) -> None:
        self.comparison, self.reasons = comparison, reasons
        self.refresh(layout=True)

    def _delta_text(self, item: Any, c: dict[str, str]) -> Text:
        delta = item.delta
        worse = getattr(item, "worse_by", None)
        tone = "plain"
        if worse is not None and abs(worse) > 1e-12:
            tone = "bad" if worse > 0 else "good"
        return Text(fmt.signed(delta), style=c[tone])

    def render(self) -> RenderableType:
        c = self.colours()
        x = self.comparison
        if x is None:
            return Text(self.message, style="dim italic")
        parts: list[RenderableType] = []
        head = Text()
        head.append("Champion ", style="dim")
        head.append(x.champion, style="bold")
        head.append("   Challenger ", style="dim")
        head.append(x.challenger, style="bold")
        head.append(
            "   same data set" if x.same_data else "   different data sets",
            style="dim" if x.same_data else c["warn"],
        )
        parts.append(head)
        if self.reasons:
            verdict = Text(
                "✘ The promotion gate would refuse the challenger:", style=f"bold {c['bad']}"
            )
            parts.append(verdict)
            parts += [Text(f"  • {reason}", style=c["bad"]) for reason in self.reasons]
        else:
            parts.append(
                Text("✔ The challenger passes the promotion gate.", style=f"bold {c['good']}")
            )
        parts += [Text(f"⚠ {w}", style=c["warn"]) for w in x.warnings]

        def metric_table(title: str, rows: list[Any], scoped: bool) -> Table:
            table = Table(
                title=title,
                title_justify="left",
                title_style=c["title"],
                box=box.SIMPLE_HEAD,
                expand=True,
                pad_edge=False,
                show_edge=False,
            )
            if scoped:
                table.add_column("Grouping", no_wrap=True)
            table.add_column("Metric", ratio=1, no_wrap=True, overflow="ellipsis")
            table.add_column("Champion", justify="right")
            table.add_column("Challenger", justify="right")
            table.add_column("Δ", justify="right")
            for item in rows:
                cells: list[Any] = [item.scope.replace("*", " × ")] if scoped else []
                integral = item.metric == "n"  # a count, not a rate
                cells += [
                    item.metric.replace("_", " "),
                    fmt.number(int(item.champion) if integral and item.champion else item.champion),
                    fmt.number(
                        int(item.challenger) if integral and item.challenger else item.challenger
                    ),
                    self._delta_text(item, c),
                ]
                table.add_row(*cells)
            return table

        overall = metric_table("\nOverall performance", x.overall, scoped=False)
        fairness = (
            metric_table("\nFairness summary", x.fairness, scoped=True) if x.fairness else None
        )
        if fairness is not None and self.text_width() >= 110:
            # Wide terminals: performance and fairness side by side.
            grid = Table.grid(expand=True, padding=(0, 2))
            grid.add_column(ratio=2)
            grid.add_column(ratio=3)
            grid.add_row(overall, fairness)
            parts.append(grid)
        else:
            parts.append(overall)
            if fairness is not None:
                parts.append(fairness)
        if x.groups:
            table = Table(
                title="\nPer group",
                title_justify="left",
                title_style=c["title"],
                box=box.SIMPLE_HEAD,
                expand=True,
                pad_edge=False,
                show_edge=False,
            )
            table.add_column("Group", ratio=1, no_wrap=True, overflow="ellipsis")
            table.add_column("Metric", no_wrap=True)
            table.add_column("Champion", justify="right")
            table.add_column("Challenger", justify="right")
            table.add_column("Δ", justify="right")
            for g in x.groups:
                table.add_row(
                    f"{g.grouping.replace('*', ' × ')}: {g.group}",
                    g.metric.replace("_", " "),
                    fmt.number(g.champion),
                    fmt.number(g.challenger),
                    fmt.signed(g.delta),
                )
            parts.append(table)
        return Group(*parts)


class CompareScreen(GovernScreen):
    """Two versions side by side; ``s`` swaps them, ``p`` picks others."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("s", "swap", "Swap"),
        Binding("p", "pick", "Pick versions"),
    ]

    def __init__(self, champion: str, challenger: str) -> None:
        super().__init__()
        self.champion = champion
        self.challenger = challenger

    def compose(self) -> ComposeResult:
        yield Header(icon="⚖")
        with VerticalScroll(id="compare-body"):
            yield ComparisonView(id="comparison")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_swap(self) -> None:
        if self.champion:
            self.champion, self.challenger = self.challenger, self.champion
            self.load()

    def action_pick(self) -> None:
        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                self.champion = values["champion"].strip()
                self.challenger = values["challenger"].strip()
                self.load()

        self.app.push_screen(
            FormDialog(
                "Compare two versions",
                [
                    FormField("champion", "Champion", "NAME@VERSION", self.champion, True),
                    FormField("challenger", "Challenger", "NAME@VERSION", self.challenger, True),
                ],
                submit="Compare",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="compare")
    def load(self) -> None:
        if not self.champion:
            champion = self.guarded(self.backend.default_champion, self.challenger)
            if champion is None:
                self.app.call_from_thread(self._nothing)
                return
            self.champion = champion
        answer = self.guarded(self.backend.compare, self.champion, self.challenger)
        if answer is not None:
            self.post_message(ComparisonLoaded(*answer))
        else:
            self.app.call_from_thread(self._nothing)

    def _nothing(self) -> None:
        view = self.query_one("#comparison", ComparisonView)
        view.message = "Nothing to compare. Press p to pick two evaluated versions."
        view.show(None, [])

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.query_one("#comparison", ComparisonView).show(message.comparison, message.reasons)
