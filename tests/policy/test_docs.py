"""docs/ci.md and .pre-commit-hooks.yaml hold working configurations: their YAML parses and
every govern command in them runs, with the exit code and the report file they promise."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from junitparser import JUnitXml

from tests.conftest import REPO, run_cli
from tests.policy.test_formats import SARIF_SCHEMA

DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")


def _yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def _workspace(tmp_path: Path) -> Path:
    """A checkout-like directory: the repository's sample data and policies."""
    for name in ("sample_data", "policies"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def _govern_args(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "govern", command
    return words[1:]


def test_github_actions_workflow_runs(tmp_path: Path) -> None:
    workflow = next(b for b in _yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    steps = workflow["jobs"]["govern-check"]["steps"]
    assert workflow["permissions"]["security-events"] == "write"
    commands = [s for s in steps if str(s.get("run", "")).startswith("govern ")]
    assert [s["name"] for s in commands] == [
        "Validate policy files",
        "Annotate the pull request",
        "Check the model against policy",
    ]
    upload = steps[-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["if"] == "always()"
    cwd = _workspace(tmp_path)
    codes = [run_cli(*_govern_args(s["run"]), cwd=cwd).returncode for s in commands]
    # the sample model fails the four-fifths rule for applicants under 25: the job fails
    assert codes == [0, 1, 1]
    sarif = json.loads((cwd / upload["with"]["sarif_file"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    annotations = run_cli(*_govern_args(commands[1]["run"]), cwd=cwd).stdout
    # shipped packs live outside the checkout: the annotation names the rule, not a file
    assert annotations.startswith("::error title=eeoc-four-fifths/impact-ratio-significant")
    local = [
        a.replace("eeoc-four-fifths", "policies/eeoc-four-fifths.yaml")
        for a in _govern_args(commands[1]["run"])
    ]
    in_repo = run_cli(*local, cwd=cwd).stdout
    assert in_repo.startswith("::error file=policies/eeoc-four-fifths.yaml,line=19,title=")


def test_gitlab_job_runs_and_reports_junit(tmp_path: Path) -> None:
    job = next(b for b in _yaml_blocks() if isinstance(b, dict) and "govern-check" in b)
    spec = job["govern-check"]
    assert spec["artifacts"]["when"] == "always"
    commands = [line for line in spec["script"] if line.startswith("govern ")]
    cwd = _workspace(tmp_path)
    codes = [run_cli(*_govern_args(c), cwd=cwd).returncode for c in commands]
    assert codes == [0, 1]
    report = cwd / spec["artifacts"]["reports"]["junit"]
    suites = list(JUnitXml.fromfile(str(report)))
    assert [s.name for s in suites] == [
        "credit-risk@1.1.0 eeoc-four-fifths",
        "credit-risk@1.1.0 baseline",
    ]
    assert suites[0].failures >= 1


def test_shell_examples_name_real_options(tmp_path: Path) -> None:
    cwd = _workspace(tmp_path)
    block = re.search(r"```sh\n(govern check --card.*?)```", DOC, re.S)
    assert block is not None
    command = block.group(1).replace("\\\n", " ")
    result = run_cli(*_govern_args(command), cwd=cwd)
    assert result.returncode == 1, result.stderr
    assert "credit-risk@1.1.0: FAIL" in result.stdout


def test_pre_commit_hooks(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"govern-policy-validate", "govern-check"}
    for hook in hooks:
        assert hook["entry"].startswith("govern ")
        assert hook["language"] == "python"
        assert hook["id"] in DOC
    validate = by_id["govern-policy-validate"]
    pattern = re.compile(validate["files"])
    files = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "policies").iterdir()
        if pattern.search(str(p.relative_to(REPO)))
    )
    assert len(files) == 7
    result = run_cli(*_govern_args(validate["entry"]), *files, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert by_id["govern-check"]["pass_filenames"] is False
    config = next(b for b in _yaml_blocks() if isinstance(b, dict) and "repos" in b)
    used = [h["id"] for h in config["repos"][0]["hooks"]]
    assert used == ["govern-policy-validate", "govern-check"]
