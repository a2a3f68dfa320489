"""The impact-ratio reference group: chosen honestly by default, settable, stored and shown.

Acceptance on ProPublica's COMPAS data (``sample_data/compas_two_years.csv``): the most
selected race there is the 11-person "Native American" group, which must not become the
group every other race is measured against.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLE, invoke_cli, run_cli
from tests.helpers import assert_clean_failure, snapshot

REF = "credit-risk@1.1.0"
COMPAS = SAMPLE / "compas_two_years.csv"
#: Race counts of the trimmed COMPAS data (ProPublica's filter, 6,172 rows).
COMPAS_RACES = {
    "African-American": 3175,
    "Caucasian": 2103,
    "Hispanic": 509,
    "Other": 343,
    "Asian": 31,
    "Native American": 11,
}


@pytest.fixture
def catalogue_url(sqlite_cat):
    """A catalogue holding one version; evaluated from a predictions column (no artifact)."""
    result = invoke_cli(
        "register", str(SAMPLE / "credit-risk-1.1.0.card.yaml"), user="alice", db=sqlite_cat.url
    )
    assert result.returncode == 0, result.stderr
    return sqlite_cat.url


def _compas(db, *extra, process=False, json_out=True):
    return (run_cli if process else invoke_cli)(
        "evaluate",
        REF,
        "--data",
        str(COMPAS),
        "--target",
        "two_year_recid",
        "--predictions",
        "high_risk",
        "--sensitive",
        "race,sex",
        "--id-column",
        "id",
        *extra,
        *(["--json"] if json_out else []),
        user="alice",
        db=db,
    )


def _rates(grouping):
    return {
        g["group"]: (g["metrics"]["selection_rate"]["successes"], g["n"])
        for g in grouping["groups"]
    }


def _grouping(document, name):
    return next(g for g in document["results"]["fairness"] if g["name"] == name)


def test_compas_race_reference_is_not_the_eleven_person_group(catalogue_url):
    result = _compas(catalogue_url, process=True, json_out=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Fairness by feature race (reference group: race=African-American)" in out
    assert (
        "impact-ratio reference: African-American (most-selected group with at least 30 rows "
        "and not missing)" in out
    )
    race = _grouping(json.loads(_compas(catalogue_url).stdout), "race")
    counts = {g["group"]: g["n"] for g in race["groups"]}
    assert counts == COMPAS_RACES
    assert race["reference_group"] == "African-American"
    assert race["reference_choice"] == "most_selected"
    assert race["reference_reason"] == ("most-selected group with at least 30 rows and not missing")
    # Computed independently: the most selected group, and the group the old rule chose.
    rates = {label: k / n for label, (k, n) in _rates(race).items()}
    assert max(rates, key=lambda label: rates[label]) == "Native American"
    eligible = {label: r for label, r in rates.items() if COMPAS_RACES[label] >= 30}
    assert max(eligible, key=lambda label: eligible[label]) == "African-American"
    native = next(g for g in race["groups"] if g["group"] == "Native American")
    assert native["small"] and "reference" not in native["flags"]
    for group in race["groups"]:
        expected = rates[group["group"]] / rates["African-American"]
        assert group["impact_ratio"] == pytest.approx(expected, abs=1e-12)
        assert ("reference" in group["flags"]) == (group["group"] == "African-American")
    # No race is flagged for adverse impact against eleven people any more: only the groups
    # selected under four fifths as often as African-American defendants.
    flagged = {g["group"] for g in race["groups"] if "adverse_impact" in g["flags"]}
    assert flagged == {label for label, r in rates.items() if r / rates["African-American"] < 0.8}
    assert "Native American" not in flagged


def test_reference_set_on_the_command_line_is_stored_shown_and_recomputed(catalogue_url):
    result = _compas(
        catalogue_url, "--reference", "race=Caucasian", "--reference", "sex=Male", process=True
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["params"]["reference"] == [["race", "Caucasian"], ["sex", "Male"]]
    race = _grouping(document, "race")
    assert race["reference_group"] == "Caucasian"
    assert race["reference_choice"] == "explicit"
    assert race["reference_reason"] == "set by --reference race=Caucasian"
    rates = {label: k / n for label, (k, n) in _rates(race).items()}
    for group in race["groups"]:
        assert group["impact_ratio"] == pytest.approx(
            rates[group["group"]] / rates["Caucasian"], abs=1e-12
        )
    both = _grouping(document, "race*sex")
    assert both["reference_group"] == "Caucasian, Male"
    assert both["reference_reason"] == "set by --reference race=Caucasian, sex=Male"
    assert min(g["impact_ratio"] for g in race["groups"]) == pytest.approx(
        race["summary"]["min_impact_ratio"]
    )
    shown = run_cli("show", REF, db=catalogue_url)
    assert shown.returncode == 0, shown.stderr
    assert f"Impact-ratio references (evaluation {document['id']}):" in shown.stdout
    assert "  race: race=Caucasian (set by --reference race=Caucasian)" in shown.stdout
    assert (
        "  race ∧ sex: race=Caucasian ∧ sex=Male (set by --reference race=Caucasian, sex=Male)"
        in shown.stdout
    )
    listed = json.loads(invoke_cli("show", REF, "--json", db=catalogue_url).stdout)
    assert listed["evaluations"][0]["references"][0] == {
        "grouping": "race",
        "group": "Caucasian",
        "reason": "set by --reference race=Caucasian",
    }
    # --recompute re-runs the recorded reference and finds every figure identical
    again = run_cli("evaluate", "--recompute", str(document["id"]), db=catalogue_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "every figure is identical" in again.stdout


def test_intersection_without_every_feature_set_uses_the_default(catalogue_url):
    document = json.loads(_compas(catalogue_url, "--reference", "race=Caucasian").stdout)
    assert _grouping(document, "sex")["reference_choice"] == "most_selected"
    both = _grouping(document, "race*sex")
    assert both["reference_choice"] == "most_selected"
    assert both["reference_group"] == "African-American, Male"


def test_missing_group_is_never_the_default_reference(catalogue_url, tmp_path):
    lines = COMPAS.read_text().splitlines()
    header = lines[0].split(",")
    race, high = header.index("race"), header.index("high_risk")
    rows = [lines[0]]
    for number, line in enumerate(lines[1:]):
        cells = line.split(",")
        if number % 5 == 0:  # 1,235 rows without a race, all of them selected
            cells[race], cells[high] = "", "1"
        rows.append(",".join(cells))
    data = tmp_path / "compas_missing.csv"
    data.write_text("\n".join(rows) + "\n")
    result = invoke_cli(
        "evaluate",
        REF,
        "--data",
        str(data),
        "--target",
        "two_year_recid",
        "--predictions",
        "high_risk",
        "--sensitive",
        "race",
        "--json",
        user="alice",
        db=catalogue_url,
    )
    assert result.returncode == 0, result.stderr
    race = _grouping(json.loads(result.stdout), "race")
    missing = next(g for g in race["groups"] if g["group"] == "(missing)")
    assert missing["n"] > 1000 and missing["metrics"]["selection_rate"]["value"] == 1.0
    assert race["reference_group"] == "African-American"
    assert "reference" not in missing["flags"]


def test_every_group_small_falls_back_to_the_largest_and_says_so(catalogue_url):
    document = json.loads(_compas(catalogue_url, "--min-group-size", "5000").stdout)
    race = _grouping(document, "race")
    assert race["reference_group"] == "African-American"  # the largest, 3,175 rows
    assert race["reference_choice"] == "largest"
    assert race["reference_reason"] == (
        "every group has fewer than 5000 rows: the largest group was used"
    )


def test_a_small_explicit_reference_is_used_and_called_small(catalogue_url):
    document = json.loads(_compas(catalogue_url, "--reference", "race=Native American").stdout)
    race = _grouping(document, "race")
    assert race["reference_group"] == "Native American"
    assert race["reference_reason"] == (
        "set by --reference race=Native American (a small group of 11 rows: its rate is uncertain)"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "race=Martian",
            "error: --reference race=Martian: 'race' has no value 'Martian' (its values: "
            "African-American, Asian, Caucasian, Hispanic, Native American, Other)",
        ),
        (
            "colour=Blue",
            "error: --reference colour: 'colour' is not a sensitive feature of this evaluation "
            "(--sensitive race,sex)",
        ),
        ("race", "error: --reference takes FEATURE=VALUE (e.g. race=Caucasian), not 'race'"),
        ("=Caucasian", "error: --reference takes FEATURE=VALUE (e.g. race=Caucasian), not"),
    ],
)
def test_bad_reference_exits_2_with_one_line_and_changes_nothing(catalogue_url, option, message):
    before = snapshot(catalogue_url)
    log = invoke_cli("audit", "log", "--json", db=catalogue_url).stdout
    result = _compas(catalogue_url, "--reference", option, process=option == "race=Martian")
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert result.stdout == ""
    assert snapshot(catalogue_url) == before
    assert invoke_cli("audit", "log", "--json", db=catalogue_url).stdout == log
    assert (
        json.loads(invoke_cli("show", REF, "--json", db=catalogue_url).stdout)["evaluations"] == []
    )


def test_reference_named_twice_or_with_recompute_is_refused(catalogue_url):
    before = snapshot(catalogue_url)
    twice = _compas(catalogue_url, "--reference", "race=Caucasian", "--reference", "race=Asian")
    lines = assert_clean_failure(twice)
    assert lines == ["error: --reference names 'race' twice; give one value per feature"]
    mixed = invoke_cli(
        "evaluate", "--recompute", "1", "--reference", "race=Asian", db=catalogue_url
    )
    lines = assert_clean_failure(mixed)
    assert len(lines) == 1 and "--reference" in lines[0]
    assert snapshot(catalogue_url) == before
