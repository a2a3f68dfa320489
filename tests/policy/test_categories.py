"""Policy categories mapped onto the data's columns (``--category``, a binding's
``categories``), and the freshness rule's ``card_dataset`` option: the evaluated data must be
the evaluation data the card declares by SHA-256."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from govern.errors import InputError
from govern.policy.categories import map_categories, named_categories, parse_category_options
from govern.policy.engine import check, evaluate
from govern.policy.loader import load_policies
from tests.builders import DATA_SHA, NOW, grouping, register, results_document
from tests.conftest import SAMPLE, Catalogue, invoke_cli, run_cli
from tests.helpers import assert_clean_failure, raw_connection, snapshot
from tests.policy.helpers import evaluation, policy, sample_card
from tests.policy.helpers import snapshot as subject
from tests.policy.stored import store_evaluation

HINT = (
    "race_ethnicity not evaluated, so counts cannot be disclosed; if the data calls it "
    "otherwise, map it with --category race_ethnicity=COLUMN or `categories:` in the policy "
    "binding"
)
RACES = {"Black": (30, 100), "White": (45, 100), "Asian": (40, 100)}


def _race_document() -> dict[str, Any]:
    """An evaluation whose data calls race/ethnicity ``race``."""
    sexes = {"female": (55, 150), "male": (60, 150)}
    crossed = {
        f"{sex}, {race}": (selected // 2, n // 2)
        for sex in sexes
        for race, (selected, n) in RACES.items()
    }
    return results_document(
        [
            grouping("sex", sexes, total=300),
            grouping("race", RACES, total=300),
            grouping("sex*race", crossed, total=300),
        ],
        rows=300,
    )


def _statuses(policies: Any, document: dict[str, Any]) -> dict[str, str]:
    """Each rule's status, from the reference functions and from the batch path (they agree)."""
    snap = subject(evaluation_=evaluation(document))
    reference = {o.rule_id: o.status for o in evaluate(policies, snap, now=NOW).outcomes}
    batch = check(policies, [subject(evaluation_=evaluation(document))], now=NOW)
    assert {o.rule_id: o.status for o in batch.subjects[0].outcomes} == reference
    return reference


# --- the mapping ----------------------------------------------------------------------------


def test_the_nyc_pack_reads_the_race_column_once_mapped() -> None:
    pack = load_policies(["nyc-ll144"])
    document = _race_document()
    unmapped = evaluate(pack, subject(evaluation_=evaluation(document)), now=NOW)
    disclosure = next(o for o in unmapped.outcomes if o.rule_id == "categories-reported")
    assert disclosure.status == "fail" and disclosure.message == HINT
    assert unmapped.outcome == "fail"

    mapped = map_categories(pack, {"race_ethnicity": "race"})
    statuses = _statuses(mapped, document)
    assert statuses["categories-reported"] == "pass"
    assert statuses["impact-ratio-race-ethnicity"] == "fail"  # Black 0.30 / White 0.45
    assert statuses["impact-ratio-intersectional"] in {"pass", "fail"}
    rules = {r.id: r for r in mapped[0].policy.rules}
    assert rules["categories-reported"].features == ["sex", "race"]
    assert rules["impact-ratio-intersectional"].features == ["sex", "race"]
    # the file is the same; the run records the mapping with the policy
    assert mapped[0].sha256 == pack[0].sha256
    assert mapped[0].describe()["categories"] == {"race_ethnicity": "race"}
    assert "categories" not in pack[0].describe()


def test_every_place_a_rule_names_a_feature_is_mapped() -> None:
    loaded = [
        policy(
            {"kind": "fairness", "metric": "impact_ratio", "min": 0.8, "features": ["ethnicity"]},
            {
                "kind": "fairness",
                "metric": "impact_ratio",
                "min": 0.8,
                "features": ["ethnicity"],
                "reference": {"ethnicity": "White"},
            },
            {"kind": "explanation", "top_k": 3, "sensitive": ["ethnicity"]},
            {"kind": "disclosure", "features": ["sex", "ethnicity"]},
            {
                "kind": "champion",
                "metrics": [
                    {
                        "metric": "demographic_parity_difference",
                        "grouping": "ethnicity",
                        "max_regression": 0.1,
                    }
                ],
            },
        )
    ]
    assert named_categories(loaded) == ["ethnicity", "sex"]
    rules = map_categories(loaded, {"ethnicity": "race"})[0].policy.rules
    assert [getattr(r, "features", None) for r in rules[:2]] == [["race"], ["race"]]
    assert rules[1].reference == {"race": "White"}  # type: ignore[attr-defined]
    assert rules[2].sensitive == ["race"]  # type: ignore[attr-defined]
    assert rules[3].features == ["sex", "race"]  # type: ignore[attr-defined]
    assert rules[4].metrics[0].grouping == "race"  # type: ignore[attr-defined]
    assert _statuses(map_categories(loaded, {"ethnicity": "race"}), _race_document())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["race_ethnicity"], "--category race_ethnicity: give CATEGORY=COLUMN"),
        (["=race"], "--category =race: give CATEGORY=COLUMN"),
        (["race_ethnicity="], "--category race_ethnicity=: give CATEGORY=COLUMN"),
        (["a*b=race"], "--category a*b=race: give CATEGORY=COLUMN"),
        (["x=a", "x=b"], "--category x is given twice (a and b)"),
    ],
)
def test_ill_formed_mappings_are_refused(values: list[str], message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_category_options(values)
    assert str(raised.value.message).startswith(message)


def test_a_category_no_rule_names_is_refused() -> None:
    assert parse_category_options([" race_ethnicity = race "]) == {"race_ethnicity": "race"}
    with pytest.raises(InputError) as raised:
        map_categories(load_policies(["nyc-ll144"]), {"ethnicity": "race"})
    assert raised.value.message == (
        "--category ethnicity=race: no rule of nyc-ll144 names a category 'ethnicity' "
        "(they name sex, race_ethnicity)"
    )


# --- freshness: the evaluated data is the card's ----------------------------------------------


def _card_declaring(*hashes: str | None) -> dict[str, Any]:
    card = sample_card()
    datasets = [{"name": f"holdout-{i}", "sha256": h} for i, h in enumerate(hashes)]
    return {**card, "evaluation_data": {"datasets": datasets}}


@pytest.mark.parametrize(
    ("hashes", "status", "message"),
    [
        ((DATA_SHA,), "pass", "evaluated 10 days ago (limit 365)"),
        (("f" * 64, DATA_SHA), "pass", "evaluated 10 days ago (limit 365)"),
        (
            ("f" * 64,),
            "fail",
            f"evaluated on data sha256:{DATA_SHA[:12]}…, not the evaluation data the card "
            "declares (sha256:ffffffffffff…)",
        ),
        (
            (None,),
            "fail",
            "the card declares no SHA-256 of its evaluation data "
            "(evaluation_data.datasets[].sha256)",
        ),
    ],
)
def test_freshness_card_dataset(hashes: tuple[str | None, ...], status: str, message: str) -> None:
    rule = {"kind": "freshness", "max_age_days": 365, "card_dataset": True}
    snap = subject(card=_card_declaring(*hashes))
    got = evaluate([policy(rule)], snap, now=NOW).outcomes[0]
    assert (got.status, got.message) == (status, message)
    batch = check([policy(rule)], [subject(card=_card_declaring(*hashes))], now=NOW)
    assert batch.subjects[0].outcomes[0].status == status
    assert got.evidence["card_dataset_sha256"] == [h for h in hashes if h]
    # without the option the card's hashes are not looked at
    plain = {"kind": "freshness", "max_age_days": 365}
    assert evaluate([policy(plain)], snap, now=NOW).outcomes[0].status == "pass"


# --- the CLI and the bindings ----------------------------------------------------------------


def _race_csv(tmp_path: Path) -> Path:
    """The scored sample with a ``race`` column (a deterministic, made-up assignment)."""
    import pandas as pd

    frame = pd.read_csv(SAMPLE / "credit_holdout_scored.csv")
    frame["race"] = [("Black", "White", "Asian")[i % 3] for i in range(len(frame))]
    path = tmp_path / "scored_race.csv"
    frame.to_csv(path, index=False)
    return path


def _stateless(data: Path, *extra: str) -> list[str]:
    return [
        "check",
        "--card",
        str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
        "--data",
        str(data),
        "--target",
        "credit",
        "--sensitive",
        "sex,race",
        "--predictions",
        "pred",
        "--positive",
        "1",
        "--policy",
        "nyc-ll144",
        "--format",
        "json",
        *extra,
    ]


def _results(stdout: str) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in json.loads(stdout)["subjects"][0]["results"]}


def test_stateless_check_takes_category_options(tmp_path: Path) -> None:
    data = _race_csv(tmp_path)
    blocked = run_cli(*_stateless(data), cwd=tmp_path)
    assert blocked.returncode == 1, blocked.stderr
    assert _results(blocked.stdout)["categories-reported"]["message"] == HINT
    mapped = run_cli(*_stateless(data, "--category", "race_ethnicity=race"), cwd=tmp_path)
    assert mapped.returncode == 0, mapped.stderr
    results = _results(mapped.stdout)
    assert results["categories-reported"]["status"] == "pass"
    # the three races of the race column were judged
    assert results["impact-ratio-race-ethnicity"]["message"] == (
        "impact_ratio is >= 0.8 for 3 judged"
    )
    for extra, message in (
        (("--category", "race_ethnicity"), "--category race_ethnicity: give CATEGORY=COLUMN"),
        (("--category", "ethnicity=race"), "no rule of nyc-ll144 names a category 'ethnicity'"),
    ):
        bad = invoke_cli(*_stateless(data, *extra), cwd=tmp_path)
        lines = assert_clean_failure(bad)
        assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "govern.db").exists()


def _stored_race_version(cat: Catalogue) -> str:
    ref = register(cat, "1.1.0")
    store_evaluation(cat, ref, _race_document())
    return ref


def _runs(url: str) -> list[Any]:
    with raw_connection(url) as conn:
        return [row[0] for row in conn.execute("SELECT policies FROM policy_run").fetchall()]


def test_a_binding_maps_the_categories_of_the_policy_it_binds(sqlite_cat: Catalogue) -> None:
    ref = _stored_race_version(sqlite_cat)
    blocked = invoke_cli(
        "check", ref, "--policy", "nyc-ll144", "--format", "json", user="bob", db=sqlite_cat.url
    )
    assert blocked.returncode == 1
    assert _results(blocked.stdout)["categories-reported"]["message"] == HINT
    binding = {"policy": "nyc-ll144", "categories": {"race_ethnicity": "race"}}
    sqlite_cat.configure(policy_bindings={"*": [binding]})
    bound = run_cli("check", ref, "--format", "json", user="bob", db=sqlite_cat.url)
    assert bound.returncode == 0, bound.stderr
    assert _results(bound.stdout)["categories-reported"]["status"] == "pass"
    recorded = json.loads(_runs(sqlite_cat.url)[-1])
    assert recorded[0]["id"] == "nyc-ll144"
    assert recorded[0]["categories"] == {"race_ethnicity": "race"}
    # --category wins over the binding for the category it names
    over = invoke_cli(
        "check",
        ref,
        "--category",
        "race_ethnicity=sex",
        "--format",
        "json",
        "--no-record",
        user="bob",
        db=sqlite_cat.url,
    )
    assert _results(bound.stdout)["impact-ratio-race-ethnicity"]["status"] == "fail"
    assert _results(over.stdout)["impact-ratio-race-ethnicity"] | {"rule": None} == (
        _results(over.stdout)["impact-ratio-sex"] | {"rule": None}
    ) or _results(over.stdout)["impact-ratio-race-ethnicity"]["message"] == (
        "impact_ratio is >= 0.8 for 2 judged"
    )


def test_bad_mappings_exit_2_with_one_line_and_write_nothing(sqlite_cat: Catalogue) -> None:
    ref = _stored_race_version(sqlite_cat)
    before = snapshot(sqlite_cat.url)
    for extra, message in (
        (
            ("--category", "race_ethnicity"),
            "--category race_ethnicity: give CATEGORY=COLUMN, e.g. --category race_ethnicity=race",
        ),
        (
            ("--category", "ethnicity=race"),
            "--category ethnicity=race: no rule of nyc-ll144 names a category 'ethnicity' "
            "(they name sex, race_ethnicity)",
        ),
    ):
        result = invoke_cli(
            "check", ref, "--policy", "nyc-ll144", *extra, user="bob", db=sqlite_cat.url
        )
        lines = assert_clean_failure(result)
        assert len(lines) == 1 and lines[0] == f"error: {message}", lines
    assert snapshot(sqlite_cat.url) == before
    binding = {"policy": "nyc-ll144", "categories": {"ethnicity": "race"}}
    sqlite_cat.configure(policy_bindings={"*": [binding]})
    before = snapshot(sqlite_cat.url)
    lines = assert_clean_failure(run_cli("check", ref, user="bob", db=sqlite_cat.url))
    assert lines == [
        "error: the policy bindings' categories: ethnicity=race: no rule of nyc-ll144 names a "
        "category 'ethnicity' (they name sex, race_ethnicity)"
    ]
    assert snapshot(sqlite_cat.url) == before
    assert _runs(sqlite_cat.url) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"policy": "nyc-ll144", "categories": {"race_ethnicity": ""}},
            "'race_ethnicity': '' is not CATEGORY: COLUMN with two column names",
        ),
        ({"policy": "nyc-ll144", "columns": {}}, "Extra inputs are not permitted"),
        ({"categories": {"a": "b"}}, "policy\n  Field required"),
    ],
)
def test_ill_formed_binding_categories_are_refused_by_the_settings(
    entry: dict[str, Any], message: str
) -> None:
    from pydantic import ValidationError

    from govern.domain.governance import GovernanceSettings, bound_categories

    with pytest.raises(ValidationError) as raised:
        GovernanceSettings.model_validate({"policy_bindings": {"*": ["baseline", entry]}})
    assert message in str(raised.value)
    assert len(raised.value.errors()) == 1  # one problem, not one per kind of entry
    # two bindings that map a category onto different columns are refused at check time
    both = GovernanceSettings.model_validate(
        {
            "policy_bindings": {
                "*": [{"policy": "nyc-ll144", "categories": {"race_ethnicity": "race"}}],
                "tier:high": [{"policy": "baseline", "categories": {"race_ethnicity": "eth"}}],
            }
        }
    )
    with pytest.raises(ValueError, match="map category race_ethnicity onto different columns"):
        bound_categories(both.policy_bindings, risk_tier="high", tags=[], regulatory_scope=[])


def test_the_approval_gate_takes_the_binding_categories(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    from govern.errors import WorkflowError
    from govern.services import workflow

    ref = _stored_race_version(sqlite_cat)
    pack = tmp_path / "race.yaml"
    pack.write_text(
        "schema: 1\nid: race\ntitle: Race disclosed\nversion: '1'\nrules:\n"
        "  - {id: race-disclosed, title: Race disclosed, severity: error, source: test,\n"
        "     kind: disclosure, features: [sex, race_ethnicity]}\n"
    )
    sqlite_cat.configure(policy_bindings={"*": [str(pack)]})
    workflow.submit(sqlite_cat.ctx("alice"), ref, comment="ready")
    with pytest.raises(WorkflowError) as refused:
        workflow.approve(sqlite_cat.ctx("carol"), ref, comment="looks fine")
    assert "race/race-disclosed" in refused.value.message
    binding = {"policy": str(pack), "categories": {"race_ethnicity": "race"}}
    sqlite_cat.configure(policy_bindings={"*": [binding]})
    result = workflow.approve(sqlite_cat.ctx("carol"), ref, comment="race is the race column")
    assert any(note.startswith("policy gate (approve): race 1") for note in result.notes)
