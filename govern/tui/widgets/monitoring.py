"""A version's production monitoring: selection rates per group over time, and its windows.

Draws the report view's :class:`~govern.report.view.MonitoringView`, the shape the signed
card's monitoring section reads too; which windows broke a rule (its ``alerts``) and the
alarm lines are decided there, once.

The chart is text drawn at the widget's width, one line per group, on one scale shared by
every group of the grouping: Textual's ``Sparkline`` scales each line to its own minimum
and maximum, which would draw a flat 0.30-0.31 like a collapse and make lines incomparable.
"""

from __future__ import annotations

import datetime as dt

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from govern.formatting import STORED_SEPARATOR
from govern.report.view import (
    WINDOW_NAMES,
    MonitoredGrouping,
    MonitoringView,
)
from govern.tui import formatting as fmt
from govern.tui.widgets.evidence import Evidence, note

#: The window width shown first (``govern monitor show --window``), as on the signed card.
DEFAULT_WINDOW = "1w"
#: Window widths in the order the window key cycles through them.
WINDOW_WIDTHS = tuple(WINDOW_NAMES)
#: A rate drawn in one character cell: eight heights, lowest first.
LEVELS = "▁▂▃▄▅▆▇█"
FLAG = "⚑"
#: How many character cells a window may take in the chart.
MAX_CELL = 8
#: How many alerts are written out under the table, newest first.
SHOWN_ALERTS = 8
#: The label of the chart's line that flags the windows that broke a rule.
RULE_ROW = "broke a rule"


def level(value: float | None, scale: float) -> str:
    """One cell of the chart: a bar whose height is ``value`` on 0..scale; blank if absent."""
    if value is None:
        return " "
    index = int(max(0.0, min(value / scale, 1.0)) * len(LEVELS))
    return LEVELS[min(index, len(LEVELS) - 1)]


def alarm_words() -> str:
    return "a rule of the production-monitoring pack, as govern monitor status judges it"


class MonitoringPanel(Evidence):
    """The chart of one grouping's selection rates by window, and the table of windows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.monitoring: MonitoringView | None = None
        #: Whether a record (or the lack of one) has arrived for :attr:`ref`.
        self.loaded = False
        self.ref = "REF"
        self.grouping = ""
        self.problem: str | None = None

    def show(self, monitoring: MonitoringView | None, ref: str, problem: str | None = None) -> None:
        """Show ``ref``'s monitoring (None: no log counted yet, or ``problem`` says why not)."""
        self.monitoring, self.ref, self.problem, self.loaded = monitoring, ref, problem, True
        names = self.grouping_names()
        if self.grouping not in names:
            self.grouping = names[0] if names else ""
        self.refresh(layout=True)

    def grouping_names(self) -> list[str]:
        return [g.name for g in self.monitoring.groupings] if self.monitoring is not None else []

    def select(self, grouping: str) -> None:
        self.grouping = grouping
        self.refresh(layout=True)

    def flagged(self) -> set[dt.date]:
        """The starts of the windows that broke a rule."""
        return self.monitoring.alert_starts if self.monitoring is not None else set()

    def draw(self) -> RenderableType:
        c = self.colours()
        view = self.monitoring
        if self.problem is not None:
            return note(self.problem)
        if not self.loaded:
            return note("Reading the monitoring record…")
        if view is None or not view.windows:
            return note(
                f"No prediction logs counted yet: govern monitor run {self.ref} --logs "
                "FILES_OR_GLOBS --sensitive COL,… (--score COL --outcome COL)"
            )
        parts: list[RenderableType] = [self._head(view, c)]
        grouping = next((g for g in view.groupings if g.name == self.grouping), None)
        if grouping is None:
            parts.append(note("The logs were counted without sensitive features: no groups."))
        else:
            parts += self._chart(view, grouping, c)
        parts += [Text(""), self._windows(view, c)]
        newest = list(reversed(view.alerts))
        parts += [
            Text(f"{FLAG} {fmt.day(a.start)}  {a.message}", style=c["bad"])
            for a in newest[:SHOWN_ALERTS]
        ]
        if len(newest) > SHOWN_ALERTS:
            parts.append(note(f"and {fmt.count(len(newest) - SHOWN_ALERTS, 'earlier alert')}"))
        parts.append(
            note(f"{FLAG} a window that broke a rule: {alarm_words()}. dim: a small group")
        )
        return Group(*parts)

    def _head(self, view: MonitoringView, c: dict[str, str]) -> Text:
        head = Text()
        first, last = view.windows[0], view.windows[-1]
        head.append(f"Production monitoring, {view.window_name} windows", style=c["title"])
        head.append(
            f"  {fmt.day(first.start)} to {fmt.day(last.last_day)} · {fmt.count(view.rows, 'row')}"
            f" ({fmt.count(view.outcomes_known, 'outcome')} known) from "
            f"{fmt.count(len(view.files), 'log file')}",
            style="dim",
        )
        if view.files:
            latest = max(view.files, key=lambda f: f.counted_at)
            head.append(
                f" · last counted {fmt.day(latest.counted_at)} by {latest.counted_by}",
                style="dim",
            )
        flagged = self.flagged()
        if flagged:
            head.append(
                f"\n{FLAG} {fmt.count(len(flagged), 'window')} of {len(view.windows)} broke a rule",
                style=f"bold {c['bad']}",
            )
        return head

    def _chart(
        self, view: MonitoringView, grouping: MonitoredGrouping, c: dict[str, str]
    ) -> list[RenderableType]:
        """One line per group: its selection rate in each window, and its latest. A window
        where the group is the one an alert names is drawn in the alarm colour; the line
        under the chart flags every window that broke a rule."""
        windows = view.windows
        scale = fmt.bar_scale(r for series in grouping.groups for r in series.rates)
        labels = {s.group: _label(grouping, s.group) for s in grouping.groups}
        label_width = min(
            max([len(RULE_ROW), len(fmt.grouping(grouping.name)), *map(len, labels.values())]),
            28,
        )
        room = max(8, self.text_width() - label_width - 9)
        cell = max(1, min(MAX_CELL, room // len(windows)))
        shown = min(len(windows), room // cell)  # the latest windows that fit
        start = len(windows) - shown
        alerted = {(a.start, a.subject) for a in view.alerts}
        flagged = self.flagged()
        table = Table(box=None, expand=False, pad_edge=False, show_edge=False, padding=(0, 1))
        table.add_column(fmt.grouping(grouping.name), width=label_width, no_wrap=True)
        table.add_column(fmt.scale_label(scale, shown * cell), width=shown * cell, no_wrap=True)
        table.add_column("latest", justify="right", width=6)
        for series in grouping.groups:
            subject = fmt.group(grouping.name, series.group)
            line = Text()
            for window, rate in list(zip(windows, series.rates, strict=False))[start:]:
                hit = (window.start, subject) in alerted
                line.append(level(rate, scale) * cell, style=c["bad"] if hit else c["bar"])
            latest = series.rates[-1] if series.rates else None
            table.add_row(labels[series.group], line, fmt.number(latest))
        marks = Text()
        for window in windows[start:]:
            hit = window.start in flagged
            marks.append((FLAG if hit else "·").ljust(cell), style=c["bad"] if hit else "dim")
        table.add_row(Text(RULE_ROW, style="dim"), marks, "")
        span = f"{fmt.day(windows[start].start)} → {fmt.day(windows[-1].start)}"
        table.add_row("", Text(span, style="dim"), "")
        title = Text("Selection rate by window", style=c["title"])
        if start:
            title.append(f"  (the latest {shown} of {len(windows)} windows)", style="dim")
        return [title, table]

    def _windows(self, view: MonitoringView, c: dict[str, str]) -> Table:
        table = Table(
            title="Windows, newest first",
            title_justify="left",
            title_style=c["title"],
            box=box.SIMPLE_HEAD,
            expand=True,
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        # The figures keep their width; the group's name takes what is left, cut if need be.
        table.add_column("", width=1, no_wrap=True)
        table.add_column("start", no_wrap=True, min_width=10)
        table.add_column("rows", justify="right", no_wrap=True, min_width=7)
        table.add_column("outcomes", justify="right", no_wrap=True, min_width=8)
        table.add_column("score PSI", justify="right", no_wrap=True, min_width=9)
        table.add_column("lowest IR", justify="right", no_wrap=True, min_width=9)
        table.add_column("group", no_wrap=True, overflow="ellipsis", ratio=1)
        flagged = self.flagged()
        for w in reversed(view.windows):
            hit = w.start in flagged
            broken = {a.figure for a in view.alerts_in(w)}
            low = "impact ratio" in broken
            psi = "score PSI" in broken
            group = (
                fmt.group(w.lowest_grouping, w.lowest_group)
                if w.lowest_grouping is not None
                else fmt.MISSING
            )
            table.add_row(
                Text(FLAG if hit else "", style=c["bad"]),
                Text(fmt.day(w.start), style=f"bold {c['bad']}" if hit else ""),
                fmt.count(w.rows),
                fmt.count(w.outcomes_known),
                Text(fmt.number(w.score_psi), style=c["bad"] if psi else ""),
                Text(fmt.number(w.lowest_impact_ratio, 2), style=c["bad"] if low else ""),
                Text(group, style="dim" if w.lowest_small else ""),
            )
        return table


def _label(grouping: MonitoredGrouping, group: str) -> str:
    """A group under a heading that names its features: its values, ``female ∧ under_25``."""
    features = fmt.grouping(grouping.name).split(fmt.AND)
    values = group.split(STORED_SEPARATOR)
    if len(values) == len(features):
        return fmt.AND.join(values)
    return fmt.group(grouping.name, group)


__all__ = [
    "DEFAULT_WINDOW",
    "MAX_CELL",
    "RULE_ROW",
    "WINDOW_WIDTHS",
    "MonitoringPanel",
    "alarm_words",
    "level",
]
