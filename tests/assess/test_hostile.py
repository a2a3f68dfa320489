"""Hostile values and sizes: each is refused with exit 2 and one clean line, quickly, and
the catalogue does not move (issue 21).

A hostile file used to reach an internal error (a 5,000-digit number, ``.nan``), or to cost
the machine and the catalogue what it chose: a 20 MB group label stored as a 140 MB row, a
zip bomb unpacked to 1.5 GB, a million identifiers turned into groups for 21 s before being
refused. The refusals run as real processes on a real SQLite catalogue; the timings run in
process, once the imports are paid.
"""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govern.assess.artifacts import unpack_zip
from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
from govern.errors import DataError
from tests.conftest import DATA, SAMPLE, invoke_cli, run_cli
from tests.helpers import assert_clean_failure, snapshot, sqlite_file

REF = "credit-risk@1.1.0"
SCORED = SAMPLE / "credit_holdout_scored.csv"


def _state(url: str) -> tuple[object, int]:
    """What must not move: versions, the audit log's head, and the file's size."""
    return snapshot(url), Path(sqlite_file(url)).stat().st_size


def _one_line(result) -> str:
    lines = assert_clean_failure(result)
    assert len(lines) == 1, lines
    assert result.stdout == ""
    return lines[0]


def _evaluate(url: str, data: Path, *extra: str, env: dict[str, str] | None = None):
    return run_cli(
        "evaluate",
        REF,
        "--data",
        str(data),
        "--target",
        "credit",
        "--positive",
        "1",
        "--predictions",
        "pred",
        *extra,
        user="alice",
        db=url,
        env=env,
    )


def _with_value(tmp_path: Path, column: str, value: str, row: int = 5) -> Path:
    frame = pd.read_csv(SCORED)
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    path = tmp_path / f"hostile-{column}.csv"
    frame.to_csv(path, index=False)
    return path


# --- documents: settings and policies (cards: tests/domain/test_bad_cards.py) ---------


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        (
            "nan.json",
            '{"schema": "govern-settings/1", "association_threshold": NaN}',
            ":1:58: association_threshold: Input should be a finite number",
        ),
        (
            "inf.yaml",
            "schema: govern-settings/1\npromotion_max_regression:\n  accuracy: .inf\n",
            ":3:13: numbers must be finite",
        ),
        (
            "huge.json",
            '{"schema": "govern-settings/1", "max_groups": ' + "9" * 5000 + "}",
            ":1:47: number is too large",
        ),
    ],
)
def test_hostile_number_in_governance_settings(name, text, fragment, catalogue_url, tmp_path):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    before = _state(catalogue_url)
    line = _one_line(run_cli("settings", "apply", str(path), user="admin", db=catalogue_url))
    assert line.startswith(f"error: {path}{fragment}"), line
    assert _state(catalogue_url) == before


def test_policy_with_a_100000_digit_number(catalogue_url, tmp_path):
    path = tmp_path / "huge.yaml"
    valid = (Path(__file__).parent.parent / "policy" / "fixtures" / "valid.yaml").read_text()
    path.write_text(valid.replace("max_age_days: 90", "max_age_days: " + "9" * 100_000))
    before = _state(catalogue_url)
    line = _one_line(run_cli("check", REF, "--policy", str(path), user="alice", db=catalogue_url))
    assert line.startswith(f"error: {path}:23:19: number is too large"), line
    assert _state(catalogue_url) == before


def test_card_with_a_5000_digit_integer_as_a_real_process(catalogue_url):
    card = DATA / "cards" / "huge-integer.card.yaml"
    before = _state(catalogue_url)
    line = _one_line(run_cli("register", str(card), user="alice", db=catalogue_url))
    limit = "at most 9,223,372,036,854,775,807 in magnitude"
    assert line == f"error: {card}:9:23: number is too large ({limit})"
    assert _state(catalogue_url) == before


# --- data columns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "extra", "fragment"),
    [
        ("credit", "nan", (), "target column 'credit' has 1 missing value (the first in row 6)"),
        ("credit", "9" * 5000, (), "the rarest, 99999"),
        ("pred", "inf", (), "row 6 has inf"),
        (
            "score",
            "1e400",
            ("--score", "score"),
            "infinite or too large values (the first in row 6)",
        ),
        ("score", "9" * 5000, ("--score", "score"), "(the first in row 6)"),
        ("score", "-inf", ("--score", "score"), "(the first in row 6)"),
    ],
)
def test_hostile_value_in_a_data_column(column, value, extra, fragment, catalogue_url, tmp_path):
    data = _with_value(tmp_path, column, value)
    before = _state(catalogue_url)
    line = _one_line(_evaluate(catalogue_url, data, "--sensitive", "sex", *extra))
    assert f"{data.name}: " in line and fragment in line, line
    assert len(line) < 400, line  # a 5,000-digit value is shortened, not echoed
    assert _state(catalogue_url) == before


@pytest.mark.parametrize("value", ["9" * 5000, "inf", "1e400"])
def test_hostile_number_in_a_model_feature(value, catalogue_url, tmp_path):
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    frame["credit_amount"] = frame["credit_amount"].astype(object)
    frame.loc[5, "credit_amount"] = value
    data = tmp_path / "hostile-feature.csv"
    frame.to_csv(data, index=False)
    before = _state(catalogue_url)
    result = run_cli(
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
        user="alice",
        db=catalogue_url,
    )
    line = _one_line(result)
    assert "the model could not score the data: column 'credit_amount', row 6 holds" in line
    assert len(line) < 400, line
    assert _state(catalogue_url) == before


def test_a_row_id_longer_than_the_catalogue_stores(catalogue_url, tmp_path):
    data = _with_value(tmp_path, "applicant_id", "a" * 5000)
    before = _state(catalogue_url)
    line = _one_line(
        _evaluate(catalogue_url, data, "--sensitive", "sex", "--id-column", "applicant_id")
    )
    assert (
        "id column 'applicant_id', row 6: an id of 5,000 characters is longer than the 200 "
        "the catalogue stores"
    ) in line
    assert _state(catalogue_url) == before


# --- group labels and the number of groups ------------------------------------------------


def _label_file(tmp_path: Path, label_chars: int) -> Path:
    path = tmp_path / "long-label.csv"
    frame = pd.read_csv(SCORED, usecols=["credit", "pred", "sex"])
    frame[["credit", "pred", "sex"]].to_csv(path, index=False)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("1,1," + "x" * label_chars + "\n")
    return path


def test_a_20_mb_group_label_is_refused_and_the_catalogue_barely_moves(catalogue_url, tmp_path):
    data = _label_file(tmp_path, 20_000_000)
    before = _state(catalogue_url)
    line = _one_line(_evaluate(catalogue_url, data, "--sensitive", "sex"))
    assert (
        f"{data.name}: sensitive feature 'sex', row 301: a group label of 20,000,000 "
        "characters is longer than the limit of 200 (governance setting max_group_label_chars)"
    ) in line
    assert _state(catalogue_url) == before


def _apply(url: str, tmp_path: Path, **settings: int) -> None:
    org = tmp_path / "org.yaml"
    lines = ["schema: govern-settings/1", *(f"{key}: {value}" for key, value in settings.items())]
    org.write_text("\n".join(lines) + "\n", encoding="utf-8")
    applied = invoke_cli("settings", "apply", str(org), user="admin", db=url)
    assert applied.returncode == 0, applied.stderr


def test_the_group_label_limit_is_the_catalogues_not_a_users(catalogue_url, tmp_path):
    data = _label_file(tmp_path, 300)
    mine = {"GOVERN_MAX_GROUP_LABEL_CHARS": "1000"}  # a user cannot raise it for themselves
    assert "governance setting" in _one_line(
        _evaluate(catalogue_url, data, "--sensitive", "sex", env=mine)
    )
    refused = _one_line(_evaluate(catalogue_url, data, "--sensitive", "sex"))
    assert "a group label of 300 characters is longer than the limit of 200" in refused
    _apply(catalogue_url, tmp_path, max_group_label_chars=1000)
    accepted = _evaluate(catalogue_url, data, "--sensitive", "sex")
    assert accepted.returncode == 0, accepted.stderr


def test_a_20_mb_group_label_is_refused_within_2_seconds(tmp_path):
    data = _label_file(tmp_path, 20_000_000)
    spec = EvaluationSpec(data=data, target="credit", sensitive=("sex",), predictions="pred")
    started = time.perf_counter()
    with pytest.raises(DataError, match="a group label of 20,000,000 characters"):
        run_evaluation(spec, Limits())
    assert time.perf_counter() - started < 2.0


def test_a_million_distinct_groups_are_refused_within_2_seconds(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(0)
    data = tmp_path / "million.csv"
    pd.DataFrame(
        {
            "credit": rng.integers(0, 2, n),
            "pred": rng.integers(0, 2, n),
            "customer": [f"c{i}" for i in range(n)],
        }
    ).to_csv(data, index=False)
    spec = EvaluationSpec(data=data, target="credit", sensitive=("customer",), predictions="pred")
    started = time.perf_counter()
    with pytest.raises(DataError, match="more than 1,000 distinct values in its first 4,000"):
        run_evaluation(spec, Limits())
    assert time.perf_counter() - started < 2.0


def test_too_many_groups_names_the_governance_setting(tmp_path):
    data = tmp_path / "groups.csv"
    frame = pd.read_csv(SCORED, usecols=["credit", "pred"])
    frame["branch"] = [f"b{i % 60}" for i in range(len(frame))]
    frame.to_csv(data, index=False)
    spec = EvaluationSpec(data=data, target="credit", sensitive=("branch",), predictions="pred")
    with pytest.raises(DataError, match="raise the governance setting max_groups"):
        run_evaluation(spec, Limits(max_groups=50))


# --- zip bombs ----------------------------------------------------------------------------


def _skops_like(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", '{"__class__": "dict", "__module__": "builtins"}')
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _register_bomb(url: str, artifact: Path) -> None:
    result = invoke_cli(
        "register",
        str(DATA / "cards" / "minimal.card.yaml"),
        "--artifact",
        str(artifact),
        user="alice",
        db=url,
    )
    assert result.returncode == 0, result.stderr


def _evaluate_tiny(url: str, env: dict[str, str] | None = None):
    return run_cli(
        "evaluate",
        "tiny@1.0.0",
        "--data",
        str(SCORED),
        "--target",
        "credit",
        "--positive",
        "1",
        "--sensitive",
        "sex",
        user="alice",
        db=url,
        env=env,
    )


def test_a_zip_bomb_is_refused_from_its_directory_before_unpacking(catalogue_url, tmp_path):
    bomb = _skops_like(tmp_path / "bomb.skops", {"big.npy": bytes(50_000_000)})
    assert bomb.stat().st_size < 100_000
    _register_bomb(catalogue_url, bomb)
    before = _state(catalogue_url)
    started = time.perf_counter()
    line = _one_line(_evaluate_tiny(catalogue_url))
    assert "member 'big.npy' would unpack to" in line, line
    assert "over the limit of 200 (GOVERN_MAX_COMPRESSION_RATIO)" in line, line
    assert time.perf_counter() - started < 30  # a real process; unpacking was never started
    assert _state(catalogue_url) == before


def test_an_archive_over_the_unpacked_size_limit_is_refused(catalogue_url, tmp_path):
    noise = np.random.default_rng(0).bytes(3_000_000)  # incompressible: ratio about 1
    big = _skops_like(tmp_path / "big.skops", {"weights.npy": noise})
    _register_bomb(catalogue_url, big)
    before = _state(catalogue_url)
    env = {"GOVERN_MAX_UNPACKED_BYTES": "2000000"}
    line = _one_line(_evaluate_tiny(catalogue_url, env=env))
    assert "would unpack to 3,000,0" in line and "(GOVERN_MAX_UNPACKED_BYTES)" in line, line
    assert _state(catalogue_url) == before


def _lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the central directory so ``member`` claims ``declared`` bytes unpacked."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.find(b"PK\x01\x02" + bytes(0))
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + length]) == name:
            struct.pack_into("<I", data, at + 24, declared)
            break
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_a_lying_directory_cannot_unpack_more_than_the_limit(tmp_path):
    path = _skops_like(tmp_path / "liar.skops", {"big.npy": bytes(5_000_000)})
    _lie_about_size(path, "big.npy", 1_000)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("big.npy").file_size == 1_000  # the directory lies
    with pytest.raises(DataError) as caught:
        unpack_zip(path, max_bytes=100_000, max_ratio=200)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_checked_archive_holds_exactly_what_was_counted(tmp_path):
    path = _skops_like(tmp_path / "fine.skops", {"a.npy": b"abc" * 1000})
    copy = unpack_zip(path, max_bytes=10_000, max_ratio=200)
    with zipfile.ZipFile(copy) as checked:
        assert checked.read("a.npy") == b"abc" * 1000
        assert sorted(checked.namelist()) == ["a.npy", "schema.json"]
    with pytest.raises(DataError, match="GOVERN_MAX_UNPACKED_BYTES"):
        unpack_zip(path, max_bytes=2_000, max_ratio=200)


# --- the evaluation document --------------------------------------------------------------


def test_an_evaluation_larger_than_the_limit_is_not_stored(catalogue_url, tmp_path):
    _apply(catalogue_url, tmp_path, max_evaluation_bytes=5000)
    before = _state(catalogue_url)
    line = _one_line(_evaluate(catalogue_url, SCORED, "--sensitive", "sex,age_group"))
    assert (
        f"error: {REF}: the evaluation's results take more than 5,000 bytes "
        "(governance setting max_evaluation_bytes), so nothing was stored"
    ) in line, line
    assert _state(catalogue_url) == before
    _apply(catalogue_url, tmp_path, max_evaluation_bytes=20_000_000)
    stored = _evaluate(catalogue_url, SCORED, "--sensitive", "sex,age_group")
    assert stored.returncode == 0, stored.stderr


def test_a_drift_run_larger_than_the_limit_is_not_stored(catalogue_url, tmp_path):
    _apply(catalogue_url, tmp_path, max_evaluation_bytes=2000)
    before = _state(catalogue_url)
    result = run_cli(
        "drift",
        REF,
        "--reference",
        str(SAMPLE / "credit_holdout.csv"),
        "--current",
        str(SCORED),
        "--score",
        "credit_amount",
        user="alice",
        db=catalogue_url,
    )
    line = _one_line(result)
    assert f"error: {REF}: the drift run's results take more than 2,000 bytes" in line, line
    assert _state(catalogue_url) == before
