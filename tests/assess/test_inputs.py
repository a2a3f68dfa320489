"""Every bad input is refused with one clear line naming the problem (before any figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govern.assess.data import binary_predictions, load_table
from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES
from govern.errors import DataError, InputError
from tests.conftest import SAMPLE

HOLDOUT = SAMPLE / "credit_holdout.csv"
SCORED = SAMPLE / "credit_holdout_scored.csv"


@pytest.fixture
def settings():
    return Limits(skops_trusted_types=tuple(DEFAULT_SKOPS_TRUSTED_TYPES))


def _spec(**changes):
    base = {
        "data": SCORED,
        "target": "credit",
        "sensitive": ("sex", "age_group"),
        "predictions": "pred",
        "positive": "1",
    }
    base.update(changes)
    return EvaluationSpec(**base)


def _frame(tmp_path: Path, name: str, change) -> Path:
    frame = pd.read_csv(SCORED)
    frame = change(frame)
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _refused(spec, settings, pattern):
    with pytest.raises(InputError) as caught:
        run_evaluation(spec, settings)
    message = str(caught.value)
    assert "\n" not in message
    assert pattern in message, message
    return message


def test_missing_file(settings, tmp_path):
    _refused(_spec(data=tmp_path / "nope.csv"), settings, "no such data file")


def test_directory_instead_of_a_file(settings, tmp_path):
    _refused(_spec(data=tmp_path), settings, "is a directory")


def test_named_pipe_instead_of_a_file(settings, tmp_path):
    import os

    pipe = tmp_path / "holdout.csv"
    os.mkfifo(pipe)  # nothing ever writes to it: reading it would block for ever
    _refused(_spec(data=pipe), settings, "is not a regular file")


def test_empty_file(settings, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _refused(_spec(data=path), settings, "file is empty")


def test_header_only(settings, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("credit,sex,age_group,pred\n")
    _refused(_spec(data=path), settings, "has a header but no rows")


def test_binary_file_named_csv(settings, tmp_path):
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(range(256)) * 10)
    _refused(_spec(data=path), settings, "binary")


def test_not_utf8(settings, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("credit,sex,age_group,pred\n1,f\xe9minin,x,1\n".encode("latin-1"))
    _refused(_spec(data=path), settings, "not UTF-8")


def test_duplicate_column_names(settings, tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("credit,sex,sex,pred\n1,f,m,1\n")
    _refused(_spec(data=path), settings, "appears twice")


def _straddling(boundary: int, *, bom: bool = False, newline: str = "\n") -> bytes:
    """A valid UTF-8 CSV whose "é" (two bytes) straddles byte ``boundary``."""
    head = ("\ufeff" if bom else "") + f"credit,sex,age_group,pred{newline}"
    row = f"1,f,x,1{newline}"
    data = head.encode()
    rows = (boundary - 1 - len(data)) // len(row) - 1
    data += (row * rows).encode()
    pad = boundary - 1 - len(data) - len("1,")
    data += f"1,{'m' * pad}é,x,1{newline}".encode() + (row * 3).encode()
    assert data[boundary - 1 : boundary + 1] == "é".encode()
    return data


@pytest.mark.parametrize("boundary", [8192, 65536, 1 << 20])
@pytest.mark.parametrize(("bom", "newline"), [(False, "\n"), (True, "\r\n")])
def test_a_character_straddling_a_read_boundary_is_read(boundary, bom, newline, tmp_path):
    path = tmp_path / "straddle.csv"
    path.write_bytes(_straddling(boundary, bom=bom, newline=newline))
    table = load_table(path, max_bytes=10_000_000)
    assert table.columns == ["credit", "sex", "age_group", "pred"]
    assert table.frame["sex"].str.endswith("é").sum() == 1
    assert not table.frame["pred"].astype(str).str.contains("\r").any()


def test_a_character_straddling_byte_8192_of_the_header_is_read(tmp_path):
    path = tmp_path / "long-header.csv"
    names = [f"c{i}" for i in range(2000)]
    header = ",".join(names).encode()
    header = header[:8191] + "é".encode() + header[8191:]
    path.write_bytes(header + b"\n" + b",".join([b"1"] * 2000) + b"\n")
    table = load_table(path, max_bytes=10_000_000)
    assert len(table.columns) == 2000 and "é" in "".join(table.columns)


def test_a_duplicate_column_after_the_first_8_kb_of_the_header(settings, tmp_path):
    path = tmp_path / "wide-dupes.csv"
    names = ["credit", "sex", "age_group", "pred"] + [f"padding_{i}" for i in range(1000)]
    names.append("sex")
    assert len(",".join(names)) > 8192
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    _refused(_spec(data=path), settings, "column 'sex' appears twice in the header")


def test_a_duplicate_column_in_parquet(settings, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dupes.parquet"
    arrays = [pa.array([1, 0]), pa.array(["f", "m"]), pa.array(["m", "f"]), pa.array([1, 0])]
    pq.write_table(pa.table(arrays, names=["credit", "sex", "sex", "pred"]), path)
    _refused(_spec(data=path), settings, "column 'sex' appears twice in the schema")


def test_not_utf8_names_the_line_and_byte(settings, tmp_path):
    # README: CSV is read as UTF-8; Latin-1 is refused with where it stops being UTF-8.
    path = tmp_path / "latin1-late.csv"
    rows = "1,f,x,1\n" * 20_000 + "1,f\xe9minin,x,1\n"
    path.write_bytes(("credit,sex,age_group,pred\n" + rows).encode("latin-1"))
    offset = len(("credit,sex,age_group,pred\n" + "1,f,x,1\n" * 20_000 + "1,f").encode())
    _refused(
        _spec(data=path),
        settings,
        f"latin1-late.csv:20002: is not UTF-8 text (byte 0xe9 at offset {offset:,})",
    )


@pytest.mark.parametrize(
    ("codec", "bom"), [("utf-16-le", True), ("utf-16-be", True), ("utf-16-le", False)]
)
def test_utf16_is_refused_as_utf16(codec, bom, settings, tmp_path):
    path = tmp_path / "utf16.csv"
    text = "credit,sex,age_group,pred\n1,f,x,1\n"
    path.write_bytes((("\ufeff" if bom else "") + text).encode(codec))
    _refused(_spec(data=path), settings, "is UTF-16 text; govern reads CSV files as UTF-8")


def test_bom_and_crlf_read_as_plain_utf8(settings, tmp_path):
    plain = pd.read_csv(SCORED)
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + SCORED.read_bytes().replace(b"\n", b"\r\n"))
    table = load_table(path, max_bytes=10_000_000)
    assert table.columns == list(plain.columns)
    pd.testing.assert_frame_equal(table.frame, plain)


def test_ragged_csv(settings, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('credit,sex,age_group,pred\n1,f,x,1\n1,"unterminated,x,1\n')
    _refused(_spec(data=path), settings, "not valid CSV")


def test_oversized_file(tmp_path):
    settings = Limits(max_data_bytes=100)
    _refused(_spec(), settings, "more than the limit")


def test_corrupt_parquet(settings, tmp_path):
    good = _frame(tmp_path, "good.parquet", lambda f: f)
    broken = tmp_path / "broken.parquet"
    data = good.read_bytes()
    broken.write_bytes(data[: len(data) // 2] + b"\x00" * 64 + data[-8:])
    _refused(_spec(data=broken), settings, "not a valid Parquet file")


def test_parquet_gives_the_same_figures_as_csv(settings, tmp_path):
    parquet = _frame(tmp_path, "scored.parquet", lambda f: f)
    from_csv = run_evaluation(_spec(), settings).results
    from_parquet = run_evaluation(_spec(data=parquet), settings).results
    assert [g.to_json() for g in from_csv.fairness] == [g.to_json() for g in from_parquet.fairness]
    assert load_table(parquet, max_bytes=10**9).format == "parquet"


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"target": "outcome"}, "no column 'outcome' (given with --target)"),
        ({"sensitive": ("sex", "gender")}, "no column 'gender' (given with --sensitive)"),
        ({"predictions": "decision"}, "no column 'decision' (given with --predictions)"),
        ({"score": "probability"}, "no column 'probability' (given with --score)"),
        ({"id_column": "customer"}, "no column 'customer' (given with --id-column)"),
    ],
)
def test_unknown_columns(settings, changes, pattern):
    _refused(_spec(**changes), settings, pattern)


def test_target_with_missing_values(settings, tmp_path):
    path = _frame(
        tmp_path, "nan.csv", lambda f: f.assign(credit=f["credit"].where(f.index % 7 > 0))
    )
    _refused(_spec(data=path), settings, "target column 'credit' has 43 missing values")


def test_more_than_two_classes(settings):
    _refused(_spec(target="purpose"), settings, "has 10 classes")


def test_positive_label_that_does_not_occur(settings):
    _refused(_spec(positive="good"), settings, "positive label 'good' does not occur")


def test_predictions_of_the_wrong_type(settings):
    message = _refused(_spec(predictions="score"), settings, "are not labels of the target")
    assert "--score" in message


def test_predictions_of_the_wrong_length():
    with pytest.raises(DataError, match="has 299 predictions for 300 rows"):
        binary_predictions(
            np.ones(299), rows=300, labels=["1", "2"], positive="1", source="model output"
        )


def test_missing_predictions(settings, tmp_path):
    path = _frame(tmp_path, "p.csv", lambda f: f.assign(pred=f["pred"].where(f.index > 0)))
    _refused(_spec(data=path), settings, "1 predictions are missing")


def test_score_that_is_not_numeric(settings):
    _refused(_spec(score="sex"), settings, "values are not numbers")


def test_sensitive_feature_with_100k_distinct_values(settings, tmp_path):
    rng = np.random.default_rng(0)
    n = 100_000
    frame = pd.DataFrame(
        {
            "credit": rng.integers(1, 3, n),
            "pred": rng.integers(1, 3, n),
            "customer": [f"c{i}" for i in range(n)],
        }
    )
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    _refused(_spec(data=path, sensitive=("customer",)), settings, "has more than 1,000 distinct")


def test_duplicate_row_ids(settings, tmp_path):
    path = _frame(tmp_path, "ids.csv", lambda f: f.assign(applicant_id=1))
    _refused(_spec(data=path, id_column="applicant_id"), settings, "duplicate values")


def test_model_and_predictions_together_or_neither(settings, sample_artifacts):
    _refused(_spec(model=sample_artifacts / "credit-risk-1.0.0.skops"), settings, "not both")
    _refused(_spec(predictions=None), settings, "give a model artifact")


def test_no_sensitive_feature(settings):
    _refused(_spec(sensitive=()), settings, "at least one sensitive feature")


def test_model_whose_features_are_not_in_the_data(settings, sample_artifacts, tmp_path):
    path = _frame(tmp_path, "renamed.csv", lambda f: f.rename(columns={"personal_status": "ps"}))
    _refused(
        _spec(data=path, predictions=None, model=sample_artifacts / "credit-risk-1.0.0.skops"),
        settings,
        "the model expects feature personal_status that the data does not have",
    )


def test_model_whose_features_have_the_wrong_type(settings, sample_artifacts, tmp_path):
    path = _frame(tmp_path, "text.csv", lambda f: f.assign(month="many"))
    _refused(
        _spec(data=path, predictions=None, model=sample_artifacts / "credit-risk-1.0.0.skops"),
        settings,
        "the model could not score the data",
    )
