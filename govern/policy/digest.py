"""A columnar digest of an evaluation's results, written with it, read by batch checks.

A batch check over thousands of stored versions spent most of its time decoding every
results document and walking every group of it (:class:`govern.policy.columns.Columns`).
The digest is that walk done once, when the evaluation is stored: every figure a column
function can compare, for every group, grouping and per-group performance row, as float64
blocks behind a small JSON header (layout, labels, reference groups, and the top-level
entries the per-version rules read). A check builds ``Columns`` from the digests of all
its subjects with ``np.frombuffer`` and one concatenation per block, and decodes a
results document only when a rule falls back to it or an outcome's evidence is built.

A digest is derived data and is trusted only while it matches its document: the header
holds the format version and the CRC-32 and length of the exact stored text it was made
from, and anything else (an older format, a document edited in place, a damaged blob) is
read as no digest, so the check reads the document itself. A document that ``Columns``
would not read into its arrays (not of the shape ``govern evaluate`` writes) gets a digest
saying so, and its subject is decided per subject from the document, as before.

Layout of a digest: 4 bytes little-endian header length, the header (ASCII JSON), then the
blocks of :data:`SEGMENTS`, each row-major; the header gives the row counts.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from govern.policy.rules import _IMPACT
from govern.policy.schema import GROUP_METRICS, PERFORMANCE_METRICS, SUMMARY_METRICS

if TYPE_CHECKING:  # numpy is imported when a digest is written or read into columns
    from govern.policy.columns import Columns
    from govern.policy.snapshot import SubjectSnapshot

#: Version of the layout below; a digest of another version is read as no digest. Change
#: it only with a new schema revision: ``govern db upgrade`` then rewrites every digest.
VERSION = 1
#: Figures read from each group's ``metrics``, stored on the group, in each grouping's
#: summary, and in each per-group and the overall performance table (what ``needs`` asks).
METRIC_KEYS = tuple(sorted((GROUP_METRICS - set(_IMPACT)) | set(_IMPACT.values())))
STORED_KEYS = tuple(sorted(_IMPACT))
SUMMARY_KEYS = tuple(sorted(SUMMARY_METRICS))
PERF_KEYS = tuple(sorted(PERFORMANCE_METRICS))
#: Every figure of the four places, as ``Columns`` is asked to read them (``needs``' shape).
EVERY_FIGURE: Mapping[str, frozenset[str]] = {
    "metric": frozenset(METRIC_KEYS),
    "stored": frozenset(STORED_KEYS),
    "summary": frozenset(SUMMARY_KEYS),
    "performance": frozenset(PERF_KEYS),
}
#: Top-level entries of the document the per-version rules read, kept in the header.
PREVIEW_KEYS = frozenset({"explanations", "sensitive_features"})

#: Columns of each block (a figure is three: value, has a value, would not convert).
ROW_FLOATS = 4 + 3 * (len(METRIC_KEYS) + len(STORED_KEYS))  # share, p, has p, odd, figures
GROUPING_FLOATS = 3 * len(SUMMARY_KEYS)
PERF_FLOATS = 1 + 3 * len(PERF_KEYS)  # has n, figures
OVERALL_FLOATS = 4 * len(PERF_KEYS)  # reported, value, has, would not convert
#: The blocks after the header, in order: (rows of, dtype, columns).
SEGMENTS = (
    ("rows", "<i8", 2),  # position of the row's grouping, n
    ("performance", "<i8", 2),  # position of the row's grouping, n
    ("rows", "<f8", ROW_FLOATS),
    ("groupings", "<f8", GROUPING_FLOATS),
    ("performance", "<f8", PERF_FLOATS),
    ("overall", "<f8", OVERALL_FLOATS),
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Bytes per row of each kind, over all its blocks.
_ROW_BYTES, _GROUPING_BYTES, _PERF_BYTES, _OVERALL_BYTES = (
    8 * sum(width for of, _type, width in SEGMENTS if of == kind)
    for kind in ("rows", "groupings", "performance", "overall")
)


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest: its header and the bytes of its blocks."""

    header: Mapping[str, Any]
    blob: bytes
    start: int

    @property
    def regular(self) -> bool:
        """Whether the document was read into the arrays (else: decide per subject)."""
        return bool(self.header.get("ok"))

    def preview(self) -> tuple[Mapping[str, Any], frozenset[str]]:
        """The previewed top-level entries, and which keys were previewed."""
        return self.header.get("preview") or {}, PREVIEW_KEYS


def parse(
    blob: bytes | memoryview | None,
    text: str | bytes,
    decode: Callable[[str | bytes], Any] = json.loads,
) -> Digest | None:
    """The digest of the document stored as ``text``, or ``None`` if ``blob`` is not one.

    ``None`` for no blob, another format version, damage, or a digest made from other text
    than ``text`` (compared by length and CRC-32): the caller reads the document instead.
    """
    if blob is None:
        return None
    data = blob if type(blob) is bytes else bytes(blob)
    try:
        size, header = _header(data, decode)
        if header.get("v") != VERSION:
            return None
        raw = text.encode("utf-8") if isinstance(text, str) else text
        if header.get("length") != len(raw) or header.get("crc") != zlib.crc32(raw):
            return None
        if header.get("ok"):
            r, g, q = header["r"], header["g"], header["q"]
            if not (type(r) is int and type(g) is int and type(q) is int and min(r, g, q) >= 0):
                return None
            expected = 4 + size + r * _ROW_BYTES + g * _GROUPING_BYTES + q * _PERF_BYTES
            if len(data) != expected + _OVERALL_BYTES or not _well_formed(header, r, g):
                return None
    except (ValueError, TypeError, KeyError, UnicodeError):
        return None
    return Digest(header, data, 4 + size)


def _well_formed(header: Mapping[str, Any], rows: int, groupings: int) -> bool:
    """The header's entries have the types and lengths ``Columns.from_digests`` reads."""
    labels, references, floor = header["labels"], header["refs"], header["floor"]
    return (
        type(labels) is list
        and len(labels) == rows
        and all(type(label) is str for label in labels)
        and type(references) is list
        and len(references) == groupings
        and all(ref is None or type(ref) is str for ref in references)
        and type(floor) is int
        and type(header["sig"]) is str
        and type(header["perf"]) is str
        and type(header.get("preview", {})) is dict
    )


def version_of(blob: bytes | memoryview | None) -> int | None:
    """The format version a stored digest says it has (``None``: no readable digest)."""
    if not blob:
        return None
    try:
        _size, header = _header(bytes(blob), json.loads)
    except (ValueError, UnicodeError):
        return None
    version = header.get("v")
    return version if type(version) is int else None


def _header(data: bytes, decode: Callable[[str | bytes], Any]) -> tuple[int, dict[str, Any]]:
    """The header's length and the header, which must be a JSON object (else ValueError)."""
    size = int.from_bytes(data[:4], "little")
    header = decode(data[4 : 4 + size])
    if type(header) is not dict:
        raise ValueError("a digest's header is not an object")
    return size, header


def row_counts(header: Mapping[str, Any]) -> dict[str, Any]:
    """How many rows each block of a regular digest holds."""
    return {"rows": header["r"], "groupings": header["g"], "performance": header["q"], "overall": 1}


def encode(document: Any, text: str | bytes) -> bytes:
    """The digest of ``document``, decoded from the stored ``text``.

    Made by reading the document into :class:`Columns` as a check of it alone would, with
    every figure a rule can ask for, so the arrays a check builds from digests are the
    arrays it would have built from the documents.
    """
    import numpy as np

    from govern.policy.columns import Columns
    from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot

    raw = text.encode("utf-8") if isinstance(text, str) else text
    header: dict[str, Any] = {"v": VERSION, "length": len(raw), "crc": zlib.crc32(raw)}
    evidence = EvaluationEvidence(
        results=document, created_at=_EPOCH, dataset_sha256="", artifact_sha256=None
    )
    subject = SubjectSnapshot(subject="", card={}, evaluation=evidence)
    columns = Columns([subject], EVERY_FIGURE)
    sizes = np.concatenate([columns.sizes, columns.q_size])
    if not (columns.fair_ok[0] and columns.perf_ok[0]) or bool((abs(sizes) >= 2**53).any()):
        header["ok"] = False
        return _pack(header, [])
    (layout,) = columns._signatures
    (names,) = columns._perf_signatures
    preview = {key: document[key] for key in PREVIEW_KEYS if key in document}
    header.update(
        ok=True,
        floor=int(columns.floors[0]),
        sig=json.dumps([[name, kind, list(features)] for name, kind, features in layout]),
        refs=columns.g_reference.tolist(),
        labels=columns.labels.tolist(),
        perf=json.dumps(list(names)),
        preview=preview,
        r=len(columns.labels),
        g=len(columns.g_subject),
        q=len(columns.q_subject),
    )
    rows = len(columns.labels)
    everything = np.ones(rows, bool)
    row_floats = [
        columns.shares,
        columns.p_values,
        columns.p_has,
        columns.odd_reasons(everything),
    ]
    for key in METRIC_KEYS:
        row_floats += columns.metric(key)
    for key in STORED_KEYS:
        row_floats += columns.stored(key)
    grouping_floats: list[Any] = []
    for key in SUMMARY_KEYS:
        grouping_floats += columns.summary(key)
    perf_floats: list[Any] = [columns.q_has_size]
    for key in PERF_KEYS:
        perf_floats += columns.performance(key)
    overall: list[Any] = []
    for key in PERF_KEYS:
        overall += columns.overall(key)
    blocks = [  # in the order of SEGMENTS
        np.column_stack([columns.r_grouping, columns.sizes]).astype("<i8"),
        np.column_stack([columns.q_position, columns.q_size]).astype("<i8"),
        _matrix(row_floats, rows),
        _matrix(grouping_floats, len(columns.g_subject)),
        _matrix(perf_floats, len(columns.q_subject)),
        _matrix(overall, 1),
    ]
    return _pack(header, [block.tobytes() for block in blocks])


def _matrix(columns: Sequence[Any], rows: int) -> Any:
    import numpy as np

    if not columns:
        return np.zeros((rows, 0), "<f8")
    return np.column_stack([np.asarray(c, np.float64) for c in columns]).astype("<f8")


def _pack(header: Mapping[str, Any], blocks: Sequence[bytes]) -> bytes:
    text = json.dumps(header, ensure_ascii=True).encode("ascii")
    return len(text).to_bytes(4, "little") + text + b"".join(blocks)


def columns_of(snapshots: Sequence[SubjectSnapshot]) -> Columns | None:
    """:class:`Columns` of ``snapshots`` built from their digests, or ``None`` when some
    evaluated subject has none or one that does not hold together (then the documents are
    read)."""
    digests: list[Digest | None] = []
    for snapshot in snapshots:
        evaluation = snapshot.evaluation
        if evaluation is None:
            digests.append(None)
        elif evaluation.digest is None:
            return None
        else:
            digests.append(evaluation.digest)
    from govern.policy.columns import Columns

    try:
        return Columns.from_digests(snapshots, digests)
    except (ValueError, TypeError, KeyError, IndexError):
        return None  # a digest that says what no digest written here says: read documents


__all__ = ["EVERY_FIGURE", "VERSION", "Digest", "columns_of", "encode", "parse", "version_of"]
