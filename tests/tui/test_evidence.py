"""The evaluation tab's fairness table reads the report view (the signed card's shape): its
ratio and p columns follow the chosen metric, and its bars are scaled to the rates shown."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from rich.console import Console

from govern.report.view import EvaluationResults, EvaluationView
from govern.tui.screens.version import VersionScreen
from govern.tui.widgets.evidence import FairnessView, ratio_to_reference
from tests.tui.conftest import ConsoleCatalogue, console_app, settle, synchronous

SIZE = (120, 40)


def drawn(fairness: FairnessView, width: int = 120) -> list[str]:
    console = Console(width=width, file=io.StringIO())
    console.print(fairness.draw())
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined, no-any-return]


def row(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(label))


def header(lines: list[str]) -> str:
    """The fairness table's heading row (its first column is headed by the features)."""
    return next(line for line in lines if "95% interval" in line)


async def evaluation_tab(pilot: Any) -> tuple[VersionScreen, FairnessView]:
    await settle(pilot)
    pilot.app.open_version("credit-risk@1.1.0", tab="evaluation")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, VersionScreen)
    return screen, screen.query_one("#fairness", FairnessView)


@synchronous
async def test_ratio_and_p_columns_follow_the_chosen_metric(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        _screen, fairness = await evaluation_tab(pilot)
        await pilot.press("f")
        assert fairness.grouping == "age_group"
        assert fairness.results is not None
        grouping = next(g for g in fairness.results.fairness if g.name == "age_group")
        young = next(g for g in grouping.groups if g.group == "under_25")
        lines = drawn(fairness)
        heading = header(lines)
        assert " impact " in heading and heading.split()[-2:] == ["p", "flags"]
        assert young.impact_ratio is not None and young.p_value is not None
        assert f"{young.impact_ratio:.2f}" in row(lines, "under_25 ")
        assert f"{young.p_value:.3f}" in row(lines, "under_25 ")

        await pilot.press("n")  # true positive rate
        assert fairness.metric == "tpr"
        lines = drawn(fairness)
        heading = header(lines)
        assert "impact" not in heading and "÷ ref" in heading and " p " not in heading
        ratio = ratio_to_reference(grouping, young, "tpr")
        tpr = young.estimate("tpr")
        reference = next(g for g in grouping.groups if g.group == grouping.reference_group)
        assert ratio is not None and tpr is not None and tpr.value is not None
        assert ratio == tpr.value / reference.metrics["tpr"].value  # type: ignore[operator]
        assert ratio != young.impact_ratio
        young_row = row(lines, "under_25 ")
        assert f"{ratio:.2f}" in young_row and "⚑" not in young_row
        legend = " ".join(" ".join(lines).split())
        assert "÷ ref: TPR over the reference group's; impact ratios and p-values" in legend


def _evaluation(rates: dict[str, float]) -> EvaluationView:
    """A stored evaluation whose groups have the given selection rates (n=200 each)."""
    groups = [
        {
            "group": label,
            "n": 200,
            "metrics": {
                "selection_rate": {"value": rate, "lower": rate - 0.03, "upper": rate + 0.04}
            },
            "impact_ratio": rate / max(rates.values()),
            "p_value": 0.0004,
        }
        for label, rate in rates.items()
    ]
    results = EvaluationResults.model_validate(
        {
            "schema": 1,
            "fairness": [
                {"name": "region", "reference_group": "south", "groups": groups, "summary": {}}
            ],
        }
    )
    return EvaluationView(
        id=1,
        created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        created_by="bob",
        dataset_name="holdout.csv",
        dataset_sha256="0" * 64,
        rows=400,
        target="credit",
        prediction_source="model",
        results=results,
    )


@synchronous
async def test_bars_are_scaled_to_the_rates_shown_and_say_so(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        _screen, fairness = await evaluation_tab(pilot)
        fairness.show(_evaluation({"north": 0.06, "south": 0.16}))
        lines = drawn(fairness)
        heading = header(lines)
        assert "0.2" in heading  # the bar column's heading states where its scale ends
        bars = {}
        for label in ("north", "south"):
            cells = row(lines, f"region={label}")
            bars[label] = sum(cells.count(ch) for ch in "█▓")
        width = len(heading)
        # On a 0-0.2 scale a rate of 0.16 fills most of the bar, 0.06 a quarter of it or more,
        # where a 0-1 scale drew 7 and 1 characters.
        assert bars["south"] >= 2 * bars["north"] >= 10, (bars, width)
        assert "<0.001" in row(lines, "region=north")  # p-values as the card writes them


def test_the_card_tab_walks_the_typed_card() -> None:
    """card_markdown reads the typed Card the signed card reads, and card text stays text."""
    import yaml

    from govern.domain.card import Card
    from govern.tui.screens.version import card_markdown
    from tests.conftest import SAMPLE

    document = yaml.safe_load((SAMPLE / "credit-risk-1.1.0.card.yaml").read_text("utf-8"))
    document["model_details"]["description"] = "# not a heading <b>nor markup</b>"
    text = card_markdown(Card.model_validate(document))
    assert text.startswith("# credit-risk 1.1.0\n")
    assert "\\# not a heading &lt;b&gt;nor markup&lt;/b&gt;" in text
    assert "- **Evaluated:** sex, age\\_group" in text
    assert "- **Rows**" not in text and "credit\\_holdout.csv**, 300 rows" in text
    assert "- **Risk tier:** high" in text and "- **Next validation due:** 2027-09-01" in text
