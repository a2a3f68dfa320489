"""``govern evaluate``, ``explain`` and ``drift`` as real subprocesses.

Where one command is run on many bad inputs, or a second time on the same catalogue, the
repeats run in process (``invoke_cli``: the same ``run`` that ``python -m govern`` exits with),
which spares a fresh interpreter's seconds of imports; every command and every exit code
here still runs as a real process at least once.
"""

from __future__ import annotations

import json
import pickle  # noqa: TID251 - a hostile artifact for the refusal test
import subprocess
import sys

import pytest

from tests.assess.helpers import TouchOnUnpickle
from tests.conftest import SAMPLE, invoke_cli, person_env, run_cli

REF = "credit-risk@1.1.0"


def _evaluate(db, *extra, user="alice", process=True):
    return (run_cli if process else invoke_cli)(
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
    assert "Fairness by feature sex (reference group: sex=male)" in out
    assert "Fairness by intersection sex ∧ age_group" in out
    # an intersection's groups are named by their features, never comma-joined
    assert "sex=female ∧ age_group=under_25" in out
    assert "female, under_25" not in out.split("warning:")[0]
    assert "Flagged disparities" in out and "age_group=under_25 vs age_group=45_and_over" in out
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
    explained = invoke_cli(
        "explain", REF, "--row-id", "2", "--json", user="victor", db=catalogue_url
    )
    assert explained.returncode == 0, explained.stderr
    explanation = json.loads(explained.stdout)["explanation"]
    assert explanation["row_id"] == "2" and len(explanation["contributions"]) == 20
    text = run_cli("explain", REF, "--row-id", "2", "--top", "3", user="victor", db=catalogue_url)
    assert "Base value + contributions" in text.stdout and "17 more features" in text.stdout
    again = run_cli("evaluate", "--recompute", str(evaluation_id), db=catalogue_url)
    assert again.returncode == 0, again.stderr
    assert "every figure is identical" in again.stdout


def test_drift_command(catalogue_url):
    result = invoke_cli(
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


def _drift(db, *extra, process=False):
    return (run_cli if process else invoke_cli)(
        "drift",
        REF,
        "--reference",
        str(SAMPLE / "credit_train.csv"),
        "--current",
        str(SAMPLE / "credit_holdout.csv"),
        *extra,
        user="bob",
        db=db,
    )


def test_drift_leaves_out_the_id_and_target_of_the_evaluation_and_says_why(catalogue_url):
    assert _evaluate(catalogue_url, "--explain-sample", "0", process=False).returncode == 0
    result = _drift(catalogue_url, process=True)
    assert result.returncode == 0, result.stderr
    assert "left out: applicant_id: the id column of evaluation 1" in result.stdout
    assert "left out: credit: the target of evaluation 1" in result.stdout
    measured = _drift(catalogue_url, "--json")
    results = json.loads(measured.stdout)["results"]
    assert results["left_out"] == {
        "credit": "the target of evaluation 1",
        "applicant_id": "the id column of evaluation 1",
    }
    names = {f["feature"] for f in results["features"]}
    assert {"credit", "applicant_id"}.isdisjoint(names) and {"age", "sex"} <= names
    # --include puts the target back; --exclude leaves out more, and says so
    both = json.loads(
        _drift(catalogue_url, "--include", "credit", "--exclude", "sex", "--json").stdout
    )
    assert "credit" in {f["feature"] for f in both["results"]["features"]}
    assert both["results"]["left_out"] == {
        "sex": "left out with --exclude",
        "applicant_id": "the id column of evaluation 1",
    }


def test_drift_without_an_evaluation_detects_an_identifier(catalogue_url):
    results = json.loads(_drift(catalogue_url, "--json").stdout)["results"]
    # applicant_id is unique in both files and not a model feature; credit_amount is a feature
    assert list(results["left_out"]) == ["applicant_id"]
    assert "every value is distinct in both data sets" in results["left_out"]["applicant_id"]
    names = {f["feature"] for f in results["features"]}
    assert "applicant_id" not in names and {"credit", "credit_amount"} <= names
    again = json.loads(_drift(catalogue_url, "--include", "applicant_id", "--json").stdout)
    assert again["results"]["left_out"] == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--include", "nope"), "--include nope: neither credit_train.csv nor credit_holdout.csv"),
        (("--include", "sex", "--exclude", "sex"), "--include sex: the column is also given to"),
    ],
)
def test_drift_bad_include_exits_2_and_writes_nothing(catalogue_url, extra, message):
    from tests.helpers import assert_clean_failure, raw_connection, snapshot

    before = snapshot(catalogue_url)
    lines = assert_clean_failure(_drift(catalogue_url, *extra))
    assert len(lines) == 1 and message in lines[0], lines
    assert snapshot(catalogue_url) == before
    with raw_connection(catalogue_url) as conn:
        assert conn.execute("SELECT count(*) FROM drift_run").fetchone() == (0,)


def _card_declaring(tmp_path, data):
    """The 1.1.0 card, declaring the SHA-256 of ``data`` as its evaluation data."""
    import hashlib

    import yaml

    card = yaml.safe_load((SAMPLE / "credit-risk-1.1.0.card.yaml").read_text())
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    card["evaluation_data"]["datasets"][0]["sha256"] = digest
    path = tmp_path / "credit-risk-1.1.0.card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path, digest


def _register_card(db, card, sample_artifacts):
    result = invoke_cli(
        "register",
        str(card),
        "--artifact",
        str(sample_artifacts / "credit-risk-1.1.0.skops"),
        user="alice",
        db=db,
    )
    assert result.returncode == 0, result.stderr


def test_evaluating_other_data_than_the_card_declares_warns_and_records_it(
    sqlite_cat, sample_artifacts, tmp_path
):
    card, declared = _card_declaring(tmp_path, SAMPLE / "credit_train.csv")
    _register_card(sqlite_cat.url, card, sample_artifacts)
    result = _evaluate(sqlite_cat.url, "--explain-sample", "0")
    assert result.returncode == 0, result.stderr
    warning = (
        "credit_holdout.csv (SHA-256 9964db7bd5772567...) is not the evaluation data the card "
        f"declares (SHA-256 {declared[:16]}...): these figures describe other data"
    )
    assert f"warning: {warning}" in result.stdout
    shown = invoke_cli("show", REF, db=sqlite_cat.url)
    assert f"warning (evaluation 1): {warning}" in shown.stdout
    detail = json.loads(invoke_cli("show", REF, "--json", db=sqlite_cat.url).stdout)
    assert detail["evaluations"][0]["warnings"][0] == warning
    events = json.loads(invoke_cli("audit", "log", "--json", db=sqlite_cat.url).stdout)
    event = next(e for e in events if e["action"] == "evaluation.create")
    assert event["payload"]["dataset"]["card_sha256"] == [declared]
    assert event["payload"]["dataset"]["matches_card"] is False
    assert invoke_cli("audit", "verify", db=sqlite_cat.url).returncode == 0
    again = invoke_cli("evaluate", "--recompute", "1", db=sqlite_cat.url)
    assert "every figure is identical" in again.stdout, again.stdout
    # a policy can require the card's data
    rule = tmp_path / "card-data.yaml"
    rule.write_text(
        "schema: 1\nid: card-data\ntitle: Card data\nversion: '1'\nrules:\n"
        "  - {id: card-data, title: On the card's data, severity: error, source: test,\n"
        "     kind: freshness, max_age_days: 30, card_dataset: true}\n"
    )
    checked = invoke_cli("check", REF, "--policy", str(rule), user="bob", db=sqlite_cat.url)
    assert checked.returncode == 1
    assert "not the evaluation data the card declares" in checked.stdout


def test_evaluating_the_data_the_card_declares_gives_no_warning(
    sqlite_cat, sample_artifacts, tmp_path
):
    card, _declared = _card_declaring(tmp_path, SAMPLE / "credit_holdout.csv")
    _register_card(sqlite_cat.url, card, sample_artifacts)
    result = _evaluate(sqlite_cat.url, "--explain-sample", "0", "--json", process=False)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert not any("card declares" in w for w in document["results"]["warnings"])
    events = json.loads(invoke_cli("audit", "log", "--json", db=sqlite_cat.url).stdout)
    event = next(e for e in events if e["action"] == "evaluation.create")
    assert event["payload"]["dataset"]["matches_card"] is True


def test_onnx_without_zipmap_gives_the_zipmap_figures_or_says_why_not(
    sqlite_cat, onnx_artifacts, sample_artifacts, tmp_path
):
    """skl2onnx zipmap=False: probabilities as a plain [N, 2] tensor, registered and evaluated
    through the CLI, against the ZipMap export evaluated in process."""
    import pandas as pd

    from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
    from govern.assess.models import load_model
    from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES

    registered = invoke_cli(
        "register",
        str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
        "--artifact",
        str(onnx_artifacts / "credit-risk-1.1.0-tensor.onnx"),
        user="alice",
        db=sqlite_cat.url,
    )
    assert registered.returncode == 0, registered.stderr
    result = _evaluate(sqlite_cat.url, "--explain-sample", "30", "--json", process=False)
    assert result.returncode == 0, result.stderr
    tensor = json.loads(result.stdout)["results"]
    zipmap = run_evaluation(
        EvaluationSpec(
            data=SAMPLE / "credit_holdout.csv",
            target="credit",
            sensitive=("sex", "age_group"),
            model=onnx_artifacts / "credit-risk-1.1.0.onnx",
            positive="1",
            explain_sample=0,
        ),
        Limits(),
    ).results.to_json()
    for metric in ("roc_auc", "brier"):
        assert tensor["performance"]["overall"][metric] is not None
        assert tensor["performance"]["overall"][metric] == zipmap["performance"]["overall"][metric]
    assert tensor["explanations"]["output"] == "probability of 1"
    # data on which the model predicts one class only: which column is which is unknowable
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    skops_model = load_model(
        sample_artifacts / "credit-risk-1.1.0.skops", trusted_types=DEFAULT_SKOPS_TRUSTED_TYPES
    )
    data = tmp_path / "predicted_good.csv"
    frame[skops_model.predict(frame) == 1].to_csv(data, index=False)
    shown = run_cli(
        "evaluate",
        REF,
        "--data",
        str(data),
        "--target",
        "credit",
        "--positive",
        "1",
        "--sensitive",
        "sex",
        "--explain-sample",
        "0",
        user="alice",
        db=sqlite_cat.url,
    )
    assert shown.returncode == 0, shown.stderr
    assert (
        "warning: credit-risk-1.1.0-tensor.onnx: the ONNX model's probability output does not "
        "say which class each column is (1 of its 2 columns is never the largest on this data)"
        ", so ROC AUC, the Brier score and scoring rates are unavailable"
    ) in " ".join(shown.stdout.split())


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
    before = invoke_cli("audit", "log", "--json", db=catalogue_url)
    for name, (extra, pattern) in _bad_inputs(tmp_path).items():
        # One case, found only once the model is loaded, as a real process; the rest in process.
        result = _evaluate(catalogue_url, *extra, process=name == "feature mismatch")
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.stderr)
        assert pattern in lines[0], (name, lines[0])
        assert "Traceback" not in result.stderr
    after = invoke_cli("audit", "log", "--json", db=catalogue_url)
    assert after.stdout == before.stdout
    shown = invoke_cli("show", REF, "--json", db=catalogue_url)
    assert json.loads(shown.stdout)["evaluations"] == []


def _scored(tmp_path, name, change):
    import pandas as pd

    frame = change(pd.read_csv(SAMPLE / "credit_holdout_scored.csv"))
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_bad_predictions_and_groups_exit_2_and_write_nothing(catalogue_url, tmp_path):
    import numpy as np
    import pandas as pd

    rows = 100_000
    rng = np.random.default_rng(0)
    wide = tmp_path / "wide.csv"
    pd.DataFrame(
        {
            "credit": rng.integers(1, 3, rows),
            "pred": rng.integers(1, 3, rows),
            "customer": [f"c{i}" for i in range(rows)],
        }
    ).to_csv(wide, index=False)
    cases = {
        "scores as predictions": (
            [str(SAMPLE / "credit_holdout_scored.csv"), "--predictions", "score"],
            "these look like scores: pass them with --score",
        ),
        "text predictions": (
            [
                str(_scored(tmp_path, "text.csv", lambda f: f.assign(pred="yes"))),
                "--predictions",
                "pred",
            ],
            "predicted values yes are not labels of the target",
        ),
        "missing predictions": (
            [
                str(
                    _scored(
                        tmp_path, "gaps.csv", lambda f: f.assign(pred=f.pred.where(f.index > 2))
                    )
                ),
                "--predictions",
                "pred",
            ],
            "3 predictions are missing",
        ),
        "100k distinct values": (
            [str(wide), "--predictions", "pred", "--sensitive", "customer"],
            "sensitive feature 'customer' has more than 1,000 distinct values",
        ),
    }
    before = invoke_cli("audit", "log", "--json", db=catalogue_url).stdout
    for name, (extra, pattern) in cases.items():
        data, *options = extra
        if "--sensitive" not in options:
            options += ["--sensitive", "sex,age_group"]
        # The largest input as a real process; the others in process.
        runner = run_cli if name == "100k distinct values" else invoke_cli
        result = runner(
            "evaluate",
            REF,
            "--data",
            data,
            "--target",
            "credit",
            *options,
            user="alice",
            db=catalogue_url,
        )
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and pattern in lines[0], (name, result.stderr)
        assert result.stdout == ""
    assert invoke_cli("audit", "log", "--json", db=catalogue_url).stdout == before
    shown = invoke_cli("show", REF, "--json", db=catalogue_url)
    assert json.loads(shown.stdout)["evaluations"] == []


def test_missing_values_single_class_groups_and_min_group_size(catalogue_url, tmp_path):
    """Missing sensitive values are a reported group; a group with one class says why its
    rates are undefined; the minimum group size comes from the option or the catalogue's
    governance settings, never from the environment."""

    def change(frame):
        frame.loc[:20, "sex"] = None
        frame["region"] = ["island" if i < 8 else "main" for i in range(len(frame))]
        frame.loc[:7, "credit"] = 1  # the island has no actual negatives
        return frame

    data = _scored(tmp_path, "edge.csv", change)
    common = ["evaluate", REF, "--data", str(data), "--target", "credit", "--predictions", "pred"]
    result = run_cli(
        *common,
        "--sensitive",
        "sex,region",
        "--min-group-size",
        "10",
        user="alice",
        db=catalogue_url,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sex=(missing)  21" in out  # 21 rows without sex, shown as a group of their own
    island = next(line for line in out.splitlines() if line.startswith("region=island"))
    assert "undefined" in island and "small_group" in island and "undefined_metrics" in island
    assert "undefined for region=island: FPR (no actual negatives in group)" in out
    assert "region: 1 group below 10 rows (region=island)" in out
    # The organisation's evaluation standard is a governance setting: an admin applies it,
    # and a person's own environment cannot change it.
    refused = invoke_cli(
        *common,
        "--sensitive",
        "region",
        user="alice",
        db=catalogue_url,
        env={"GOVERN_MIN_GROUP_SIZE": "5"},
    )
    assert refused.returncode == 2 and "governance setting" in refused.stderr
    org = tmp_path / "org.yaml"
    org.write_text("schema: govern-settings/1\nmin_group_size: 5\n", encoding="utf-8")
    applied = invoke_cli("settings", "apply", str(org), user="admin", db=catalogue_url)
    assert applied.returncode == 0, applied.stderr
    from_settings = invoke_cli(
        *common, "--sensitive", "region", "--json", user="alice", db=catalogue_url
    )
    document = json.loads(from_settings.stdout)["results"]
    assert document["min_group_size"] == 5
    groups = {g["group"]: g for g in document["fairness"][0]["groups"]}
    assert "small_group" not in groups["island"]["flags"]
    assert groups["island"]["undefined"] == {"fpr": "no actual negatives in group"}
    assert groups["island"]["metrics"]["fpr"]["value"] is None


def test_progress_bar_on_a_terminal_only(catalogue_url):
    """On a terminal (a pseudo-terminal here) stderr shows the steps and a SHAP bar; stdout
    still carries clean JSON."""
    import os
    import pty

    leader, follower = pty.openpty()
    env = dict(os.environ, GOVERN_DATABASE_URL=catalogue_url, **person_env("alice"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "govern",
            "evaluate",
            REF,
            "--data",
            str(SAMPLE / "credit_holdout.csv"),
            "--target",
            "credit",
            "--sensitive",
            "sex",
            "--explain-sample",
            "300",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    text = shown.decode()
    for step in ("loading model", "reading data", "predicting", "explaining"):
        assert step in text, text
    assert "[" + "#" * 28 + "] 300/300" in text
    assert text.endswith("\r\x1b[K")  # the bar is cleared when done
    assert json.loads(stdout)["results"]["explanations"]["sample_size"] == 300


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


def test_recompute_refuses_options_it_would_ignore(catalogue_url):
    result = run_cli(
        "evaluate",
        REF,
        "--recompute",
        "1",
        "--data",
        "other.csv",
        "--seed",
        "3",
        db=catalogue_url,
    )
    assert result.returncode == 2
    assert "it takes no REF, --data, --seed" in result.stderr


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
