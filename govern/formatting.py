"""How govern writes a figure for people: one module, used by the CLI, the TUI, the exports,
the policy messages and the signed PDF, so a number reads the same wherever it is shown.

Conventions:

* an absent or undefined figure (``None``, NaN, infinity, not a number) is an en dash ``–``;
* rates and ratios have three decimals (``0.048``); intervals two (``[0.61, 0.74]``);
* p-values below 0.001 read ``<0.001``;
* counts have thousands separators (``1,234``), with the noun in the right number;
* a group is named by its features: ``sex=female``, and an intersection
  ``sex=female ∧ age_band=under_25`` (the stored label joins values with ``, ``, which reads
  as a list of several groups).

Stdlib only: the CLI imports it at start-up.
"""

from __future__ import annotations

import datetime as dt
import math
from numbers import Integral, Real
from typing import Any

#: What an absent or undefined figure reads as.
MISSING = "–"
#: How the features of an intersection and its values are joined when shown.
AND = " ∧ "
#: How a stored intersection label joins its values (``govern.assess.fairness``).
STORED_SEPARATOR = ", "


def _finite(value: Any) -> float | None:
    """A finite float; None for anything else (bools, text, NaN, infinities, huge ints).

    ``numbers.Real`` also admits numpy's scalars, which the assessment layer may hand over.
    """
    if isinstance(value, bool) or not isinstance(value, Real) or type(value).__name__ == "bool_":
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    """An integer (Python's or numpy's), never a bool."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or type(value).__name__ == "bool_"
    ):
        return None
    return int(value)


def _unsigned_zero(text: str) -> str:
    """``-0.000`` (a tiny negative rounded away) reads ``0.000``."""
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text


def number(value: Any, digits: int = 3) -> str:
    """``0.048``; an integer as a count (``1,234``); ``–`` when absent or not finite."""
    whole = _integer(value)
    if whole is not None:
        return f"{whole:,}"
    found = _finite(value)
    if found is None:
        return MISSING
    return _unsigned_zero(f"{found:,.{digits}f}")


def compact(value: Any) -> str:
    """A figure inside a sentence: at most three decimals, trailing zeros dropped (``0.8``)."""
    whole = _integer(value)
    if whole is not None:
        return f"{whole:,}"
    found = _finite(value)
    if found is None:
        return MISSING
    if abs(found) >= 1000:
        return _unsigned_zero(f"{found:,.0f}")
    text = f"{found:.3f}".rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def signed(value: Any, digits: int = 3) -> str:
    """A difference: ``+0.012``, ``-0.030``."""
    found = _finite(value)
    if found is None:
        return MISSING
    if round(found, digits) == 0:
        found = 0.0
    return f"{found:+,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.125`` reads ``12.5%``."""
    found = _finite(value)
    return MISSING if found is None else _unsigned_zero(f"{found * 100:,.{digits}f}") + "%"


def p_value(value: Any) -> str:
    """``0.034``; below 0.001, ``<0.001``; ``–`` for anything that is not a probability."""
    found = _finite(value)
    if found is None or not 0 <= found <= 1:
        return MISSING
    return "<0.001" if found < 0.001 else f"{found:.3f}"


def interval(lower: Any, upper: Any, digits: int = 2) -> str:
    """A confidence interval, ``[0.61, 0.74]``; empty when either end is unknown."""
    low, high = _finite(lower), _finite(upper)
    if low is None or high is None:
        return ""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def count(n: Any, noun: str | None = None, plural: str | None = None) -> str:
    """``1,234``, or with a noun in the right number: ``1 group``, ``3 groups``."""
    whole = _integer(n)
    if whole is None:
        found = _finite(n)
        if found is None or not found.is_integer():
            return MISSING if noun is None else f"{MISSING} {plural or noun + 's'}"
        whole = int(found)
    n = whole
    if noun is None:
        return f"{n:,}"
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def grouping(name: str) -> str:
    """A grouping's name: ``sex``, or an intersection ``sex ∧ age_band`` (``sex*age_band``)."""
    return AND.join(name.split("*"))


def group(grouping_name: str, label: Any) -> str:
    """A group named by its features: ``sex=female``, ``sex=female ∧ age_band=under_25``.

    ``label`` is the stored group label; an intersection's joins one value per feature with
    ``, ``. Should a value itself hold that separator (so the parts do not match the features),
    the label is shown whole beside the grouping.
    """
    features = grouping_name.split("*")
    text = str(label)
    if len(features) == 1:
        return f"{features[0]}={text}"
    values = text.split(STORED_SEPARATOR)
    if len(values) != len(features):
        return f"{grouping(grouping_name)}=({text})"
    return AND.join(f"{f}={v}" for f, v in zip(features, values, strict=True))


def size(value: Any) -> str:
    """A size in bytes: ``512 bytes``, ``1.2 MiB``."""
    found = _finite(value)
    if found is None:
        return MISSING
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(found) < 1024 or unit == "GiB":
            break
        found /= 1024
    return _unsigned_zero(f"{found:,.0f} bytes" if unit == "bytes" else f"{found:,.1f} {unit}")


def seconds(value: Any) -> str:
    """A duration: ``850 ms``, ``2.4 s``, ``3 min 05 s``."""
    found = _finite(value)
    if found is None or found < 0:
        return MISSING
    found = abs(found)  # -0.0
    if round(found * 1000) < 1000:
        return f"{found * 1000:.0f} ms"
    if round(found, 1) < 60:
        return f"{found:.1f} s"
    minutes, rest = divmod(round(found), 60)
    return f"{minutes} min {rest:02d} s"


def _utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken as UTC already (the catalogue stores UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def day(value: dt.date | dt.datetime | str | None) -> str:
    """A date, ``2026-12-07`` (a moment is taken in UTC)."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, dt.datetime):
        return _utc(value).strftime("%Y-%m-%d")
    return value.isoformat()


def moment(value: dt.datetime | str | None) -> str:
    """A moment to the minute in UTC, ``2026-12-07 21:04 UTC``."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, str):
        return value[:16].replace("T", " ") + " UTC"
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC")


def short_hash(value: Any, length: int = 12) -> str:
    """The start of a hash, enough to tell two apart: ``sha256:3f9a1c2d04b7…``."""
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[:length] + "…"


def when(value: dt.datetime | dt.date | str | None) -> str:
    """A moment (:func:`moment`) or, for a date alone, the day (:func:`day`)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return day(value)
    return moment(value)


__all__ = [
    "AND",
    "MISSING",
    "compact",
    "count",
    "day",
    "group",
    "grouping",
    "interval",
    "moment",
    "number",
    "p_value",
    "percent",
    "seconds",
    "short_hash",
    "signed",
    "size",
    "when",
]
