"""The card's production monitoring section: prediction logs counted by ``govern monitor
run`` shown as weekly windows, time-series charts and alerts, in a signed PDF read back.

The logs come from the monitoring tests' builders; in the later weeks one group (women) is
given the positive decision far less often, so those windows raise an impact-ratio alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tests.conftest as shared
from govern import formatting
from govern.report.view import MonitoringView
from govern.services import Context, monitoring, reports
from tests.monitor.test_aggregate import COLUMNS, START, rows, write
from tests.report.conftest import REF, embedded_files, pdf_text, pdfsig, prepare

#: The logs' first day: a Monday, so the four weeks are four whole windows.
MONDAY = START + dt.timedelta(days=1)
#: Women's positive decisions fall from this day on (the third week).
FALL = MONDAY + dt.timedelta(days=14)


def falling_rows(count: int, *, seed: int = 3) -> pd.DataFrame:
    """Four weeks of logs in which women's selection rate falls from :data:`FALL`."""
    frame = rows(count, seed=seed, days=28)
    frame["timestamp"] += MONDAY - START
    rng = np.random.default_rng(seed + 1)
    late = frame["timestamp"] >= pd.Timestamp(FALL)
    women = (frame["sex"] == "female") & late
    # Their scores are pushed down, so their decisions fall with them (score > 0.45).
    frame.loc[women, "score"] = frame.loc[women, "score"] * rng.uniform(0.2, 0.6, women.sum())
    frame["prediction"] = (frame["score"] > 0.45).astype(int)
    return frame


@dataclass
class MonitoredCard:
    url: str
    home: Path
    pdf: Path
    logs: list[Path]
    view: MonitoringView
    ctx: Context


@pytest.fixture(scope="module")
def monitored_card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoredCard]:
    """The sample version with four weeks of logs counted in two runs, and its signed card."""
    base = tmp_path_factory.mktemp("monitored-card")
    home, people = base / "home", base / "people"
    url = f"sqlite:///{base / 'govern.db'}"
    with pytest.MonkeyPatch.context() as patch:
        # As the shared signed card: a module fixture is made before the test's environment.
        for name in list(os.environ):
            if name.startswith("GOVERN_") and not name.startswith("GOVERN_TEST_"):
                patch.delenv(name)
        patch.setenv("GOVERN_HOME", str(home))
        patch.setenv("GOVERN_TEST_PEOPLE", str(people))
        patch.setattr(shared, "_PEOPLE", people)
        cat = prepare(url, home)
        frame = falling_rows(20_000)
        early = frame["timestamp"] < pd.Timestamp(FALL)
        logs = [
            write(frame[early], base / "logs-early.parquet"),
            write(frame[~early], base / "logs-late.csv"),
        ]
        for log in logs:  # two runs: the record is what both counted
            monitoring.run(cat.ctx("alice"), REF, logs=[str(log)], columns=COLUMNS)
        pdf = base / "monitored.pdf"
        reports.build_report(cat.ctx("carol"), REF, output=pdf)
        view = reports.report_view(cat.ctx("carol"), REF).monitoring
        assert view is not None
        yield MonitoredCard(
            url=url, home=home, pdf=pdf, logs=logs, view=view, ctx=cat.ctx("victor")
        )
    cat.close()


def _flowing(path: Path) -> str:
    return " ".join(pdf_text(path, layout=False).split())


def test_view_has_weekly_windows_rates_per_group_and_an_alert_for_the_fall(monitored_card):
    view = monitored_card.view
    shown = monitoring.show(monitored_card.ctx, REF, width="1w")
    assert view.window == "1w" and len(view.windows) == len(shown["windows"]) == 4
    assert [w.start for w in view.windows] == [
        MONDAY.date() + dt.timedelta(days=7 * n) for n in range(4)
    ]
    assert view.rows == 20_000 and view.outcomes_known == 20_000
    sex = next(g for g in view.groupings if g.name == "sex")
    women = next(s for s in sex.groups if s.group == "female")
    assert len(women.rates) == 4
    assert women.rates[-1] < women.rates[0] - 0.2  # the injected fall
    # Each rate is the window's figure from the monitoring service, not recomputed here.
    last = next(g for g in shown["windows"][-1]["groupings"] if g["name"] == "sex")
    stored = next(g for g in last["groups"] if g["group"] == "female")
    assert women.rates[-1] == stored["metrics"]["selection_rate"]["value"]
    ratios = [w.lowest_impact_ratio for w in view.windows]
    assert all(r is not None for r in ratios)
    # the alerts are the monitoring rules' own breaches: women's daily impact ratio from the fall
    late = [a for a in view.alerts if a.rule == "production-monitoring/live-impact-ratio"]
    assert late and all(a.value is not None and a.value < 0.8 for a in late)
    women = [a for a in late if a.subject == "sex=female"]
    # broken from the third day of the fall: the rule asks for 3 days in a row
    assert {a.start for a in women} >= {FALL.date() + dt.timedelta(days=d) for d in range(2, 14)}
    assert view.impact_ratio_line == 0.8 and view.score_psi_line == 0.2
    assert view.alert_starts >= {FALL.date(), FALL.date() + dt.timedelta(days=7)}
    assert [f.name for f in view.files] == ["logs-early.parquet", "logs-late.csv"]
    assert {f.counted_by for f in view.files} == {"alice"}


def test_pdf_shows_the_section_its_charts_alerts_and_log_hashes(monitored_card):
    view = monitored_card.view
    text = pdf_text(monitored_card.pdf)
    flowing = _flowing(monitored_card.pdf)
    assert "15 Production monitoring" in text
    assert "No production monitoring recorded" not in flowing
    assert "Alerts" in text
    for alert in view.alerts:  # one row each: window, group, the figure against its line
        day = formatting.day(alert.start)
        line = next(ln for ln in text.splitlines() if ln.startswith(day) and alert.subject in ln)
        # the rule's name may wrap onto the next line of the cell
        assert alert.detail.split(" (rule")[0] in line and formatting.number(alert.value) in line
    female = next(a for a in view.alerts if a.subject == "sex=female")
    assert female.detail == (
        f"impact ratio {formatting.number(female.value)}, outside >= 0.8 (rule live-impact-ratio)"
    )
    # The charts are vector text: their titles and the alarm line's label read back.
    assert "Selection rate by sex over time" in flowing
    assert "Selection rate by age_group over time" in flowing
    assert "rule's line (0.2)" in flowing
    for log, shown in zip(monitored_card.logs, view.files, strict=True):
        digest = hashlib.sha256(log.read_bytes()).hexdigest()
        assert shown.sha256 == digest
        assert digest[:16] in text  # the section (the start of it)
        assert digest in flowing.replace(" ", "")  # reproducibility, in full
        assert log.name in text and log.parent.name not in text  # never the directory


def test_monitored_card_verifies_and_embeds_the_monitoring(monitored_card):
    verdict = reports.verify_pdf(monitored_card.ctx, monitored_card.pdf)
    assert verdict.ok, verdict.problems
    assert "Signature is Valid." in pdfsig(monitored_card.pdf)
    document = json.loads(embedded_files(monitored_card.pdf)["govern-card.json"])
    embedded = document["governance"]["monitoring"]
    assert embedded["window"] == "1w" and len(embedded["windows"]) == 4
    assert [(a["subject"], a["detail"]) for a in embedded["alerts"]] == [
        (a.subject, a.detail) for a in monitored_card.view.alerts
    ]


def test_a_card_without_monitoring_says_so_in_one_line(signed_card):
    """The shared sample card: no log was ever counted for it."""
    text = pdf_text(signed_card.pdf)
    assert "15 Production monitoring" in text
    lines = [ln for ln in text.splitlines() if "No production monitoring recorded" in ln]
    assert len(lines) == 1
    assert "Alerts" not in text.split("15 Production monitoring")[-1].split("16 Reproduc")[0]
    assert reports.verify_pdf(signed_card.ctx("victor"), signed_card.pdf).ok
    document = json.loads(embedded_files(signed_card.pdf)["govern-card.json"])
    assert document["governance"]["monitoring"] is None


def test_monitoring_charts_are_the_same_bytes_each_time_and_markdown_lists_the_alerts(
    monitored_card,
):
    from govern.report.charts import render_charts
    from govern.report.exports import card_markdown

    view = reports.report_view(monitored_card.ctx, REF)
    first, again = render_charts(view), render_charts(view)
    keys = {"monitoring-rate-sex", "monitoring-rate-age_group", "monitoring-psi"}
    assert keys <= set(first)
    assert "monitoring-rate-sex*age_group" not in first  # intersections: in the tables only
    assert all(first[k].svg == again[k].svg for k in keys)
    text = card_markdown(view)
    assert "## Production monitoring" in text
    from govern.report.exports import md

    for alert in view.monitoring.alerts if view.monitoring else []:
        assert md(alert.message) in text
