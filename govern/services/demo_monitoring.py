"""The demo's production monitoring: 90 days of synthetic prediction logs for the sample
credit model, champion and shadow side by side, with two problems planted for monitoring to
find.

* **Drift:** from day 60 the applicants' scores fall (a recession in the synthetic world):
  both versions' score distributions move away from the first weeks'.
* **A subgroup regression:** from day 70 the shadow (1.1.0) scores women lower, so its live
  selection rate for women falls below four-fifths of men's, while the champion's does not.

Outcomes are known in the logs for the first 30 days; those of days 30 to 59 arrive later in
an outcome file, and those of the last 30 days are not known yet, as in a real credit book.
The logs end yesterday, so the record is current whenever the demo runs; a fixed seed makes
every run's figures the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govern.services.context import Context

DAYS = 90
PER_DAY = 400
DRIFT_FROM = 60
REGRESSION_FROM = 70
LATE_OUTCOMES = range(30, 60)
SEED = 20261207


@dataclass(frozen=True)
class DemoLogs:
    predictions: list[Path]
    outcomes: Path
    first: dt.date
    last: dt.date


def write_logs(directory: Path, today: dt.date) -> DemoLogs:
    """Write the logs, one Parquet file per month, and the late outcomes as CSV."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    first = today - dt.timedelta(days=DAYS)
    n = DAYS * PER_DAY
    day = np.repeat(np.arange(DAYS), PER_DAY)
    moment = pd.Timestamp(first, tz="UTC") + pd.to_timedelta(
        day * 86_400 + rng.integers(0, 86_400, n), unit="s"
    )
    sex = rng.choice(["female", "male"], n, p=[0.4, 0.6])
    age = rng.choice(["under_25", "25_to_44", "45_and_over"], n, p=[0.2, 0.5, 0.3])
    worth = rng.beta(6, 4, n)  # how creditworthy the applicant is
    worth = np.where(day >= DRIFT_FROM, worth * 0.88, worth)
    champion = np.clip(worth + rng.normal(0, 0.06, n), 0, 1)
    shadow = np.clip(worth + rng.normal(0, 0.05, n), 0, 1)
    shadow = np.where((day >= REGRESSION_FROM) & (sex == "female"), shadow - 0.15, shadow)
    shadow = np.clip(shadow, 0, 1)
    outcome = (rng.random(n) < worth).astype("int64")
    # the recession: people ask for larger loans
    amount = rng.lognormal(8.0, 0.6, n) * np.where(day >= DRIFT_FROM, 1.6, 1.0)
    frame = pd.DataFrame(
        {
            "timestamp": moment,
            "request_id": [f"req-{i:06d}" for i in range(n)],
            "sex": sex,
            "age_group": age,
            "credit_amount": amount.round(0),
            "score_champion": champion.round(4),
            "pred_champion": (champion >= 0.5).astype("int64"),
            "score_shadow": shadow.round(4),
            "pred_shadow": (shadow >= 0.5).astype("int64"),
            "outcome": pd.array(np.where(day < LATE_OUTCOMES.start, outcome, 0), dtype="Int64"),
        }
    )
    frame.loc[day >= LATE_OUTCOMES.start, "outcome"] = pd.NA
    directory.mkdir(parents=True, exist_ok=True)
    months = frame["timestamp"].dt.strftime("%Y-%m")
    predictions = []
    for month in sorted(months.unique()):
        path = directory / f"predictions-{month}.parquet"
        frame[months == month].to_parquet(path, index=False)
        predictions.append(path)
    late = (day >= LATE_OUTCOMES.start) & (day < LATE_OUTCOMES.stop)
    outcomes = directory / "outcomes-late.csv"
    pd.DataFrame({"request_id": frame["request_id"][late], "outcome": outcome[late]}).to_csv(
        outcomes, index=False
    )
    return DemoLogs(predictions, outcomes, first, today - dt.timedelta(days=1))


#: Each version's columns in the shared logs.
COLUMNS = {
    "1.0.0": ("pred_champion", "score_champion"),
    "1.1.0": ("pred_shadow", "score_shadow"),
}


def monitor(ctx: Callable[[str], Context], directory: Path, say: Callable[[str], None]) -> None:
    """Write the logs, count them for champion and shadow, join the late outcomes, and show
    what ``govern monitor status --all`` finds."""
    from govern import formatting
    from govern.monitor.logs import LogColumns
    from govern.services import monitoring
    from govern.storage import crud

    logs = write_logs(directory / "logs", crud.today())
    shown = ", ".join(str(p.relative_to(directory)) for p in [*logs.predictions, logs.outcomes])
    say(
        f"Synthetic prediction logs of the sample credit model: {DAYS} days ({logs.first} to "
        f"{logs.last}), {formatting.count(PER_DAY)} applications a day, champion and shadow "
        f"decisions side by side ({shown})."
    )
    for version, (prediction, score) in COLUMNS.items():
        ref = f"credit-risk@{version}"
        columns = LogColumns(
            prediction=prediction,
            score=score,
            outcome="outcome",
            sensitive=("sex", "age_group"),
            champion=None if version == "1.0.0" else "pred_champion",
            features=("credit_amount",),
        )
        counted = monitoring.run(
            ctx("bob"), ref, logs=[str(p) for p in logs.predictions], columns=columns
        )
        joined = monitoring.run(ctx("bob"), ref, outcomes=[str(logs.outcomes)])
        beside = " beside the champion's decisions" if columns.champion else ""
        say(
            f"bob counted them for {ref}{beside} (govern monitor run, columns {prediction} and "
            f"{score}): "
            f"{formatting.count(counted.rows, 'row')} into {len(counted.days)} days; then "
            f"{formatting.count(joined.matched, 'outcome')} that came later (--outcomes)."
        )
    report = monitoring.status(ctx("victor"), None)
    for subject in report.subjects:
        for outcome in subject.outcomes:
            if outcome.status == "fail":
                say(f"monitor status: {subject.subject} {outcome.rule_id}: {outcome.message}")
    say(
        f"govern monitor status --all exits {report.exit_code}: the applicants changed (larger "
        "loans, lower scores: the champion's scores and inputs drifted), and the shadow's "
        "decisions for women fell below four-fifths of men's and below the champion's on the "
        "same applications; a scheduler running it would have failed the job."
    )


__all__ = ["COLUMNS", "DAYS", "DemoLogs", "monitor", "write_logs"]
