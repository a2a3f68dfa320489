"""``govern monitor run|show`` as a CI job or a cron entry runs them: real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from tests.builders import register
from tests.conftest import Catalogue, run_cli
from tests.helpers import assert_clean_failure, snapshot
from tests.monitor.test_aggregate import rows, write

OPTIONS = ("--sensitive", "sex,age_group", "--score", "score", "--outcome", "outcome")


def test_run_then_show_from_the_command_line(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    ref = register(sqlite_cat)
    frame = rows(900, days=9)
    for index, part in enumerate((frame.iloc[:450], frame.iloc[450:])):
        write(part, tmp_path / f"day-{index}.parquet")
    logs = str(tmp_path / "day-*.parquet")
    url = sqlite_cat.url
    counted = run_cli("monitor", "run", ref, "--logs", logs, *OPTIONS, user="alice", db=url)
    assert counted.returncode == 0, counted.stderr
    assert f"{ref}: counted 2 files (900 rows) into days 2026-03-01 to 2026-03-09" in counted.stdout
    assert "LOWEST IMPACT RATIO" in counted.stdout

    again = run_cli("monitor", "run", ref, "--logs", logs, *OPTIONS, "--json", user="bob", db=url)
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["counted"] == [] and len(document["skipped"]) == 2

    shown = run_cli("monitor", "show", ref, "--window", "1w", "--json", user="victor", db=url)
    assert shown.returncode == 0, shown.stderr
    weeks = json.loads(shown.stdout)["windows"]
    assert sum(w["rows"] for w in weeks) == 900
    assert {g["name"] for g in weeks[0]["groupings"]} == {"sex", "age_group", "sex*age_group"}
    text = run_cli("monitor", "show", ref, "--window", "1mo", db=url)
    assert text.returncode == 0 and "windows of 1mo" in text.stdout


def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    ref = register(sqlite_cat)
    url = sqlite_cat.url
    before = snapshot(url)
    bad = write(rows(20).drop(columns=["outcome"]), tmp_path / "bad.csv")
    cases = [
        (("--logs", str(bad), *OPTIONS), "no column 'outcome' for the outcome"),
        (("--logs", str(tmp_path / "none-*.parquet"), *OPTIONS), "no file matches"),
        (("--logs", str(bad), "--window", "2d"), "--window 2d"),
    ]
    for args, message in cases:
        result = run_cli("monitor", "run", ref, *args, user="alice", db=url)
        (line,) = assert_clean_failure(result)
        assert message in line
    denied = run_cli(
        "monitor", "run", ref, "--logs", str(write(rows(20), tmp_path / "ok.csv")), *OPTIONS,
        user="victor", db=url,
    )  # fmt: skip
    assert_clean_failure(denied)
    assert snapshot(url).versions == before.versions
    empty = run_cli("monitor", "show", ref, db=url)
    assert empty.returncode == 0 and "no prediction logs counted yet" in empty.stdout


def test_status_exits_1_on_a_blocking_failure_in_every_format(
    sqlite_cat: Catalogue, tmp_path: Path
) -> None:
    from tests.services.test_monitoring import regressed, unselected_pack

    ref = register(sqlite_cat)
    pack = ("--policy", unselected_pack(tmp_path))
    url = sqlite_cat.url
    write(regressed(), tmp_path / "log.parquet")
    counted = run_cli(
        "monitor", "run", ref, "--logs", str(tmp_path / "log.parquet"), *OPTIONS,
        user="alice", db=url,
    )  # fmt: skip
    assert counted.returncode == 0, counted.stderr
    text = run_cli("monitor", "status", ref, *pack, user="victor", db=url)
    assert text.returncode == 1, text.stderr
    assert "sex=female: impact ratio outside >= 0.8" in text.stdout
    junit = run_cli("monitor", "status", ref, *pack, "--format", "junit", user="victor", db=url)
    assert junit.returncode == 1 and "<testsuites" in junit.stdout
    document = json.loads(
        run_cli("monitor", "status", ref, *pack, "--format", "json", user="victor", db=url).stdout
    )
    assert document["exit_code"] == 1
    (line,) = assert_clean_failure(run_cli("monitor", "status", db=url))
    assert "give a version" in line
    everything = run_cli("monitor", "status", "--all", db=url)  # nothing deployed: nothing fails
    assert everything.returncode == 0, everything.stderr
