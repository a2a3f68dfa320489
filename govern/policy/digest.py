"""A columnar digest of an evaluation's results, written with it, read by batch checks.

A batch check over thousands of stored versions spent most of its time decoding every
results document and walking every group of it (:class:`govern.policy.columns.Columns`).
The digest is that walk done once, when the evaluation is stored: every figure a column
function can compare, for every group, grouping and per-group performance row, as blocks
of float64 values and one-byte flags behind a small JSON header (layout, labels, reference
groups, and the top-level entries the per-version rules read). A check builds ``Columns``
from the digests of all its subjects with ``np.frombuffer`` and one concatenation per
block, and decodes a results document only when a rule falls back to it or an outcome's
evidence is built.

A digest is derived data and is trusted only while it matches its document. The database
keeps them together: a trigger (schema revision 0004) clears an evaluation's digest in the
same statement that changes its results, and the header holds the format version and the
length of the text it was made from (a cheap second check). An older format, a document
edited in place, a damaged blob or a header that does not hold together is read as no
digest, so the check reads the document itself. A document that ``Columns`` would not read
into its arrays (not of the shape ``govern evaluate`` writes) gets a digest saying so, and its
subject is decided per subject from the document, as before.

Layout of a digest: the *shape* (4 bytes little-endian length, then ASCII JSON: format
version, groupings, group labels, per-group performance tables, row counts), the *entry*
(the same framing: the text's length, reference groups, previewed top-level entries), then
the blocks of :data:`SEGMENTS`, each row-major. Versions of a model evaluated on the same
groups share one shape, so it is parsed and checked once per distinct shape in a check, and
``Columns.from_digests`` reads the blocks of all digests of one shape as one array.
"""

from __future__ import annotations

import datetime as dt
import json
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
VERSION = 2
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

#: Columns of each block. A figure is a value (float64) and two flags (one byte each): has a
#: value, would not convert.
FIGURE_KEYS = len(METRIC_KEYS) + len(STORED_KEYS)
ROW_VALUES, ROW_FLAGS = 2 + FIGURE_KEYS, 2 + 2 * FIGURE_KEYS  # share, p; has p, odd
GROUPING_VALUES, GROUPING_FLAGS = len(SUMMARY_KEYS), 2 * len(SUMMARY_KEYS)
PERF_VALUES, PERF_FLAGS = len(PERF_KEYS), 1 + 2 * len(PERF_KEYS)  # has n
OVERALL_VALUES, OVERALL_FLAGS = len(PERF_KEYS), 3 * len(PERF_KEYS)  # reported, has, odd
#: The blocks after the header, in order: (rows of, dtype, columns). The float blocks come
#: first, so each starts a multiple of 8 bytes into the blocks.
SEGMENTS = (
    ("rows", "<i8", 2),  # position of the row's grouping, n
    ("performance", "<i8", 2),  # position of the row's grouping, n
    ("rows", "<f8", ROW_VALUES),
    ("groupings", "<f8", GROUPING_VALUES),
    ("performance", "<f8", PERF_VALUES),
    ("overall", "<f8", OVERALL_VALUES),
    ("rows", "|u1", ROW_FLAGS),
    ("groupings", "|u1", GROUPING_FLAGS),
    ("performance", "|u1", PERF_FLAGS),
    ("overall", "|u1", OVERALL_FLAGS),
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def itemsize(dtype: str) -> int:
    """Bytes per item of a :data:`SEGMENTS` dtype (``<f8``: 8)."""
    return int(dtype[2:])


#: Bytes per row of each kind, over all its blocks.
_ROW_BYTES, _GROUPING_BYTES, _PERF_BYTES, _OVERALL_BYTES = (
    sum(itemsize(dtype) * width for of, dtype, width in SEGMENTS if of == kind)
    for kind in ("rows", "groupings", "performance", "overall")
)


#: Layout of one grouping: (name, kind, features).
Layout = tuple[tuple[str, str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Shape:
    """What the digests of documents with the same groups share, parsed and checked once."""

    #: Whether the document was read into the arrays (else: decide per subject).
    regular: bool
    floor: int = 0
    layout: Layout = ()
    #: The per-group performance tables, by grouping name, in the document's order.
    perf: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    rows: int = 0
    groupings: int = 0
    tables: int = 0  # per-group performance rows
    #: Bytes of the blocks after the header.
    size: int = 0

    def count(self, of: str) -> int:
        """How many rows the blocks of ``of`` (a :data:`SEGMENTS` kind) hold."""
        return {"rows": self.rows, "groupings": self.groupings, "performance": self.tables}.get(
            of, 1
        )


@dataclass(slots=True)  # not frozen: a batch check builds one per version (see snapshot)
class Digest:
    """A parsed digest: its shape, its own entries and the bytes of its blocks."""

    shape: Shape
    #: Each grouping's reference group, in layout order.
    refs: Sequence[str | None]
    entries: Mapping[str, Any]
    blob: bytes
    start: int

    @property
    def regular(self) -> bool:
        return self.shape.regular

    def preview(self) -> tuple[Mapping[str, Any], frozenset[str]]:
        """The previewed top-level entries, and which keys were previewed."""
        return self.entries, PREVIEW_KEYS


#: Parsed shapes by their bytes (``None``: not a shape this version reads), shared by checks.
_SHAPES: dict[bytes, Shape | None] = {}
_SHAPES_KEPT = 4096
_UNSEEN = Shape(regular=False)
#: The framed shape parsed last and its shape: consecutive digests mostly share it, and a
#: digest that starts with it needs neither a slice nor a hash of its shape (the shape is
#: most of a digest's bytes: parsing 10,000 digests of one shape took 105 ms without this,
#: 42 ms with it).
_last: tuple[bytes, Shape | None] = (b"", None)
_REF_TYPES = frozenset({str, type(None)})


def parse(
    blob: bytes | memoryview | None,
    text: str | bytes | None,
    decode: Callable[[str | bytes], Any] = json.loads,
) -> Digest | None:
    """The digest of the document stored as ``text``, or ``None`` if ``blob`` is not one.

    ``None`` for no blob, another format version, damage, a header that does not hold
    together, or a digest made from text of another length than ``text``: the caller reads
    the document instead. ``text=None`` (a check that reads documents only when it needs
    them) leaves the document's length unchecked: the database clears a digest whose
    results change.
    """
    global _last
    if blob is None:
        return None
    data = blob if type(blob) is bytes else bytes(blob)
    try:
        framed, shape = _last
        at = len(framed)
        if not (framed and data.startswith(framed)):
            key, at = _framed(data, 0)
            shape = _SHAPES.get(key, _UNSEEN)
            if shape is _UNSEEN:
                shape = _shape(key, decode)
                if len(_SHAPES) >= _SHAPES_KEPT:
                    _SHAPES.clear()
                _SHAPES[key] = shape
            _last = (data[:at], shape)
        if shape is None:
            return None
        raw, end = _framed(data, at)
        entry = decode(raw)
        if type(entry) is not dict or (text is not None and entry.get("chars") != _chars(text)):
            return None
        refs, preview = entry.get("refs", []), entry.get("preview", {})
        if type(preview) is not dict or type(refs) is not list:
            return None
        if shape.regular and (
            len(data) - end != shape.size
            or len(refs) != shape.groupings
            or not _REF_TYPES.issuperset(map(type, refs))
        ):
            return None
    except (ValueError, TypeError, KeyError, UnicodeError):
        return None
    return Digest(shape, refs, preview, data, end)


def _framed(data: bytes, at: int) -> tuple[bytes, int]:
    """The part framed at ``at`` (4 bytes little-endian length, then the bytes), and where
    the next one starts."""
    start = at + 4
    end = start + int.from_bytes(data[at:start], "little")
    return data[start:end], end


def _chars(text: str | bytes) -> int:
    return len(text) if isinstance(text, str) else len(text.decode("utf-8"))


def _shape(raw: bytes, decode: Callable[[str | bytes], Any]) -> Shape | None:
    """A digest's shape, if it is one of this version whose entries hold together."""
    try:
        header = decode(raw)
        if type(header) is not dict or header.get("v") != VERSION:
            return None
        if not header.get("ok"):
            return Shape(regular=False)
        counts = rows, groupings, tables = header["r"], header["g"], header["q"]
        floor, labels, perf = header["floor"], header["labels"], header["perf"]
        layout = _layout(header["sig"])
        if not (
            all(type(c) is int and c >= 0 for c in counts)
            and type(floor) is int
            and type(labels) is list
            and len(labels) == rows
            and all(type(label) is str for label in labels)
            and len(layout) == groupings
            and type(perf) is list
            and all(type(name) is str for name in perf)
        ):
            return None
    except (ValueError, TypeError, KeyError, UnicodeError):
        return None
    size = rows * _ROW_BYTES + groupings * _GROUPING_BYTES + tables * _PERF_BYTES
    return Shape(
        True,
        floor,
        layout,
        tuple(perf),
        tuple(labels),
        rows,
        groupings,
        tables,
        size + _OVERALL_BYTES,
    )


def _layout(raw: Any) -> Layout:
    """A digest's layout (name, kind, features per grouping), as the walk builds it."""
    if type(raw) is not list:
        raise ValueError("a digest's layout is not a list")
    layout = []
    for item in raw:
        name, kind, features = item
        if (
            type(name) is not str
            or type(kind) is not str
            or type(features) is not list
            or any(type(f) is not str for f in features)
        ):
            raise ValueError("a digest's layout is not (name, kind, features)")
        layout.append((name, kind, tuple(features)))
    return tuple(layout)


def version_of(blob: bytes | memoryview | None) -> int | None:
    """The format version a stored digest says it has (``None``: no readable digest)."""
    if not blob:
        return None
    try:
        header = json.loads(_framed(bytes(blob), 0)[0])
    except (ValueError, UnicodeError):
        return None
    version = header.get("v") if type(header) is dict else None
    return version if type(version) is int else None


def encode(document: Any, text: str | bytes) -> bytes:
    """The digest of ``document``, decoded from the stored ``text``.

    Made by reading the document into :class:`Columns` as a check of it alone would, with
    every figure a rule can ask for, so the arrays a check builds from digests are the
    arrays it would have built from the documents.
    """
    import numpy as np

    from govern.policy.columns import Columns
    from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot

    entry: dict[str, Any] = {"chars": _chars(text)}
    evidence = EvaluationEvidence(
        results=document, created_at=_EPOCH, dataset_sha256="", artifact_sha256=None
    )
    subject = SubjectSnapshot(subject="", card={}, evaluation=evidence)
    columns = Columns([subject], EVERY_FIGURE)
    sizes = np.concatenate([columns.sizes, columns.q_size])
    if not (columns.fair_ok[0] and columns.perf_ok[0]) or bool((abs(sizes) >= 2**53).any()):
        return _pack({"v": VERSION, "ok": False}, entry, [])
    (layout,) = columns._signatures
    (names,) = columns._perf_signatures
    shape = {
        "v": VERSION,
        "ok": True,
        "floor": int(columns.floors[0]),
        "sig": [[name, kind, list(features)] for name, kind, features in layout],
        "labels": columns.labels.tolist(),
        "perf": list(names),
        "r": len(columns.labels),
        "g": len(columns.g_subject),
        "q": len(columns.q_subject),
    }
    entry["refs"] = columns.g_reference.tolist()
    entry["preview"] = {key: document[key] for key in PREVIEW_KEYS if key in document}
    rows = len(columns.labels)
    everything = np.ones(rows, bool)
    # Per kind of row: its values and its flags, in the order from_digests reads them.
    row_values: list[Any] = [columns.shares, columns.p_values]
    row_flags: list[Any] = [columns.p_has, columns.odd_reasons(everything)]
    grouping_values: list[Any] = []
    grouping_flags: list[Any] = []
    for figure in [columns.metric(key) for key in METRIC_KEYS] + [
        columns.stored(key) for key in STORED_KEYS
    ]:
        row_values.append(figure[0])
        row_flags += figure[1:]
    for key in SUMMARY_KEYS:
        value, has, bad = columns.summary(key)
        grouping_values.append(value)
        grouping_flags += [has, bad]
    perf_values: list[Any] = []
    perf_flags: list[Any] = [columns.q_has_size]
    for key in PERF_KEYS:
        value, has, bad = columns.performance(key)
        perf_values.append(value)
        perf_flags += [has, bad]
    overall_values: list[Any] = []
    overall_flags: list[Any] = []
    for key in PERF_KEYS:
        reported, value, has, bad = columns.overall(key)
        overall_values.append(value)
        overall_flags += [reported, has, bad]
    groupings, tables = len(columns.g_subject), len(columns.q_subject)
    blocks = [  # in the order of SEGMENTS
        np.column_stack([columns.r_grouping, columns.sizes]).astype("<i8"),
        np.column_stack([columns.q_position, columns.q_size]).astype("<i8"),
        _matrix(row_values, rows, "<f8"),
        _matrix(grouping_values, groupings, "<f8"),
        _matrix(perf_values, tables, "<f8"),
        _matrix(overall_values, 1, "<f8"),
        _matrix(row_flags, rows, "|u1"),
        _matrix(grouping_flags, groupings, "|u1"),
        _matrix(perf_flags, tables, "|u1"),
        _matrix(overall_flags, 1, "|u1"),
    ]
    return _pack(shape, entry, [block.tobytes() for block in blocks])


def _matrix(columns: Sequence[Any], rows: int, dtype: str) -> Any:
    import numpy as np

    if not columns:
        return np.zeros((rows, 0), dtype)
    return np.column_stack([np.asarray(c).astype(dtype) for c in columns]).astype(dtype)


def _pack(shape: Mapping[str, Any], entry: Mapping[str, Any], blocks: Sequence[bytes]) -> bytes:
    framed = []
    for part in (shape, entry):
        raw = json.dumps(part, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        framed.append(len(raw).to_bytes(4, "little") + raw)
    return b"".join(framed + list(blocks))


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


__all__ = [
    "EVERY_FIGURE",
    "VERSION",
    "Digest",
    "Shape",
    "columns_of",
    "encode",
    "itemsize",
    "parse",
    "version_of",
]
