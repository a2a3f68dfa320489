"""The version screen's Monitoring tab: a version's production monitoring (``govern monitor
show``) as one line of selection rates per group over the windows, and a table of windows in
which those that broke a rule (an impact ratio below 0.8, a score PSI above 0.2) are flagged.

The log is counted with the real service into the console's catalogue; the expected rates
are computed from the log's rows with pandas, not read back from what the tab shows.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from govern.tui import formatting as fmt
from govern.tui.screens.version import VersionScreen
from govern.tui.widgets.monitoring import DEFAULT_WINDOW, MAX_CELL, MonitoringPanel, level
from tests.tui.conftest import (
    LOG_DROP,
    LOG_MONDAY,
    ConsoleCatalogue,
    console_app,
    count_log,
    drifting_log,
    settle,
    synchronous,
)

SIZE = (120, 40)
REF = "credit-risk@1.0.0"

#: The four-fifths line of the production-monitoring pack's impact-ratio rules.
FOUR_FIFTHS = 0.8


@pytest.fixture
def monitored(console: ConsoleCatalogue, tmp_path: Path) -> pd.DataFrame:
    """``REF`` with the drifting log counted into its monitoring record."""
    frame = drifting_log()
    count_log(console, REF, frame, tmp_path)
    return frame


def drawn(panel: MonitoringPanel, width: int = 118) -> list[str]:
    console = Console(width=width, file=io.StringIO())
    console.print(panel.draw())
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined, no-any-return]


def line(lines: list[str], start: str) -> str:
    return next(x for x in lines if x.lstrip().startswith(start))


async def monitoring_tab(pilot: Any, ref: str) -> tuple[VersionScreen, MonitoringPanel]:
    await settle(pilot)
    pilot.app.open_version(ref, tab="monitoring")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, VersionScreen)
    return screen, screen.query_one("#monitoring-panel", MonitoringPanel)


def weekly_rates(frame: pd.DataFrame, sex: str) -> list[float]:
    days = frame["timestamp"].dt.date
    weeks = [LOG_MONDAY + dt.timedelta(weeks=i) for i in range(4)]
    chosen = frame["sex"] == sex
    return [
        float(
            frame.loc[
                chosen & (days >= w) & (days < w + dt.timedelta(weeks=1)), "prediction"
            ].mean()
        )
        for w in weeks
    ]


@synchronous
async def test_the_tab_draws_each_groups_rate_by_week_and_flags_the_weeks_that_broke_a_rule(
    console: ConsoleCatalogue, monitored: pd.DataFrame
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        screen, panel = await monitoring_tab(pilot, REF)
        assert screen.window == DEFAULT_WINDOW == "1w"
        view = panel.monitoring
        assert view is not None and view.window == "1w"
        assert [w.start for w in view.windows] == [
            LOG_MONDAY + dt.timedelta(weeks=i) for i in range(4)
        ]
        assert panel.grouping == "sex"
        female, male = weekly_rates(monitored, "female"), weekly_rates(monitored, "male")
        # the oracle: the later weeks' ratio is below four-fifths, the earlier ones' are not
        assert all(f / m >= FOUR_FIFTHS for f, m in zip(female[:2], male[:2], strict=True))
        assert all(f / m < FOUR_FIFTHS for f, m in zip(female[2:], male[2:], strict=True))
        assert panel.flagged() == {LOG_DROP, LOG_DROP + dt.timedelta(weeks=1)}

        lines = drawn(panel)
        text = "\n".join(lines)
        assert "Production monitoring, weekly windows  2026-03-02 to 2026-03-29" in text
        assert "⚑ 2 windows of 4 broke a rule" in text
        scale = fmt.bar_scale([*female, *male])
        for label, rates in (("female", female), ("male", male)):
            row = line(lines, label + " ")
            bars = "".join(level(r, scale) for r in rates)
            assert "".join(c for c in row if c in "▁▂▃▄▅▆▇█")[::MAX_CELL] == bars
            assert row.split()[-1] == fmt.number(rates[-1])
        assert line(lines, "broke a rule").split()[3:] == ["·", "·", "⚑", "⚑"]

        at = lines.index(line(lines, "Windows, newest first"))
        rows = lines[at + 3 : at + 7]  # under the title, the heading and its rule
        table = {x.split()[1 if x.startswith("⚑") else 0]: x for x in rows}
        assert list(table) == ["2026-03-23", "2026-03-16", "2026-03-09", "2026-03-02"]
        assert [d for d, x in table.items() if x.startswith("⚑")] == ["2026-03-23", "2026-03-16"]
        week = view.windows[2]
        assert week.lowest_impact_ratio is not None and week.lowest_impact_ratio < 0.8
        shown = table["2026-03-16"].split()
        assert shown[1:5] == [
            "2026-03-16",
            fmt.count(week.rows),
            fmt.count(week.outcomes_known),
            fmt.number(week.score_psi),
        ]
        assert fmt.number(week.lowest_impact_ratio, 2) in shown
        assert "2026-03-02" in table and not table["2026-03-02"].startswith("⚑")
        assert (
            "a rule of the production-monitoring pack, as govern monitor status judges it" in text
        )
        newest = view.alerts[-1]  # the rules' own breaches, newest first under the table
        alert = line(lines, f"⚑ {fmt.day(newest.start)}  {newest.subject}: {newest.figure}")
        assert fmt.number(newest.value) in alert

        await pilot.press("f")  # the next grouping, on this tab
        assert panel.grouping == "age_group"
        assert line(drawn(panel), "under_25 ")
        assert screen._active_tab() == "monitoring"

        svg = app.export_screenshot()
        assert "Monitoring" in svg and "broke" in svg


@synchronous
async def test_the_window_key_switches_between_months_days_and_weeks(
    console: ConsoleCatalogue, monitored: pd.DataFrame
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        screen, panel = await monitoring_tab(pilot, REF)
        await pilot.press("w")
        await settle(pilot)
        assert screen.window == "1mo" and panel.monitoring is not None
        assert panel.monitoring.window == "1mo"
        (month,) = panel.monitoring.windows
        assert (month.start, month.rows) == (dt.date(2026, 3, 1), len(monitored))
        assert "Production monitoring, monthly windows" in "\n".join(drawn(panel))

        await pilot.press("w")
        await settle(pilot)
        assert panel.monitoring.window == "1d"
        days = monitored["timestamp"].dt.date.value_counts()
        assert {w.start: w.rows for w in panel.monitoring.windows} == days.to_dict()
        assert "(the latest" not in "\n".join(drawn(panel))  # 28 days fit in 120 columns

        await pilot.press("w")
        await settle(pilot)
        assert panel.monitoring.window == "1w" and len(panel.monitoring.windows) == 4


@synchronous
async def test_a_version_without_logs_says_how_to_count_them(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        _screen, panel = await monitoring_tab(pilot, "credit-risk@1.1.0")
        assert panel.loaded and panel.monitoring is None
        (text,) = drawn(panel, 200)
        assert text.startswith(
            "No prediction logs counted yet: govern monitor run credit-risk@1.1.0 --logs "
        )
        await pilot.press("w")  # another width: still nothing
        await settle(pilot)
        assert drawn(panel, 200)[0].startswith("No prediction logs counted yet")
