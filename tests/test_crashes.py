"""Crash tests: govern killed with SIGKILL at named points and at random moments.

Each command runs in a process of its own, forked from this one after the heavy libraries
are imported (a fresh interpreter per kill would cost a second each), through the CLI's own
entry point (``govern.cli.app.run``). It is killed either by itself at a named crash point
(``GOVERN_TEST_CRASH_AT``, govern.outputs) or by this process after a random delay drawn
from a seeded RNG. After every kill, one govern command (``audit verify``, which recovers
what the killed one left) must exit 0, and:

* SQLite's ``PRAGMA integrity_check`` says ok (PostgreSQL: every table can be read);
* every row matches its audit event (``audit verify``);
* the file at each path a report or checkpoint records is the one its newest record names,
  with that SHA-256: an earlier file replaced with ``--force`` is either still the earlier
  one (the new report not recorded) or the new one (recorded), never anything else;
* no file in the output directories is unrecorded, and no temporary file or journal entry
  is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from govern import outputs
from govern.services import catalogue
from tests.conftest import (
    SAMPLE,
    Catalogue,
    SchemaTemplates,
    invoke_cli,
    key_dir,
    make_catalogue,
    postgres_database,
)
from tests.helpers import is_postgres, raw_connection

#: Part of every run, CI's too (about 40 s on two cores).
pytestmark = pytest.mark.slow

#: The points a file write can die at (govern.outputs.crash_point).
POINTS = (
    "before-journal",
    "after-journal",
    "after-temp",
    "after-place",
    "after-commit",
    "after-cleanup",
)
DATA = SAMPLE / "credit_holdout_scored.csv"


@dataclass
class Harness:
    """A catalogue, the folders govern writes to, and the runs and kills made so far."""

    cat: Catalogue
    root: Path
    rng: random.Random
    kills: int = 0
    runs: int = 0
    #: How long each kind of command took when it was not killed (for random delays).
    durations: dict[str, float] = field(default_factory=dict)
    #: (kind, exit code or "killed") of every run.
    outcomes: Counter[tuple[str, int | str]] = field(default_factory=Counter)

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def card(self, version: str) -> Path:
        path = self.root / "cards" / f"credit-risk-{version}.card.yaml"
        if not path.exists():
            document = yaml.safe_load((SAMPLE / "credit-risk-1.0.0.card.yaml").read_text())
            document["model_details"]["version"] = version
            path.parent.mkdir(exist_ok=True)
            path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def commands(self, version: str) -> list[tuple[str, str, list[str]]]:
        """(kind, user, arguments) of one round of work on ``version``."""
        ref = f"credit-risk@{version}"
        evaluate = [
            "evaluate", ref, "--data", str(DATA), "--target", "credit", "--predictions",
            "pred", "--positive", "1", "--sensitive", "sex,age_group",
        ]  # fmt: skip
        reports = self.reports
        return [
            ("register", "alice", ["register", str(self.card(version))]),
            ("evaluate", "alice", evaluate),
            ("submit", "alice", ["submit", ref]),
            ("approve", "carol", ["approve", ref, "--comment", "fine"]),
            ("report", "admin", ["report", ref, "-f", "md", "-o", str(reports / f"{version}.md")]),
            ("report", "admin", ["report", ref, "-f", "json", "-o", str(reports / "latest.json"),
                                 "--force"]),
            ("checkpoint", "admin", ["audit", "checkpoint", "-o", str(self.checkpoints)]),
        ]  # fmt: skip

    def run(self, kind: str, user: str, args: list[str], *, crash_at: str | None = None,
            kill_after: float | None = None) -> int | None:  # fmt: skip
        """Run one command in a forked process; its exit code, or None if it was killed."""
        env = {
            "GOVERN_USER": user,
            "GOVERN_KEY_DIR": str(key_dir(user)),
            "GOVERN_DATABASE_URL": self.cat.url,
        }
        if crash_at is not None:
            env["GOVERN_TEST_CRASH_AT"] = crash_at
        started = time.perf_counter()
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking with threads (xdist's); the child only runs
            # govern's entry point with connections of its own, then _exit.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: govern's own entry point, then straight out
            code = 70
            try:
                os.environ.update(env)
                os.chdir(self.root)
                null = os.open(os.devnull, os.O_RDWR)
                for stream in (0, 1, 2):
                    os.dup2(null, stream)
                sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until _exit
                from govern.cli.app import run

                code = run(args)
            finally:
                os._exit(code)
        self.runs += 1
        if kill_after is not None:
            deadline = started + kill_after
            while time.perf_counter() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.002)
            else:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
        else:
            _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL
            self.kills += 1
            self.outcomes[kind, "killed"] += 1
            return None
        self.durations[kind] = time.perf_counter() - started
        self.outcomes[kind, os.WEXITSTATUS(status)] += 1
        return os.WEXITSTATUS(status)

    # --- after a kill -------------------------------------------------------------------

    def check(self, what: str) -> None:
        """One recovering govern command, then everything the module's docstring lists."""
        verified = invoke_cli("audit", "verify", db=self.cat.url, user="admin")
        assert verified.returncode == 0, (what, verified.stdout, verified.stderr)
        self._integrity(what)
        recorded = self._recorded()
        for path, sha256 in recorded.items():
            assert Path(path).is_file(), (what, path)
            assert _sha256(Path(path)) == sha256, (what, path)
        for folder in (self.reports, self.checkpoints):
            on_disk = {str(p) for p in folder.iterdir()}
            assert on_disk <= set(recorded), (what, sorted(on_disk - set(recorded)))
        pending = Path(os.environ["GOVERN_HOME"]) / outputs.PENDING
        left = [p.name for p in pending.iterdir() if p.name != "lock"] if pending.exists() else []
        assert left == [], (what, left)

    def _integrity(self, what: str) -> None:
        with raw_connection(self.cat.url) as conn:
            if is_postgres(self.cat.url):
                cursor = conn.cursor()
                cursor.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
                for (table,) in cursor.fetchall():
                    cursor.execute(f'SELECT count(*) FROM "{table}"')
                    assert cursor.fetchone() is not None
            else:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], what

    def _recorded(self) -> dict[str, str]:
        """Each path's newest record (report row or checkpoint event): its SHA-256."""
        newest: dict[str, str] = {}
        with raw_connection(self.cat.url) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT path, sha256 FROM report ORDER BY id")
            reports = cursor.fetchall()
            cursor.execute(
                "SELECT payload FROM audit_event WHERE action = 'audit.checkpoint' ORDER BY seq"
            )
            events = cursor.fetchall()
        # Reports and checkpoints never share a path here, so the two orders do not mix.
        for path, sha256 in reports:
            newest[path] = sha256
        for (payload,) in events:
            data = json.loads(payload)
            newest[data["path"]] = data["sha256"]
        return newest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _harness(cat: Catalogue, tmp_path: Path, seed: int) -> Harness:
    # Import what the commands need before forking, so each fork starts warm.
    import govern.cli.app
    import govern.report.render
    import govern.services.evaluation
    import govern.services.reports
    import govern.services.workflow  # noqa: F401

    catalogue.register_version(cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    cat.close()  # no connection of this process is shared with a fork
    made = Harness(cat, tmp_path / "crash", random.Random(seed))
    for folder in (made.reports, made.checkpoints):
        folder.mkdir(parents=True)
    return made


@pytest.fixture
def sqlite_harness(sqlite_cat: Catalogue, tmp_path: Path) -> Harness:
    return _harness(sqlite_cat, tmp_path, seed=5)


@pytest.fixture
def postgres_harness(schema_templates: SchemaTemplates, tmp_path: Path) -> Iterator[Harness]:
    with postgres_database(template=schema_templates.postgres()) as url:
        cat = make_catalogue(url)
        try:
            yield _harness(cat, tmp_path, seed=21)
        finally:
            cat.close()


def _kill_at_every_point(harness: Harness, points: tuple[str, ...]) -> None:
    """Each named point of report (a new file, and --force over an earlier one) and of
    checkpoint: the kill happens, recovery runs, the catalogue and the files agree."""
    ref = "credit-risk@1.0.0"
    forced = harness.reports / "forced.md"
    assert harness.run("report", "admin", ["report", ref, "-f", "md", "-o", str(forced)]) == 0
    harness.check("first report")
    for point in points:
        fresh = harness.reports / f"fresh-{point}.md"
        for target, extra in ((fresh, []), (forced, ["--force"])):
            earlier = _sha256(target) if target.exists() else None
            args = ["report", ref, "-f", "md", "-o", str(target), *extra]
            assert harness.run("report", "admin", args, crash_at=f"report.{point}") is None
            harness.check(f"report.{point} {target.name}")
            committed = point in ("after-commit", "after-cleanup")
            if committed:
                assert target.is_file()
            elif earlier is None:
                assert not target.exists(), point
            else:
                assert _sha256(target) == earlier, point
        checkpoint = ["audit", "checkpoint", "-o", str(harness.checkpoints)]
        assert (
            harness.run("checkpoint", "admin", checkpoint, crash_at=f"checkpoint.{point}") is None
        )
        harness.check(f"checkpoint.{point}")
    assert harness.kills == 3 * len(points)


def test_a_kill_at_every_point_of_a_file_write_leaves_both_or_neither(
    sqlite_harness: Harness,
) -> None:
    _kill_at_every_point(sqlite_harness, POINTS)


@pytest.mark.postgres
def test_a_kill_in_the_commit_window_on_postgres(postgres_harness: Harness) -> None:
    _kill_at_every_point(postgres_harness, ("after-journal", "after-place", "after-commit"))


def _random_kills(harness: Harness, wanted: int) -> None:
    """Rounds of register, evaluate, submit, approve, report and checkpoint; each command
    is killed after a random share of how long that kind of command takes, or runs to the
    end (to move the catalogue on), until ``wanted`` commands were killed."""
    round_number = 0
    while harness.kills < wanted:
        round_number += 1
        version = f"2.{round_number}.0"
        for kind, user, args in harness.commands(version):
            typical = harness.durations.get(kind)
            if typical is None or harness.rng.random() < 0.25:
                harness.run(kind, user, args)  # measured, or moving on
                continue
            killed = harness.run(kind, user, args, kill_after=harness.rng.uniform(0, typical))
            if killed is None:
                harness.check(f"{kind} {version}")
            if harness.kills >= wanted:
                break
    harness.check("the end")
    # Every kind of command ran to the end at least once (the rounds do real work).
    assert {kind for (kind, code) in harness.outcomes if code == 0} == KINDS, harness.outcomes


KINDS = {"register", "evaluate", "submit", "approve", "report", "checkpoint"}


def test_random_kills_on_sqlite_leave_a_consistent_catalogue(sqlite_harness: Harness) -> None:
    _random_kills(sqlite_harness, 34)
    assert sqlite_harness.kills >= 34
    killed = {kind for (kind, code) in sqlite_harness.outcomes if code == "killed"}
    assert killed == KINDS, sqlite_harness.outcomes


@pytest.mark.postgres
def test_random_kills_on_postgres_leave_a_consistent_catalogue(postgres_harness: Harness) -> None:
    _random_kills(postgres_harness, 6)
    assert postgres_harness.kills >= 6


def test_a_stale_journal_entry_of_another_catalogue_waits_for_it(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    """Recovery leaves alone what another catalogue's command left, and what is half
    written (an unreadable entry) goes."""
    pending = Path(os.environ["GOVERN_HOME"]) / outputs.PENDING
    pending.mkdir(parents=True)
    temp = tmp_path / ".x.md.govern-0000.tmp"
    temp.write_text("new")
    other = {
        "format": "govern-pending-output/1", "final": str(tmp_path / "x.md"), "temp": str(temp),
        "backup": None, "sha256": "0" * 64, "force": False, "catalogue_id": "another",
        "seq": 3, "event_hash": "f" * 64, "earlier": None,
    }  # fmt: skip
    (pending / "aaaa.json").write_text(json.dumps(other))
    (pending / "bbbb.json").write_text('{"format": "govern-pen')
    assert invoke_cli("audit", "verify", db=sqlite_cat.url).returncode == 0
    assert sorted(p.name for p in pending.iterdir()) == ["aaaa.json", "lock"]
    assert temp.read_text() == "new"


def test_a_killed_export_leaves_the_whole_file_or_none_and_no_temporary(
    sqlite_harness: Harness,
) -> None:
    """A file nothing records (an export): its move into place is the commit."""
    target = sqlite_harness.root / "log.jsonl"
    args = ["audit", "export", "-o", str(target)]
    for point, placed in (("after-temp", False), ("after-place", True)):
        assert sqlite_harness.run("export", "admin", args, crash_at=f"export.{point}") is None
        assert target.exists() == placed, point
        sqlite_harness.check(f"export.{point}")
        assert [p.name for p in sqlite_harness.root.glob(".log.jsonl.govern-*")] == [], point
    assert target.read_text().count("\n") > 1  # the complete export, not a part of it
