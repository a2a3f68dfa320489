"""The wheel carries the data govern needs at run time, and finds it once installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

DATA_DIRS = ("policies", "report_templates", "sample_data")
#: Built or cached locally, never shipped.
NOT_SHIPPED = ("__pycache__", ".pyc", ".skops")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    [built] = out.glob("govern-*.whl")
    return built


def _shipped(directory: str) -> list[str]:
    root = REPO / directory
    return sorted(
        str(path.relative_to(REPO))
        for path in root.rglob("*")
        if path.is_file() and not any(part in str(path) for part in NOT_SHIPPED)
    )


@pytest.mark.slow
def test_wheel_contains_the_bundled_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for directory in DATA_DIRS:
        expected = _shipped(directory)
        assert expected, f"{directory}/ has no files to ship"
        inside = {f"govern/_data/{name}" for name in expected}
        assert inside <= names, sorted(inside - names)
    for required in (
        "german_credit.csv",
        "german_credit.txt",
        "README.md",
        "credit-risk-1.0.0.card.yaml",
        "credit-risk-1.1.0.card.yaml",
        "train_credit_model.py",
    ):
        assert f"govern/_data/sample_data/{required}" in names
    assert not any(name.startswith("tests/") for name in names)
    assert "govern/storage/migrations/versions/0001_catalogue.py" in names
    assert "govern/storage/migrations/script.py.mako" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "govern = govern.cli.app:main" in text


@pytest.mark.slow
def test_installed_wheel_finds_its_data(wheel, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    script = (
        "import json, govern, govern.locations as loc\n"
        "print(json.dumps({'package': govern.__file__, 'policies': str(loc.policies_dir()),"
        " 'templates': str(loc.report_templates_dir()), 'sample': str(loc.sample_data_dir())}))"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(unpacked)
    data = unpacked / "govern" / "_data"
    assert Path(found["policies"]) == data / "policies"
    assert Path(found["templates"]) == data / "report_templates"
    assert Path(found["sample"]) == data / "sample_data"
    assert (data / "sample_data" / "german_credit.csv").stat().st_size > 10_000
