"""Champion against challenger: performance and fairness side by side, with the deltas and
the promotion gate's verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

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
from govern.tui.widgets.evidence import (
    METRIC_NAMES,
    PERFORMANCE_NAMES,
    SUMMARY_NAMES,
    Evidence,
)

if TYPE_CHECKING:
    from govern.domain.comparison import Comparison, MetricDelta


class ComparisonView(Evidence):
    """The comparison as tables; better is green, worse is red, in each metric's direction."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.comparison: Comparison | None = None
        self.reasons: list[str] = []
        self.message = "Comparing…"

    def show(self, comparison: Comparison | None, reasons: list[str]) -> None:
        self.comparison, self.reasons = comparison, reasons
        self.refresh(layout=True)

    def _delta_text(self, item: MetricDelta, c: dict[str, str], digits: int = 3) -> Text:
        delta, worse = item.delta, item.worse_by
        tone = "plain"
        if worse is not None and abs(worse) > 1e-12:
            tone = "bad" if worse > 0 else "good"
        return Text(fmt.signed(delta, digits), style=c[tone])

    def draw(self) -> RenderableType:
        c = self.colours()
        x = self.comparison
        if x is None:
            return Text(self.message, style="dim italic")
        parts = self._verdict(x, c)
        parts += self._tables(x, c)
        if self.reasons:
            parts.append(Text("\nWhy the promotion gate refuses the challenger", style=c["title"]))
            reasons = Table.grid(padding=(0, 1))
            reasons.add_column(width=1, style=c["bad"])
            reasons.add_column(ratio=1)
            for reason in self.reasons:
                reasons.add_row("•", reason)
            parts.append(reasons)
        return Group(*parts)

    def _verdict(self, x: Comparison, c: dict[str, str]) -> list[RenderableType]:
        """Which versions on which data, the gate's verdict and the comparison's warnings."""
        parts: list[RenderableType] = []
        head = Text()
        head.append("Champion ", style="dim")
        head.append(x.champion, style="bold")
        head.append(" · challenger ", style="dim")
        head.append(x.challenger, style="bold")
        head.append(
            " · same data" if x.same_data else " · different data sets",
            style="dim" if x.same_data else c["warn"],
        )
        parts.append(head)
        if self.reasons:
            count = len(self.reasons)
            parts.append(
                Text(
                    f"✘ The promotion gate would refuse the challenger "
                    f"({count} reason{'s' if count != 1 else ''} below the tables)",
                    style=f"bold {c['bad']}",
                )
            )
        else:
            parts.append(
                Text("✔ The challenger passes the promotion gate.", style=f"bold {c['good']}")
            )
        parts += [Text(f"⚠ {w}", style=c["warn"]) for w in x.warnings]
        parts.append(
            Text("Δ is challenger minus champion; red is worse, green better.", style="dim")
        )
        return parts

    def _table(self, title: str, first: tuple[str, ...], c: dict[str, str]) -> Table:
        made = Table(
            title=title,
            title_justify="left",
            title_style=c["title"],
            box=box.SIMPLE_HEAD,
            expand=False,  # figures next to their names, however wide the terminal
            pad_edge=False,
            show_edge=False,
            min_width=min(self.text_width(), 72),
        )
        for index, name in enumerate(first):
            last = index == len(first) - 1
            made.add_column(name, ratio=1 if last else None, no_wrap=True, overflow="ellipsis")
        made.add_column("Champion", justify="right", no_wrap=True)
        made.add_column("Challenger", justify="right", no_wrap=True)
        made.add_column("Δ", justify="right", no_wrap=True)
        return made

    def _figures(self, item: MetricDelta, c: dict[str, str]) -> list[RenderableType]:
        integral = item.metric == "n"  # a count, not a rate
        digits = 0 if integral else 3
        return [
            fmt.count(item.champion) if integral else fmt.number(item.champion, digits),
            fmt.count(item.challenger) if integral else fmt.number(item.challenger, digits),
            self._delta_text(item, c, digits),
        ]

    def _tables(self, x: Comparison, c: dict[str, str]) -> list[RenderableType]:
        """Overall performance, the fairness summary and the per-group figures."""
        overall = self._table("\nOverall performance", ("Metric",), c)
        for item in x.overall:
            name = PERFORMANCE_NAMES.get(item.metric, _words(item.metric))
            overall.add_row(name, *self._figures(item, c))
        parts: list[RenderableType] = [overall]
        if x.fairness:
            fairness = self._table("\nFairness summary", ("Grouping", "Metric"), c)
            previous = None
            for item in x.fairness:
                scope = fmt.grouping(item.scope)
                fairness.add_row(
                    scope if scope != previous else "",
                    SUMMARY_NAMES.get(item.metric, _words(item.metric)),
                    *self._figures(item, c),
                )
                previous = scope
            parts.append(fairness)
        if x.groups:
            groups = self._table("\nPer group", ("Group", "Metric"), c)
            for g in x.groups:
                groups.add_row(
                    fmt.group(g.grouping, g.group),
                    METRIC_NAMES.get(g.metric, _words(g.metric)),
                    fmt.number(g.champion),
                    fmt.number(g.challenger),
                    fmt.signed(g.delta),
                )
            parts.append(groups)
        return parts


def _words(name: str) -> str:
    return name.replace("_", " ")


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
