"""govern.formatting: one way to write a figure, checked on the values that break formatters."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govern import formatting as fmt
from govern.formatting import MISSING

NOT_FIGURES = [None, math.nan, math.inf, -math.inf, True, False, "0.5", "", [], {}, object()]


def _name(value: object) -> str:
    """A test id that is the same in every xdist worker (an object's repr holds its address)."""
    return type(value).__name__ if type(value) is object else repr(value)


ALL = [fmt.number, fmt.compact, fmt.signed, fmt.percent, fmt.p_value, fmt.size, fmt.seconds]


@pytest.mark.parametrize("value", NOT_FIGURES, ids=_name)
@pytest.mark.parametrize("formatter", ALL, ids=lambda f: f.__name__)
def test_what_is_not_a_figure_reads_as_an_en_dash(formatter, value):
    assert formatter(value) == MISSING == "–"


@pytest.mark.parametrize("value", NOT_FIGURES, ids=_name)
def test_counts_of_nothing_read_as_an_en_dash_with_the_plural(value):
    assert fmt.count(value) == "–"
    assert fmt.count(value, "group") == "– groups"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.048, "0.048"),
        (0.0484999, "0.048"),
        (0.04851, "0.049"),
        (1, "1"),
        (1234, "1,234"),
        (-1234, "-1,234"),
        (1234.5, "1,234.500"),
        (-0.0, "0.000"),
        (-0.0004, "0.000"),  # rounds to zero: no "-0.000"
        (-0.0005001, "-0.001"),
        (np.int64(300), "300"),
        (np.float32(0.5), "0.500"),
        (np.float64("nan"), MISSING),
        (np.bool_(True), MISSING),
    ],
)
def test_number(value, expected):
    assert fmt.number(value) == expected


def test_number_digits_and_huge_integers():
    assert fmt.number(0.123456, 4) == "0.1235"
    assert fmt.number(2.0, 0) == "2"
    huge = 10**400  # too big for a float, but exact as an integer
    assert fmt.number(huge) == f"{huge:,}"
    assert fmt.compact(huge) == f"{huge:,}"
    assert fmt.count(huge, "row") == f"{huge:,} rows"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.8, "0.8"),
        (0.80000001, "0.8"),
        (0.1234, "0.123"),
        (-0.0001, "0"),
        (-0.0, "0"),
        (2, "2"),
        (1500.4, "1,500"),
        (1e20, "100,000,000,000,000,000,000"),
    ],
)
def test_compact(value, expected):
    assert fmt.compact(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.012, "+0.012"),
        (-0.03, "-0.030"),
        (0.0, "+0.000"),
        (-0.0001, "+0.000"),
        (-1234.5, "-1,234.500"),
    ],
)
def test_signed(value, expected):
    assert fmt.signed(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.125, "12.5%"),
        (1, "100.0%"),
        (0, "0.0%"),
        (-0.0, "0.0%"),
        (-0.0001, "0.0%"),
        (12.5, "1,250.0%"),
    ],
)
def test_percent(value, expected):
    assert fmt.percent(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.034, "0.034"),
        (0.001, "0.001"),
        (0.000999, "<0.001"),
        (0.0, "<0.001"),
        (1e-300, "<0.001"),
        (1, "1.000"),
        (-0.01, MISSING),  # not a probability
        (1.5, MISSING),
    ],
)
def test_p_value(value, expected):
    assert fmt.p_value(value) == expected
    assert " " not in fmt.p_value(value)  # "<0.001", never "< 0.001"


def test_interval():
    assert fmt.interval(0.612, 0.744) == "[0.61, 0.74]"
    assert fmt.interval(0.6, 0.7, digits=3) == "[0.600, 0.700]"
    assert fmt.interval(None, 0.7) == ""
    assert fmt.interval(0.1, math.nan) == ""
    assert fmt.interval(True, 0.5) == ""


def test_count_with_nouns():
    assert fmt.count(0, "group") == "0 groups"
    assert fmt.count(1, "group") == "1 group"
    assert fmt.count(2, "group") == "2 groups"
    assert fmt.count(2.0, "group") == "2 groups"  # a whole float counts
    assert fmt.count(1.5, "group") == "– groups"  # a fraction does not
    assert fmt.count(3, "analysis", "analyses") == "3 analyses"
    assert fmt.count(1, "analysis", "analyses") == "1 analysis"
    assert fmt.count(12345) == "12,345"
    assert fmt.count(np.int64(2), "row") == "2 rows"


def test_groups_are_named_by_their_features():
    assert fmt.group("sex", "female") == "sex=female"
    assert fmt.group("sex*age_band", "female, under_25") == "sex=female ∧ age_band=under_25"
    assert fmt.grouping("sex*age_band") == "sex ∧ age_band"
    assert fmt.grouping("sex") == "sex"
    # A single feature's value may hold ", ": it is one value.
    assert fmt.group("city", "Washington, D.C.") == "city=Washington, D.C."
    # An intersection whose value holds ", " cannot be split feature by feature: shown whole.
    label = "Washington, D.C., female"
    assert fmt.group("city*sex", label) == "city ∧ sex=(Washington, D.C., female)"
    assert fmt.group("sex", 1) == "sex=1"
    assert fmt.group("sex", None) == "sex=None"


@given(st.lists(st.text(alphabet="abc_=", min_size=1), min_size=2, max_size=4))
def test_an_intersection_label_is_never_read_as_several_groups(values):
    features = [f"f{i}" for i in range(len(values))]
    shown = fmt.group("*".join(features), ", ".join(values))
    assert ", " not in shown
    assert shown == " ∧ ".join(f"{f}={v}" for f, v in zip(features, values, strict=True))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0 bytes"),
        (512, "512 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**4, "3,072.0 GiB"),
        (-0.0, "0 bytes"),
    ],
)
def test_size(value, expected):
    assert fmt.size(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.85, "850 ms"),
        (0.9996, "1.0 s"),  # no "1000 ms"
        (2.44, "2.4 s"),
        (59.99, "1 min 00 s"),  # no "60.0 s"
        (185, "3 min 05 s"),
        (-1, MISSING),
    ],
)
def test_seconds(value, expected):
    assert fmt.seconds(value) == expected


def test_days_and_moments_are_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=plus_two)
    assert fmt.moment(late) == "2026-12-07 21:30 UTC"
    assert fmt.day(dt.datetime(2026, 12, 8, 1, 0, tzinfo=plus_two)) == "2026-12-07"
    assert fmt.day(dt.date(2026, 12, 7)) == "2026-12-07"
    assert fmt.day("2026-12-07T21:04:00+00:00") == "2026-12-07"
    assert fmt.moment("2026-12-07T21:04:33") == "2026-12-07 21:04 UTC"
    assert fmt.when(dt.date(2026, 12, 7)) == "2026-12-07"
    assert fmt.when(late) == "2026-12-07 21:30 UTC"
    naive = dt.datetime(2026, 12, 7, 23, 59)  # the catalogue's (SQLite's) naive UTC times
    assert fmt.moment(naive) == "2026-12-07 23:59 UTC"
    assert fmt.day(naive) == "2026-12-07"
    for absent in (None, ""):
        assert fmt.day(absent) == fmt.moment(absent) == fmt.when(absent) == MISSING


def test_short_hash():
    digest = "3f9a1c2d04b7" + "0" * 52
    assert fmt.short_hash(digest) == "3f9a1c2d04b7…"
    assert fmt.short_hash(digest, 16) == digest[:16] + "…"
    assert fmt.short_hash("abc") == "abc"
    assert fmt.short_hash(None) == ""


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.none())
def test_every_formatter_answers_every_number_with_text(value):
    for formatter in ALL:
        text = formatter(value)
        assert isinstance(text, str) and text
        if text.startswith("-"):  # never a negative zero such as "-0.000" or "-0"
            assert any(c in "123456789" for c in text)
