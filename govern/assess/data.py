"""Reading data sets (CSV, Parquet) and turning columns into labels and groups, with checks.

Every problem with a user's file becomes a one-line :class:`~govern.errors.DataError` naming
the file and the column; nothing here ever raises a pandas or pyarrow exception at a user.
Labels are compared as text ("1" matches the integer 1 and the float 1.0), so a positive
label given on the command line means the same thing whatever dtype the file was read with.
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.assess.artifacts import sha256_file
from govern.assess.results import MISSING_GROUP
from govern.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 8192  # enough to tell Parquet, CSV and binary apart
_CHUNK = 1 << 20
_MAX_LISTED = 8
#: A sensitive feature with more distinct values than this *and* than half the rows is
#: taken for an identifier (every group would have one or two rows).
IDENTIFIER_GROUPS = 50


@dataclass(frozen=True)
class Table:
    """A data set read from a file, with what an evaluation records about it."""

    path: Path
    frame: pd.DataFrame
    sha256: str
    format: str  # csv | parquet

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def column(self, name: str, *, option: str) -> pd.Series:
        """The column ``name``, or a DataError naming the option that asked for it."""
        if name not in self.frame.columns:
            raise DataError(
                f"{self.name}: no column {name!r} (given with {option}); "
                f"columns are {_listing(self.columns)}"
            )
        return self.frame[name]


def load_table(path: Path, *, max_bytes: int) -> Table:
    """Read a CSV or Parquet file, refusing missing, empty, binary, huge or corrupt ones."""
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV or Parquet file")
    if not path.is_file():  # reading a pipe or a device would block or never end
        raise DataError(f"{path}: is not a regular file, expected a CSV or Parquet file")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if size == 0:
        raise DataError(f"{path}: file is empty")
    if size > max_bytes:
        raise DataError(
            f"{path}: {size:,} bytes is more than the limit of {max_bytes:,} "
            "(GOVERN_MAX_DATA_BYTES)"
        )
    suffix = path.suffix.lower()
    if head.startswith(_PARQUET_MAGIC) or suffix in {".parquet", ".pq"}:
        frame, kind = _read_parquet(path), "parquet"
    elif suffix in {".csv", ".txt", ".tsv", ""} or b"," in head:
        frame, kind = _read_csv(path, head, tab=suffix == ".tsv"), "csv"
    else:
        raise DataError(f"{path}: not a CSV or Parquet file")
    if len(frame.columns) == 0:
        raise DataError(f"{path}: has no columns")
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no rows")
    sha256, _ = sha256_file(path)
    return Table(path=path, frame=frame, sha256=sha256, format=kind)


def _read_csv(path: Path, head: bytes, *, tab: bool) -> pd.DataFrame:
    import pandas as pd

    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(head):
        raise DataError(
            f"{path}: is UTF-16 text; govern reads CSV files as UTF-8 (with or without a "
            "byte-order mark): save it as UTF-8"
        )
    if b"\x00" in head:
        raise DataError(f"{path}: looks like a binary file, not CSV text")
    delimiter = "\t" if tab else ","
    seen: set[str] = set()
    for name in _csv_header(path, delimiter):
        if name in seen:
            raise DataError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    try:
        return pd.read_csv(
            path, sep=delimiter, encoding="utf-8", encoding_errors="strict", low_memory=False
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file has no data") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not valid CSV: {_first_line(exc)}") from None
    except UnicodeDecodeError:
        raise DataError(_not_utf8(path)) from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {_first_line(exc)}") from None


def _utf16_without_bom(head: bytes) -> bool:
    """UTF-16 text of mostly ASCII characters: a NUL in every other byte, and only there."""
    pairs = len(head) // 2
    if pairs < 2:
        return False
    odd, even = head[1 : 2 * pairs : 2].count(0), head[0 : 2 * pairs : 2].count(0)
    return (odd == pairs and even == 0) or (even == pairs and odd == 0)


def _csv_header(path: Path, delimiter: str) -> list[str]:
    """The whole header row, however long, decoded as a stream (no boundary to straddle)."""
    try:
        with path.open(encoding="utf-8-sig", errors="strict", newline="") as handle:
            return next(csv.reader(handle, delimiter=delimiter), [])
    except UnicodeDecodeError:
        raise DataError(_not_utf8(path)) from None
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV: header: {_first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None


def _not_utf8(path: Path) -> str:
    """Where a file stops being UTF-8: its line and byte offset, found by decoding it as a
    stream (only called once a reader has failed, so valid files are not read twice)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset, line = 0, 1
    try:
        with path.open("rb") as handle:
            while True:
                chunk = handle.read(_CHUNK)
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    # exc.object is the decoder's pending bytes followed by this chunk.
                    start = offset - (len(exc.object) - len(chunk)) + exc.start
                    line += exc.object[: exc.start].count(b"\n")
                    return (
                        f"{path}:{line}: is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                        f"at offset {start:,}); govern reads CSV files as UTF-8: save it as UTF-8"
                    )
                if not chunk:
                    break
                offset += len(chunk)
                line += chunk.count(b"\n")
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror}"
    return f"{path}: is not UTF-8 text; govern reads CSV files as UTF-8: save it as UTF-8"


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # The schema first: pyarrow itself stumbles over a duplicate name with a vaguer error.
        names = pq.read_schema(path).names
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DataError(f"{path}: column {name!r} appears twice in the schema")
            seen.add(name)
        return pd.DataFrame(pq.read_table(path).to_pandas())
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a valid Parquet file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(_short(item) for item in items[:_MAX_LISTED])
    return shown + (f" ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


def _short(text: str, limit: int = 40) -> str:
    """A value as a message shows it: a hostile 5,000-digit label must not fill the screen."""
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"


def _first_row(mask: Any) -> int:
    """The 1-based data row (the header is not a row) of the first True in ``mask``."""
    import numpy as np

    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


# --- labels ------------------------------------------------------------------------------


def label_text(value: Any) -> str:
    """How a label is shown and matched: integers and integral floats without ".0"."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return repr(number)
    return str(value)


def _sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def encode_labels(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes (0..k-1, -1 for missing) and the sorted label texts, in one factorize pass."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [label_text(u) for u in uniques]
    labels = sorted(set(texts), key=_sort_key)
    position = {label: index for index, label in enumerate(labels)}
    # Two raw values with the same text (1 and "1") are one label.
    remap = np.array([position[t] for t in texts] + [-1], dtype=np.int64)
    return remap[np.asarray(codes, dtype=np.int64)], labels


@dataclass(frozen=True)
class BinaryTarget:
    """A binary outcome: ``y`` is True where the row has the positive (favourable) label."""

    y: np.ndarray
    positive: str
    labels: list[str]


def binary_target(series: pd.Series, *, positive: str | None, where: str) -> BinaryTarget:
    """Check the target column is binary and locate the positive label in it."""
    codes, labels = encode_labels(series)
    column = str(series.name)
    missing = int((codes < 0).sum())
    if missing:
        raise DataError(
            f"{where}: target column {column!r} has {missing} missing value"
            f"{'s' * (missing > 1)} (the first in row {_first_row(codes < 0):,}); drop or fill "
            "those rows first"
        )
    if len(labels) > 2:
        import numpy as np

        rarest = int(np.argmin(np.bincount(codes, minlength=len(labels))))
        raise DataError(
            f"{where}: target column {column!r} has {len(labels)} classes "
            f"({_listing(labels)}; the rarest, {_short(labels[rarest])}, first in row "
            f"{_first_row(codes == rarest):,}); binary metrics need exactly two (use --task "
            "regression for a numeric outcome)"
        )
    if positive is None:
        positive = _default_positive(labels, column, where)
    if positive not in labels:
        raise DataError(
            f"{where}: positive label {positive!r} does not occur in target column {column!r} "
            f"(its labels are {_listing(labels)})"
        )
    y = codes == labels.index(positive)
    return BinaryTarget(y=y, positive=positive, labels=labels)


def _default_positive(labels: list[str], column: str, where: str) -> str:
    for candidate in ("1", "True", "true", "yes"):
        if candidate in labels and len(labels) == 2:
            return candidate
    raise DataError(
        f"{where}: say which label of {column!r} is the favourable outcome with --positive "
        f"(its labels are {_listing(labels)})"
    )


def binary_predictions(
    values: Iterable[Any] | pd.Series,
    *,
    rows: int,
    labels: Sequence[str],
    positive: str,
    source: str,
) -> np.ndarray:
    """Predicted labels as a boolean array (True = positive), checked against the target."""
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values))
    if len(series) != rows:
        raise DataError(f"{source}: has {len(series)} predictions for {rows} rows")
    codes, predicted = encode_labels(series)
    missing = int((codes < 0).sum())
    if missing:
        raise DataError(
            f"{source}: {missing} predictions are missing (the first in row "
            f"{_first_row(codes < 0):,})"
        )
    unknown = [p for p in predicted if p not in labels]
    if unknown:
        hint = (
            "; these look like scores: pass them with --score and give predicted labels"
            if series.dtype.kind == "f"
            else ""
        )
        row = _first_row(codes == predicted.index(unknown[0]))
        raise DataError(
            f"{source}: predicted values {_listing(unknown)} are not labels of the target "
            f"({_listing(list(labels))}; row {row:,} has {_short(unknown[0])}){hint}"
        )
    if positive not in predicted:
        return np.zeros(rows, dtype=bool)
    return np.asarray(codes == predicted.index(positive))


def numeric_column(series: pd.Series, *, source: str, probability: bool = False) -> np.ndarray:
    """A numeric column without missing values (scores, regression targets)."""
    import numpy as np
    import pandas as pd

    if series.dtype.kind not in "biuf":
        converted = pd.to_numeric(series, errors="coerce")
        not_numbers = np.asarray(converted.isna() & series.notna())
        if not_numbers.any():
            raise DataError(
                f"{source}: {int(not_numbers.sum())} values are not numbers (the first in row "
                f"{_first_row(not_numbers):,})"
            )
        series = converted
    values = np.asarray(series, dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        raise DataError(
            f"{source}: {int(missing.sum())} values are missing (the first in row "
            f"{_first_row(missing):,})"
        )
    infinite = ~np.isfinite(values)
    if infinite.any():
        # A number too large for a float (e.g. 5,000 digits) is read as infinite too.
        raise DataError(
            f"{source}: holds infinite or too large values (the first in row "
            f"{_first_row(infinite):,})"
        )
    if probability and (values.min() < 0.0 or values.max() > 1.0):
        raise DataError(f"{source}: scores must be probabilities between 0 and 1")
    return values


# --- groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedFeature:
    """A sensitive feature as integer codes; missing values form the last group."""

    feature: str
    codes: np.ndarray
    labels: list[str]


def encode_feature(
    series: pd.Series,
    *,
    feature: str,
    max_groups: int,
    where: str,
    max_label_chars: int = 200,
) -> EncodedFeature:
    """Encode one sensitive feature, refusing identifier-like columns with too many groups
    and group labels longer than ``max_label_chars``.

    The number of distinct values is counted first, so a column of a million identifiers
    is refused before a label is made for each of them: in the first rows alone when they
    already hold too many, else by one hash pass over the column.
    """
    import numpy as np

    prefix = 4 * max_groups
    if len(series) > prefix and int(series.iloc[:prefix].nunique(dropna=True)) > max_groups:
        raise DataError(
            f"{where}: sensitive feature {feature!r} has more than {max_groups:,} distinct "
            f"values in its first {prefix:,} rows (limit {max_groups:,}); that looks like an "
            "identifier or a continuous value, not a group: give a grouped column (e.g. age "
            "bands) or ask an admin to raise the governance setting max_groups"
        )
    raw = int(series.nunique(dropna=True))
    _check_group_count(raw, rows=len(series), feature=feature, max_groups=max_groups, where=where)
    codes, labels = encode_labels(series)
    distinct = len(labels)
    _check_group_count(
        distinct, rows=len(series), feature=feature, max_groups=max_groups, where=where
    )
    for code, label in enumerate(labels):
        if len(label) > max_label_chars:
            row = int(np.flatnonzero(codes == code)[0]) + 1
            raise DataError(
                f"{where}: sensitive feature {feature!r}, row {row:,}: a group label of "
                f"{len(label):,} characters is longer than the limit of {max_label_chars:,} "
                "(governance setting max_group_label_chars)"
            )
    if (codes < 0).any():
        codes = np.where(codes < 0, distinct, codes)
        labels = [*labels, MISSING_GROUP]
    return EncodedFeature(feature=feature, codes=codes, labels=labels)


def _check_group_count(
    distinct: int, *, rows: int, feature: str, max_groups: int, where: str
) -> None:
    if distinct > IDENTIFIER_GROUPS and distinct > rows // 2:
        raise DataError(
            f"{where}: sensitive feature {feature!r} has {distinct:,} distinct values in "
            f"{rows:,} rows; that looks like an identifier or a continuous value, not "
            "a group: give a grouped column (e.g. age bands)"
        )
    if distinct > max_groups:
        raise DataError(
            f"{where}: sensitive feature {feature!r} has {distinct:,} distinct values (limit "
            f"{max_groups:,}); that looks like an identifier or a continuous value, not a "
            "group: give a grouped column (e.g. age bands) or ask an admin to raise the "
            "governance setting max_groups"
        )


__all__ = [
    "BinaryTarget",
    "EncodedFeature",
    "Table",
    "binary_predictions",
    "binary_target",
    "encode_feature",
    "encode_labels",
    "label_text",
    "load_table",
    "numeric_column",
]
