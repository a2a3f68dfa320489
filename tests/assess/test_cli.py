"""``govern evaluate``, ``explain`` and ``drift`` as real subprocesses."""

from __future__ import annotations

import json
import pickle  # noqa: TID251 - a hostile artifact for the refusal test
import subprocess
import sys

import pytest

from tests.assess.helpers import TouchOnUnpickle
from tests.conftest import SAMPLE, run_cli

REF = "credit-risk@1.1.0"


@pytest.fixture
def catalogue_url(sqlite_cat, sample_artifacts):
    result = run_cli(
        "register",
        str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
        "--artifact",
        str(sample_artifacts / "credit-risk-1.1.0.skops"),
        user="alice",
        db=sqlite_cat.url,
    )
    assert result.returncode == 0, result.stderr
    return sqlite_cat.url


def _evaluate(db, *extra, user="alice"):
    return run_cli(
        "evaluate",
        REF,
        "--data",
        str(SAMPLE / "credit_holdout.csv"),
        "--target",
        "credit",
        "--positive",
        "1",
        "--sensitive",
        "sex,age_group",
        "--id-column",
        "applicant_id",
        *extra,
        user=user,
        db=db,
    )


def test_evaluate_prints_tables_and_flagged_disparities(catalogue_url):
    result = _evaluate(catalogue_url, "--explain", "3", "--explain-sample", "100")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Evaluation 1 of credit-risk@1.1.0 on credit_holdout.csv (300 rows" in out
    assert "Fairness by feature sex (reference group: male)" in out
    assert "Fairness by intersection sex*age_group" in out
    assert "Flagged disparities" in out and "age_group = under_25 vs 45_and_over" in out
    assert "Explanations: tree SHAP on 100 rows" in out
    assert "sensitive: 'age'" in out
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_evaluate_json_explain_and_recompute(catalogue_url):
    result = _evaluate(catalogue_url, "--json", "--explain", "2", "--explain-sample", "50")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["results"]["schema"] == 1
    assert document["results"]["explanations"]["global"][0]["rank"] == 1
    evaluation_id = document["id"]
    explained = run_cli("explain", REF, "--row-id", "2", "--json", user="victor", db=catalogue_url)
    assert explained.returncode == 0, explained.stderr
    explanation = json.loads(explained.stdout)["explanation"]
    assert explanation["row_id"] == "2" and len(explanation["contributions"]) == 20
    text = run_cli("explain", REF, "--row-id", "2", "--top", "3", user="victor", db=catalogue_url)
    assert "Base value + contributions" in text.stdout and "17 more features" in text.stdout
    again = run_cli("evaluate", "--recompute", str(evaluation_id), db=catalogue_url)
    assert again.returncode == 0, again.stderr
    assert "every figure is identical" in again.stdout


def test_drift_command(catalogue_url):
    result = run_cli(
        "drift",
        REF,
        "--reference",
        str(SAMPLE / "credit_train.csv"),
        "--current",
        str(SAMPLE / "credit_holdout.csv"),
        "--exclude",
        "applicant_id",
        user="bob",
        db=catalogue_url,
    )
    assert result.returncode == 0, result.stderr
    assert "Drift run 1 of credit-risk@1.1.0" in result.stdout
    assert "PSI bands" in result.stdout and "Prediction drift" in result.stdout
    strict = run_cli(
        "drift",
        REF,
        "--reference",
        str(SAMPLE / "credit_train.csv"),
        "--current",
        str(SAMPLE / "credit_holdout.csv"),
        "--fail-on",
        "moderate",
        "--json",
        user="bob",
        db=catalogue_url,
    )
    document = json.loads(strict.stdout)
    moderate = document["results"]["prediction"]["band"] in {"moderate", "significant"}
    assert strict.returncode == (1 if moderate else 0)


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    corrupt = tmp_path / "data.parquet"
    corrupt.write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    nan_target = tmp_path / "nan.csv"
    lines = (SAMPLE / "credit_holdout.csv").read_text().splitlines()
    header = lines[0].split(",")
    position = header.index("credit")
    row = lines[1].split(",")
    row[position] = ""
    nan_target.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("\n".join([lines[0].replace("personal_status", "status_code"), *lines[1:]]))
    return {
        "missing file": (["--data", str(tmp_path / "nope.csv")], "no such data file"),
        "empty file": (["--data", str(empty)], "file is empty"),
        "corrupt parquet": (["--data", str(corrupt)], "not a valid Parquet file"),
        "unknown column": (["--sensitive", "gender"], "no column 'gender'"),
        "target with NaNs": (["--data", str(nan_target)], "1 missing value"),
        "three classes": (["--target", "age_group"], "has 3 classes"),
        "positive absent": (["--positive", "good"], "positive label 'good' does not occur"),
        "identifier as group": (["--sensitive", "applicant_id"], "looks like an identifier"),
        "feature mismatch": (
            ["--data", str(renamed)],
            "the model expects feature personal_status",
        ),
    }


def test_every_bad_input_exits_2_with_one_line_and_writes_nothing(catalogue_url, tmp_path):
    before = run_cli("audit", "log", "--json", db=catalogue_url)
    for name, (extra, pattern) in _bad_inputs(tmp_path).items():
        result = _evaluate(catalogue_url, *extra)
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.stderr)
        assert pattern in lines[0], (name, lines[0])
        assert "Traceback" not in result.stderr
    after = run_cli("audit", "log", "--json", db=catalogue_url)
    assert after.stdout == before.stdout
    shown = run_cli("show", REF, "--json", db=catalogue_url)
    assert json.loads(shown.stdout)["evaluations"] == []


def test_malicious_pickle_via_cli_is_refused(sqlite_cat, tmp_path):
    marker = tmp_path / "pwned"
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(TouchOnUnpickle(marker)))
    card = tmp_path / "card.yaml"
    card.write_text(
        (SAMPLE / "credit-risk-1.1.0.card.yaml").read_text().replace("credit-risk", "pickled")
    )
    assert (
        run_cli(
            "register", str(card), "--artifact", str(artifact), user="alice", db=sqlite_cat.url
        ).returncode
        == 0
    )
    result = run_cli(
        "evaluate",
        "pickled@1.1.0",
        "--data",
        str(SAMPLE / "credit_holdout.csv"),
        "--target",
        "credit",
        "--positive",
        "1",
        "--sensitive",
        "sex",
        "--model",
        str(artifact),
        user="alice",
        db=sqlite_cat.url,
    )
    assert result.returncode == 2
    assert "refuses it" in result.stderr and "--trust-pickle" in result.stderr
    assert not marker.exists()


def test_evaluate_without_required_options(catalogue_url):
    result = run_cli("evaluate", REF, "--target", "credit", db=catalogue_url)
    assert result.returncode == 2 and "needs --data" in result.stderr


def test_recompute_of_unknown_evaluation(catalogue_url):
    result = run_cli("evaluate", "--recompute", "99", db=catalogue_url)
    assert result.returncode == 2 and "no evaluation with id 99" in result.stderr


def test_help_lists_the_options():
    result = run_cli("evaluate", "--help")
    for option in (
        "--recompute",
        "--json",
        "--trust-pickle",
        "--explain",
        "--seed",
        "--id-column",
        "--positive",
        "--score",
        "--min-group-size",
        "--predictions",
    ):
        assert option in result.stdout


def test_reading_results_and_the_cli_stay_light():
    code = (
        "import sys, govern.cli.app, govern.assess.results, govern.cli.assess;"
        "heavy = {'numpy', 'pandas', 'sklearn', 'shap', 'fairlearn', 'skops', 'onnxruntime',"
        " 'scipy'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
