"""``govern check``, ``govern policy ...`` and ``govern waive`` as real subprocesses: exit codes
0 (no blocking failure), 1 (a blocking rule failed) and 2 (bad input, nothing written)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
from junitparser import Failure, JUnitXml

from tests.builders import grouping, register, results_document
from tests.conftest import SAMPLE, Catalogue, invoke_cli, key_dir, run_cli
from tests.policy.stored import counts, store_evaluation
from tests.policy.test_formats import SARIF_SCHEMA

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UNFAIR = [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)]
FAIR = [grouping("sex", {"female": (58, 100), "male": (60, 100)}, total=200)]
STATELESS = [
    "--card",
    str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
    "--data",
    str(SAMPLE / "credit_holdout_scored.csv"),
    "--target",
    "credit",
    "--sensitive",
    "sex,age_group",
    "--predictions",
    "pred",
    "--positive",
    "1",
]


def _catalogue_with_evidence(cat: Catalogue) -> tuple[str, str]:
    unfair = register(cat, "1.0.0")
    fair = register(cat, "1.1.0")
    now = dt.datetime.now(dt.UTC)
    store_evaluation(cat, unfair, results_document(UNFAIR), at=now - dt.timedelta(days=2))
    store_evaluation(cat, fair, results_document(FAIR), at=now - dt.timedelta(days=2))
    return unfair, fair


def test_check_exit_codes_and_junit_file(cat: Catalogue, tmp_path: Path) -> None:
    unfair, fair = _catalogue_with_evidence(cat)
    report = tmp_path / "govern-junit.xml"
    failed = run_cli(
        "check",
        unfair,
        "--policy",
        "eeoc-four-fifths",
        "--format",
        "junit",
        "--output",
        str(report),
        user="bob",
        db=cat.url,
    )
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout == ""
    assert "credit-risk@1.0.0: FAIL" in failed.stderr
    assert f"junit report written to {report}" in failed.stderr
    suite = next(iter(JUnitXml.fromfile(str(report))))
    cases = {c.name: c for c in suite}
    assert isinstance(cases["impact-ratio-significant"].result[0], Failure)
    passed = run_cli("check", fair, "--policy", "eeoc-four-fifths", user="bob", db=cat.url)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("credit-risk@1.1.0: PASS")
    assert "Outcome: pass (exit 0)" in passed.stdout


def test_check_bad_policy_exits_2_with_every_problem_and_writes_nothing(
    sqlite_cat: Catalogue,
) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    before = counts(sqlite_cat)
    bad = run_cli(
        "check",
        ref,
        "--policy",
        str(FIXTURES / "many-problems.yaml"),
        user="bob",
        db=sqlite_cat.url,
    )
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert len(lines) == 6
    assert all(line.startswith(f"error: {FIXTURES / 'many-problems.yaml'}:") for line in lines)
    assert "many-problems.yaml:10:15: rules[0].severity: unknown severity 'fatal'" in lines[1]
    assert "Traceback" not in bad.stderr
    assert counts(sqlite_cat) == before


def test_check_usage_errors_exit_2(sqlite_cat: Catalogue) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    cases = {
        ("check", ref, "--format", "xml"): "unknown format 'xml'",
        ("check", ref, "--card", "card.yaml"): "give a model reference or a stateless check",
        ("check", "--card", "card.yaml"): "missing --data, --target, --sensitive, --predictions",
        ("check", "credit-risk@9.0.0", "--policy", "baseline"): "no version credit-risk@9.0.0",
        (
            "check",
            ref,
            "--policy",
            "no-such-pack",
        ): "no such policy file, directory or shipped pack",
    }
    for i, (args, message) in enumerate(cases.items()):
        # One real process; the same exit and line come in process for the rest.
        result = (run_cli if i == 0 else invoke_cli)(*args, user="bob", db=sqlite_cat.url)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_check_sarif_and_json_outputs(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    sarif = run_cli(
        "check", ref, "--policy", "nyc-ll144", "--format", "sarif", user="bob", db=sqlite_cat.url
    )
    assert sarif.returncode == 1
    log = json.loads(sarif.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    data = run_cli(
        "check", ref, "--format", "json", "--no-record", user="victor", db=sqlite_cat.url
    )
    payload = json.loads(data.stdout)
    assert payload["subjects"][0]["policy_run_id"] is None
    assert [p["id"] for p in payload["policies"]] == [
        "baseline",
        "eu-ai-act-high-risk",
        "model-risk",
    ]
    for fmt in ("github", "markdown"):
        out = tmp_path / f"report.{fmt}"
        result = run_cli(
            "check",
            ref,
            "--policy",
            "eeoc-four-fifths",
            "--format",
            fmt,
            "-o",
            str(out),
            user="bob",
            db=sqlite_cat.url,
        )
        assert result.returncode == 1
        assert out.read_text().strip()


def test_stateless_check_on_the_sample_data(tmp_path: Path) -> None:
    """No catalogue at all: card + scored data + predictions column."""
    eeoc = run_cli("check", *STATELESS, "--policy", "eeoc-four-fifths", cwd=tmp_path)
    assert eeoc.returncode == 1, eeoc.stderr
    assert "age_group=under_25: impact_ratio 0.749 (n=55, p=0.008) is not >= 0.8" in eeoc.stdout
    baseline = run_cli(
        "check", *STATELESS, "--policy", "baseline", "--format", "json", cwd=tmp_path
    )
    assert baseline.returncode == 0, baseline.stderr
    results = {r["rule"]: r for r in json.loads(baseline.stdout)["subjects"][0]["results"]}
    assert results["no-pickle"]["status"] == "not-applicable"
    assert results["explanations-present"]["status"] == "fail"  # warning: no model, no SHAP
    assert not (tmp_path / "govern.db").exists()
    bad = run_cli(
        "check", *STATELESS[:-2], "--target", "nope", "--policy", "baseline", cwd=tmp_path
    )
    assert bad.returncode == 2
    assert "nope" in bad.stderr


def test_policy_validate_and_list() -> None:
    ok = run_cli("policy", "validate", str(FIXTURES / "valid.yaml"), "nyc-ll144")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].endswith("valid.yaml: my-org 2.1.0 (2 rules, 1 manual items)")
    bad = run_cli(
        "policy",
        "validate",
        str(FIXTURES / "valid.yaml"),
        str(FIXTURES / "many-problems.yaml"),
        str(FIXTURES / "yaml-syntax.yaml"),
    )
    assert bad.returncode == 2
    assert bad.stdout.count("ok: ") == 1
    assert len(bad.stderr.splitlines()) == 7
    assert "yaml-syntax.yaml:9:13: YAML syntax error" in bad.stderr
    listed = run_cli("policy", "list")
    assert listed.returncode == 0
    assert "nyc-ll144 1.1.0: NYC Local Law 144 bias audit" in listed.stdout
    assert "  manual                   independent-auditor:" in listed.stdout
    packs = json.loads(run_cli("policy", "list", "--json").stdout)
    assert [p["id"] for p in packs] == [
        "baseline",
        "eeoc-four-fifths",
        "eu-ai-act-high-risk",
        "model-risk",
        "nist-ai-rmf",
        "nyc-ll144",
        "production-monitoring",
    ]


def test_waive_command(sqlite_cat: Catalogue) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    run_cli("check", ref, "--policy", "eeoc-four-fifths", user="bob", db=sqlite_cat.url)
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    args = [
        "waive",
        ref,
        "--rule",
        "eeoc-four-fifths/impact-ratio-significant",
        "--reason",
        "reweighed model due next sprint",
    ]
    refused = run_cli(*args, "--expires", tomorrow, user="alice", db=sqlite_cat.url)
    assert refused.returncode == 2
    assert "alice is a developer and cannot waive" in refused.stderr
    bad_date = run_cli(*args, "--expires", "next week", user="dave", db=sqlite_cat.url)
    assert (bad_date.returncode, bad_date.stderr.strip()) == (
        2,
        "error: --expires 'next week' is not a date such as 2027-03-31",
    )
    granted = run_cli(*args, "--expires", tomorrow, "--json", user="dave", db=sqlite_cat.url)
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["active"] is True
    after = run_cli("check", ref, "--policy", "eeoc-four-fifths", user="bob", db=sqlite_cat.url)
    assert after.returncode == 0, after.stdout
    assert "WAIVED" in after.stdout
    listed = run_cli("policy", "waivers", ref, user="victor", db=sqlite_cat.url)
    assert "eeoc-four-fifths/impact-ratio-significant  active" in listed.stdout


def test_check_on_stored_results_does_not_load_the_assessment_stack(sqlite_cat: Catalogue) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    written = Path(sqlite_cat.url.removeprefix("sqlite:///")).parent / "check.sarif"
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ["GOVERN_DATABASE_URL"] = {sqlite_cat.url!r}
        os.environ["GOVERN_USER"] = "bob"
        os.environ["GOVERN_KEY_DIR"] = {str(key_dir("bob"))!r}
        from govern.cli.app import run
        args = ["check", {ref!r}, "--policy", "policies", "--format", "sarif"]
        code = run([*args, "-o", {str(written)!r}])
        stack = {{"shap", "sklearn", "fairlearn", "scipy", "skops", "pandas", "numpy"}}
        heavy = sorted(name for name in sys.modules if name.split(".")[0] in stack)
        sys.stderr.write(json.dumps({{"code": code, "heavy": heavy}}))
        """
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=repo, check=False
    )
    report = json.loads(result.stderr.splitlines()[-1])
    assert report["code"] == 1
    assert report["heavy"] == []


def test_an_unwritable_output_is_refused_before_the_run_is_recorded(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    ref, _ = _catalogue_with_evidence(sqlite_cat)
    before = counts(sqlite_cat)
    for target, message in (
        (tmp_path / "no-such-dir" / "report.xml", "does not exist"),
        (tmp_path, "is a directory"),
    ):
        result = invoke_cli(
            "check", ref, "--policy", "baseline", "--format", "junit", "-o", str(target),
            user="bob", db=sqlite_cat.url,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert counts(sqlite_cat) == before
    # A symbolic link (govern.outputs) and a device are refused; nothing is written through.
    real = tmp_path / "reports" / "govern-junit.xml"
    real.parent.mkdir()
    real.write_text("earlier")
    link = tmp_path / "link.xml"
    link.symlink_to(real)
    for target in (link, Path("/dev/stdout")):
        # A real process: in process, /dev/stdout would not be the command's own output.
        refused = run_cli(
            "check", ref, "--policy", "baseline", "--format", "junit", "-o", str(target),
            user="bob", db=sqlite_cat.url,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert "symbolic link" in refused.stderr or "not a regular file" in refused.stderr
        assert counts(sqlite_cat) == before
    assert link.is_symlink() and real.read_text() == "earlier"
    assert sorted(p.name for p in real.parent.iterdir()) == ["govern-junit.xml"]


def test_text_has_colours_on_a_terminal_only(tmp_path: Path) -> None:
    """A real pseudo-terminal: colour codes there, none when piped or with NO_COLOR."""
    import os
    import pty

    args = ["check", *STATELESS, "--policy", "eeoc-four-fifths"]

    def on_terminal(extra_env: dict[str, str]) -> str:
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | extra_env
        main, secondary = pty.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "govern", *args],
                stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.DEVNULL,
                cwd=tmp_path, env=env,
            )  # fmt: skip
            os.close(secondary)
            chunks = []
            while True:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal closes when the process exits
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            assert process.wait(timeout=120) == 1
        finally:
            os.close(main)
        return b"".join(chunks).decode()

    coloured = on_terminal({})
    assert "\x1b[31mFAIL" in coloured and "\x1b[32mPASS" in coloured
    assert "\x1b[" not in on_terminal({"NO_COLOR": "1"})
    piped = run_cli(*args, cwd=tmp_path)
    assert piped.returncode == 1 and "FAIL" in piped.stdout and "\x1b[" not in piped.stdout


def test_check_all_versions_is_a_read_of_the_whole_catalogue(
    cat: Catalogue, tmp_path: Path
) -> None:
    unfair, fair = _catalogue_with_evidence(cat)
    before = counts(cat)
    written = tmp_path / "all.json"
    args = ["check", "--all", "--policy", "eeoc-four-fifths", "--format", "json"]
    result = run_cli(*args, "--output", str(written), user="bob", db=cat.url)
    assert result.returncode == 1, result.stderr  # the unfair version blocks
    report = json.loads(written.read_text(encoding="utf-8"))
    outcomes = {s["subject"]: s["outcome"] for s in report["subjects"]}
    assert outcomes == {unfair: "fail", fair: "pass"}
    assert f"{unfair}: FAIL" in result.stderr and f"{fair}: PASS" in result.stderr
    text = run_cli("check", "--all", "--policy", "eeoc-four-fifths", user="bob", db=cat.url)
    assert text.returncode == 1
    assert text.stdout.startswith(f"{unfair}: FAIL") and f"\n{fair}: PASS" in text.stdout
    assert f"Blocking: {unfair} eeoc-four-fifths/" in text.stdout
    assert counts(cat) == before  # nothing recorded, not even an audit event
    for wrong, said in [
        (["check", unfair, "--all", "--policy", "baseline"], f"do not give {unfair} with it"),
        (["check", "--all", "--policy", "baseline", *STATELESS[:2]], "do not give --card"),
        (["check", "--all"], "needs --policy"),
        (["check", "--all", "--policy", "no-such-pack"], "no-such-pack"),
    ]:
        refused = invoke_cli(*wrong, user="bob", db=cat.url)
        assert refused.returncode == 2, refused.stderr
        assert said in refused.stderr and refused.stdout == ""
    assert counts(cat) == before


def test_check_all_versions_of_an_empty_catalogue_passes(sqlite_cat: Catalogue) -> None:
    result = run_cli("check", "--all", "--policy", "baseline", user="bob", db=sqlite_cat.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Outcome: pass (exit 0)\n"
