"""Prediction logs reduced to sufficient statistics per UTC day, in DuckDB, out of core.

One scan (a ``GROUP BY GROUPING SETS``) gives, from every file at once:

* per file: its rows, first and last timestamp, and the rows a run must refuse (a timestamp
  missing or unparsable, a decision missing);
* per day, group (the joint values of every sensitive feature), decision and outcome: rows;
* per day and score bin (:data:`SCORE_BINS` fixed edges on [0, 1]): rows.

A second scan over the request ids finds duplicates. Nothing else is read: a log is never
loaded whole into memory, and what is kept is counts, never rows. Day is the grain stored;
weeks and months are sums of days (:mod:`govern.monitor.figures`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govern.errors import DataError
from govern.monitor.logs import LogColumns, LogFile, OutcomeColumns

if TYPE_CHECKING:
    import duckdb

#: Score histogram bins: fixed edges 0, 0.05, ..., 1 (a score outside [0, 1] counts in the
#: first or last bin), so histograms of any two runs or engines add up exactly.
SCORE_BINS = 20
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
_TIME = ("TIMESTAMP", "DATE", "VARCHAR")

#: A group: each sensitive feature's label (``None`` where the log has no value).
Labels = tuple[str | None, ...]
#: ``(group, decision, outcome or None when unknown)``.
Cell = tuple[Labels, bool, bool | None]
#: A shadow's ``(group, its decision, the champion's decision, outcome or None)``.
Paired = tuple[Labels, bool, bool, bool | None]


@dataclass
class DayCounts:
    """What one day of logs adds to a version's monitoring record."""

    day: dt.date
    cells: dict[Cell, int] = field(default_factory=dict)
    #: Rows per score bin (:data:`SCORE_BINS`); all zero when the log has no score.
    scores: list[int] = field(default_factory=lambda: [0] * SCORE_BINS)
    #: A shadow's rows with the champion's decision on the same request (else empty).
    paired: dict[Paired, int] = field(default_factory=dict)
    #: Drift features: feature -> bin label -> rows (bins: ``edges``, or categories).
    drift: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Drift feature -> its bin edges (``None``: categories), fixed by its first run.
    edges: dict[str, list[float] | None] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.cells.values())

    def to_json(self) -> dict[str, Any]:
        """As stored: ``cells`` rows of ``[*labels, decision, outcome, rows]``, sorted."""
        cells = [[*group, decided, actual, n] for (group, decided, actual), n in self.cells.items()]
        cells.sort(key=lambda row: json.dumps(row))
        paired = [
            [*group, mine, theirs, actual, n]
            for (group, mine, theirs, actual), n in self.paired.items()
        ]
        paired.sort(key=lambda row: json.dumps(row))
        document: dict[str, Any] = {"cells": cells, "scores": list(self.scores)}
        if paired:
            document["paired"] = paired
        if self.drift:
            document["drift"] = {
                f: dict(sorted(bins.items())) for f, bins in sorted(self.drift.items())
            }
            document["edges"] = dict(sorted(self.edges.items()))
        return document

    @classmethod
    def from_json(cls, day: dt.date, document: Mapping[str, Any]) -> DayCounts:
        """What :meth:`to_json` stored."""
        cells: dict[Cell, int] = {}
        for row in document.get("cells") or []:
            *group, decided, actual, n = row
            cells[(tuple(group), bool(decided), None if actual is None else bool(actual))] = int(n)
        scores = [int(n) for n in document.get("scores") or [0] * SCORE_BINS]
        paired: dict[Paired, int] = {}
        for row in document.get("paired") or []:
            *group, mine, theirs, actual, n = row
            key = (tuple(group), bool(mine), bool(theirs), None if actual is None else bool(actual))
            paired[key] = int(n)
        drift = {
            str(f): {str(label): int(n) for label, n in bins.items()}
            for f, bins in (document.get("drift") or {}).items()
        }
        edges = {
            str(f): None if cuts is None else [float(c) for c in cuts]
            for f, cuts in (document.get("edges") or {}).items()
        }
        return cls(day, cells, scores, paired, drift, edges)

    def add(self, other: DayCounts) -> None:
        for cell, n in other.cells.items():
            self.cells[cell] = self.cells.get(cell, 0) + n
        self.scores = [a + b for a, b in zip(self.scores, other.scores, strict=True)]
        for key, n in other.paired.items():
            self.paired[key] = self.paired.get(key, 0) + n
        for feature, cuts in other.edges.items():
            self.edges.setdefault(feature, cuts)
        for feature, bins in other.drift.items():
            mine = self.drift.setdefault(feature, {})
            for label, n in bins.items():
                mine[label] = mine.get(label, 0) + n


@dataclass(frozen=True)
class FileCounts:
    rows: int
    first: dt.datetime | None
    last: dt.datetime | None


@dataclass
class Aggregate:
    features: tuple[str, ...]
    days: dict[dt.date, DayCounts]
    files: dict[str, FileCounts]
    #: Rows of other versions of the model, left out (by ``LogColumns.version``).
    other_versions: int = 0
    #: Each drift feature's bin edges (``None``: its categories are its bins).
    edges: dict[str, list[float] | None] = field(default_factory=dict)


def aggregate(
    logs: Sequence[LogFile],
    columns: LogColumns,
    *,
    version: str | None = None,
    versions: Collection[str] = (),
    edges: Mapping[str, list[float] | None] | None = None,
) -> Aggregate:
    """Reduce ``logs`` to counts per day (see the module's docstring).

    ``edges`` are the bin edges of the drift features the record already counts: a
    numeric feature keeps the deciles of its first run, so every day's histogram adds up.

    Args:
        version: The version whose rows are counted, when the logs name one per row
            (``columns.version``); ``versions`` are every version of the model in the catalogue.

    Raises:
        DataError: a file lacks a column or has one of the wrong type, a timestamp is
            missing or unparsable, a decision is missing or not binary, a request id repeats,
            or a row names a version that is not in the catalogue. The message names the file
            and the column.
    """
    import duckdb

    connection, spill = _connect()
    try:
        for log in logs:
            _check_columns(connection, log, columns)
        source = _source(logs, columns)
        where = ""
        other = 0
        if columns.version is not None and version is not None:
            other = _check_versions(connection, source, columns, version, versions)
            where = f"WHERE CAST(_version AS VARCHAR) = {_literal(version)}"
        rows = _scan(connection, source, columns, where)
        _check_request_ids(connection, source, where)
        found = _edges(connection, source, columns, where, edges or {})
        drift = _drift(connection, source, columns, where, found)
    except duckdb.Error as problem:
        first = str(problem).strip().splitlines()[0] if str(problem).strip() else "failed"
        raise DataError(f"reading the prediction logs: {first}") from None
    finally:
        connection.close()
        shutil.rmtree(spill, ignore_errors=True)
    counted = _collect(rows, columns, logs, other)
    for (day, feature, label), n in drift.items():
        counts = counted.days.setdefault(day, DayCounts(day))
        bins = counts.drift.setdefault(feature, {})
        bins[label] = bins.get(label, 0) + n
        counts.edges[feature] = found[feature]
    counted.edges = found
    return counted


#: DuckDB's memory for one run; beyond it, its hash tables spill to a temporary directory.
MEMORY_LIMIT = "1GB"


def _connect() -> tuple[duckdb.DuckDBPyConnection, str]:
    """A DuckDB connection in UTC, its memory bounded, spilling to a directory of its own."""
    import duckdb

    spill = tempfile.mkdtemp(prefix="govern-duckdb-")
    connection = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": spill,
            "preserve_insertion_order": False,
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    return connection, spill


def _check_columns(
    connection: duckdb.DuckDBPyConnection, log: LogFile, columns: LogColumns
) -> None:
    types = _described(connection, log, columns.named(), columns.timestamp)
    if columns.score is not None and not types[columns.score].startswith(_NUMERIC):
        raise DataError(
            f"{log.name}: column {columns.score!r} (the score) is {types[columns.score]}, "
            "not a number"
        )
    if not types[columns.timestamp].startswith(_TIME):
        raise DataError(
            f"{log.name}: column {columns.timestamp!r} (the timestamp) is "
            f"{types[columns.timestamp]}, not a time"
        )


def _described(
    connection: duckdb.DuckDBPyConnection,
    log: LogFile,
    roles: Mapping[str, str],
    text: str | None,
) -> dict[str, str]:
    """``log``'s column types, once every role's column is found in it."""
    described = connection.execute(f"DESCRIBE SELECT * FROM {_reader([log], text)}").fetchall()
    types = {str(row[0]): str(row[1]).upper() for row in described}
    for role, column in roles.items():
        if column not in types:
            shown = ", ".join(sorted(types)[:12]) + (", ..." if len(types) > 12 else "")
            raise DataError(f"{log.name}: no column {column!r} for the {role} (it has {shown})")
    return types


def _reader(logs: Sequence[LogFile], text_column: str | None) -> str:
    """The DuckDB table function reading ``logs`` (all of one format)."""
    files = "[" + ", ".join(_literal(str(log.path)) for log in logs) + "]"
    kind = logs[0].reader
    if kind == "parquet":
        return f"read_parquet({files}, filename = true, union_by_name = true)"
    if text_column is None:
        options = ""
    else:  # read as text and parsed by the scan, so a bad value is counted and reported
        options = ", types = {" + f"{_literal(text_column)}: 'VARCHAR'" + "}"
    if kind == "csv":
        return f"read_csv({files}, filename = true, union_by_name = true{options})"
    return (
        f"read_json({files}, filename = true, union_by_name = true, format = 'newline_delimited')"
    )


def _source(logs: Sequence[LogFile], columns: LogColumns) -> str:
    """One relation over every file, its columns renamed to their roles."""
    by_reader: dict[str, list[LogFile]] = {}
    for log in logs:
        by_reader.setdefault(log.reader, []).append(log)
    mixed = len(by_reader) > 1  # labels as text, so a Parquet integer meets a CSV's text

    def label(column: str) -> str:
        return f"CAST({_name(column)} AS VARCHAR)" if mixed else _name(column)

    picked = [
        "filename AS _file",
        f"TRY_CAST({_name(columns.timestamp)} AS TIMESTAMPTZ) AS _ts",
        f"{_name(columns.timestamp)} IS NULL AS _ts_null",
        f"CAST({_name(columns.request_id)} AS VARCHAR) AS _rid",
        f"{label(columns.prediction)} AS _pred",
        f"{label(columns.outcome)} AS _outcome" if columns.outcome else "NULL AS _outcome",
        f"CAST({_name(columns.score)} AS DOUBLE) AS _score" if columns.score else "NULL AS _score",
        f"{_name(columns.version)} AS _version" if columns.version else "NULL AS _version",
        f"{label(columns.champion)} AS _champ" if columns.champion else "NULL AS _champ",
        *(f"{_name(f)} AS _d{i}" for i, f in enumerate(columns.features)),
        *(f"{label(s)} AS _s{i}" for i, s in enumerate(columns.sensitive)),
    ]
    parts = [
        f"SELECT {', '.join(picked)} FROM {_reader(group, columns.timestamp)}"
        for group in by_reader.values()
    ]
    return "(" + " UNION ALL ".join(parts) + ")"


def _check_versions(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    columns: LogColumns,
    version: str,
    versions: Collection[str],
) -> int:
    found = connection.execute(
        f"SELECT CAST(_version AS VARCHAR) AS v, min(_file), count(*) FROM {source} GROUP BY v"
    ).fetchall()
    for value, first_file, _rows in found:
        if value is None or value not in versions:
            shown = "no version" if value is None else f"version {value!r}"
            raise DataError(
                f"{first_file}: column {columns.version!r} names {shown}, which is not a "
                f"version of this model in the catalogue ({', '.join(sorted(versions))})"
            )
    return sum(rows for value, _f, rows in found if value != version)


def _scan(
    connection: duckdb.DuckDBPyConnection, source: str, columns: LogColumns, where: str
) -> list[tuple[Any, ...]]:
    groups = ", ".join(f"_s{i}" for i in range(len(columns.sensitive)))
    day_cells = f"_day, {groups + ', ' if groups else ''}_pred, _outcome"
    paired = f", ({day_cells}, _champ)" if columns.champion else ""
    # The same set numbers either way: bit 0 says the champion's decision is not grouped.
    grouping = (
        "GROUPING(_file, _day, _bin, _champ)"
        if columns.champion
        else "GROUPING(_file, _day, _bin) * 2 + 1"
    )
    champion = "_champ" if columns.champion else "NULL"
    return connection.execute(
        f"""
        WITH rows AS (
            SELECT *, CAST(date_trunc('day', _ts) AS DATE) AS _day,
                CASE WHEN _score IS NULL THEN NULL
                     ELSE least(greatest(CAST(floor(_score * {SCORE_BINS}) AS INTEGER), 0),
                                {SCORE_BINS - 1}) END AS _bin
            FROM {source} {where}
        )
        SELECT {grouping} AS _set, _file, _day, _bin,
            {groups + ", " if groups else ""}_pred, _outcome, {champion},
            count(*) AS n, min(_ts), max(_ts),
            count(*) FILTER (WHERE _ts IS NULL) AS bad_ts,
            count(*) FILTER (WHERE _pred IS NULL) AS no_decision,
            min(_file) FILTER (WHERE _ts IS NULL AND NOT _ts_null) AS unparsable
        FROM rows
        GROUP BY GROUPING SETS ((_file), ({day_cells}), (_day, _bin){paired})
        """
    ).fetchall()


#: Deciles: a numeric drift feature's bins, fixed by its first run.
DECILES = [round(q / 10, 1) for q in range(1, 10)]
#: A categorical drift feature keeps this many categories per day; the rest are "other".
MAX_CATEGORIES = 50
MISSING = "(missing)"


def _edges(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    columns: LogColumns,
    where: str,
    known: Mapping[str, list[float] | None],
) -> dict[str, list[float] | None]:
    """Each drift feature's bin edges: those the record has, else the deciles of this run
    for a numeric feature, ``None`` (its categories) for any other."""
    if not columns.features:
        return {}
    types = dict(
        connection.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})"
        ).fetchall()
    )
    found: dict[str, list[float] | None] = {}
    for index, feature in enumerate(columns.features):
        if feature in known:
            found[feature] = known[feature]
        elif str(types[f"_d{index}"]).upper().startswith(_NUMERIC):
            (deciles,) = connection.execute(
                f"SELECT quantile_cont(_d{index}, {DECILES}) FROM {source} {where}"
            ).fetchone() or (None,)
            found[feature] = sorted({float(e) for e in deciles or []})
        else:
            found[feature] = None
    return found


def _drift(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    columns: LogColumns,
    where: str,
    edges: Mapping[str, list[float] | None],
) -> dict[tuple[dt.date, str, str], int]:
    """Rows per day and bin of each drift feature, in one scan."""
    if not columns.features:
        return {}
    parts = []
    for index, feature in enumerate(columns.features):
        value = f"_d{index}"
        cuts = edges.get(feature)
        if cuts is None:
            binned = f"CAST({value} AS VARCHAR)"
        else:
            steps = " ".join(f"WHEN {value} <= {cut!r} THEN '{at}'" for at, cut in enumerate(cuts))
            binned = f"CASE {steps} ELSE '{len(cuts)}' END"
        parts.append(
            f"SELECT CAST(date_trunc('day', _ts) AS DATE) AS _day, {_literal(feature)} AS _f, "
            f"COALESCE({binned}, {_literal(MISSING)}) AS _b FROM {source} {where}"
        )
    rows = connection.execute(
        f"SELECT _day, _f, _b, count(*) FROM ({' UNION ALL '.join(parts)}) GROUP BY ALL"
    ).fetchall()
    found: dict[tuple[dt.date, str, str], int] = {}
    ranked: dict[tuple[dt.date, str], list[tuple[int, str]]] = {}
    for day, feature, label, n in rows:
        ranked.setdefault((day, feature), []).append((int(n), str(label)))
    for (day, feature), labels in ranked.items():
        labels.sort(key=lambda item: (-item[0], item[1]))
        for rank, (n, label) in enumerate(labels):
            key = (day, feature, label if rank < MAX_CATEGORIES else "other")
            found[key] = found.get(key, 0) + n
    return found


def _check_request_ids(connection: duckdb.DuckDBPyConnection, source: str, where: str) -> None:
    """Refuse a request id that appears twice. The scan groups 64-bit hashes of the ids,
    which costs a fraction of grouping the ids themselves; only ids whose hash repeats are
    then grouped exactly, so a hash collision is never taken for a duplicate."""
    suspects = connection.execute(
        f"SELECT hash(_rid) AS h FROM {source} {where} GROUP BY h HAVING count(*) > 1 LIMIT 1000"
    ).fetchall()
    if not suspects:
        return
    hashes = ", ".join(str(int(h)) for (h,) in suspects)
    condition = f"{where} AND" if where else "WHERE"
    repeated = connection.execute(
        f"SELECT _rid, count(*), min(_file), max(_file) FROM {source} "
        f"{condition} hash(_rid) IN ({hashes}) "
        "GROUP BY _rid HAVING count(*) > 1 ORDER BY _rid LIMIT 1"
    ).fetchone()
    if repeated is not None:
        rid, times, first, last = repeated
        where_found = first if first == last else f"{first} and {last}"
        raise DataError(
            f"{where_found}: request id {rid!r} appears {times} times; a request is counted "
            "once (are two log files copies of each other?)"
        )


def _collect(
    rows: list[tuple[Any, ...]], columns: LogColumns, logs: Sequence[LogFile], other: int
) -> Aggregate:
    from govern.assess.data import label_text

    width = len(columns.sensitive)
    files: dict[str, FileCounts] = {}
    days: dict[dt.date, DayCounts] = {}
    decisions: set[str] = set()
    for row in rows:
        grouping_set, file, day, score_bin = row[0], row[1], row[2], row[3]
        labels = row[4 : 4 + width]
        prediction, outcome, champion, n, first, last, bad_ts, no_decision, _unparsable = row[
            4 + width :
        ]
        if grouping_set == 0b0111:  # per file
            if bad_ts:
                raise DataError(
                    f"{file}: column {columns.timestamp!r} has {bad_ts} row"
                    f"{'s' * (bad_ts > 1)} whose timestamp is missing or not a time"
                )
            if no_decision:
                raise DataError(
                    f"{file}: column {columns.prediction!r} has {no_decision} row"
                    f"{'s' * (no_decision > 1)} without a decision"
                )
            files[str(file)] = FileCounts(n, _utc(first), _utc(last))
        elif grouping_set == 0b1010:  # a shadow's: and the champion's decision
            if champion is None:
                raise DataError(
                    f"column {columns.champion!r} (the champion's decision) has rows without one"
                )
            key: Paired = (
                tuple(None if v is None else label_text(v) for v in labels),
                _positive(prediction, columns.positive),
                _positive(champion, columns.positive),
                None if outcome is None else _positive(outcome, columns.positive),
            )
            counts = days.setdefault(day, DayCounts(day))
            counts.paired[key] = counts.paired.get(key, 0) + n
        elif grouping_set == 0b1011:  # per day, group, decision and outcome
            decision = label_text(prediction)
            decisions.add(decision)
            cell: Cell = (
                tuple(None if v is None else label_text(v) for v in labels),
                _positive(prediction, columns.positive),
                None if outcome is None else _positive(outcome, columns.positive),
            )
            counts = days.setdefault(day, DayCounts(day))
            counts.cells[cell] = counts.cells.get(cell, 0) + n
        elif score_bin is not None:  # per day and score bin
            days.setdefault(day, DayCounts(day)).scores[score_bin] += n
    if len(decisions) > 2:
        raise DataError(
            f"column {columns.prediction!r} has {len(decisions)} decision values "
            f"({', '.join(sorted(decisions)[:5])}); a decision is binary"
        )
    names = {str(log.path) for log in logs}
    for name in names - files.keys():
        files[name] = FileCounts(0, None, None)
    return Aggregate(tuple(columns.sensitive), dict(sorted(days.items())), files, other)


def _positive(value: Any, positive: str) -> bool:
    from govern.assess.data import label_text

    if isinstance(value, bool):
        return value is (positive.lower() not in {"0", "false"})
    return label_text(value) == positive


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Joined:
    """Late outcomes joined to counted prediction logs on the request id."""

    #: ``(day, group, decision, outcome) -> rows`` to move from "outcome unknown" to known.
    moves: dict[tuple[dt.date, Labels, bool, bool], int]
    files: dict[str, int]
    matched: int = 0
    #: Requests whose prediction log already had an outcome, or an earlier outcome file did.
    known: int = 0
    #: Requests of no counted prediction log (yet).
    unmatched: int = 0


def join_outcomes(
    counted: Sequence[tuple[LogFile, LogColumns]],
    outcomes: Sequence[LogFile],
    columns: OutcomeColumns,
    *,
    earlier: Sequence[LogFile] = (),
    version: str | None = None,
) -> Joined:
    """Join ``outcomes`` to the prediction logs ``counted`` (each with what its columns
    meant) on the request id: which counted requests get an outcome, by day, group and
    decision. Requests that already had one (in their log, or from an ``earlier`` outcome
    file) keep it; requests of no counted log are counted as unmatched.

    Raises:
        DataError: an outcome file lacks a column, has a request without an outcome, or
            names a request twice; nothing is joined.
    """
    import duckdb

    connection, spill = _connect()
    try:
        for log in [*outcomes, *earlier]:
            _described(connection, log, columns.named(), None)
        predictions = _predictions(counted, version)
        fresh = _outcome_source(outcomes, columns)
        before = _outcome_source(earlier, columns) if earlier else None
        _check_outcomes(connection, fresh, columns)
        rows, totals = _join(connection, predictions, fresh, before, counted[0][1])
    except duckdb.Error as problem:
        first = str(problem).strip().splitlines()[0] if str(problem).strip() else "failed"
        raise DataError(f"joining the outcomes: {first}") from None
    finally:
        connection.close()
        shutil.rmtree(spill, ignore_errors=True)
    from govern.assess.data import label_text

    positive = counted[0][1].positive
    moves: dict[tuple[dt.date, Labels, bool, bool], int] = {}
    for day, *labels, decision, outcome, n in rows:
        key = (
            day,
            tuple(None if v is None else label_text(v) for v in labels),
            _positive(decision, positive),
            _positive(outcome, positive),
        )
        moves[key] = moves.get(key, 0) + n
    files, matched, known, unmatched = totals
    return Joined(moves, files, matched, known, unmatched)


def _predictions(counted: Sequence[tuple[LogFile, LogColumns]], version: str | None) -> str:
    """Every counted prediction log as one relation, whatever each file's columns were."""
    by_columns: dict[LogColumns, list[LogFile]] = {}
    for log, columns in counted:
        by_columns.setdefault(columns, []).append(log)
    parts = []
    for columns, logs in by_columns.items():
        where = ""
        if columns.version is not None and version is not None:
            where = f" WHERE CAST(_version AS VARCHAR) = {_literal(version)}"
        parts.append(
            f"SELECT _rid, _ts, _pred, _outcome, {_labels(columns)} "
            f"FROM {_source(logs, columns)}{where}"
        )
    return "(" + " UNION ALL ".join(parts) + ")"


def _labels(columns: LogColumns) -> str:
    return ", ".join(f"_s{i}" for i in range(len(columns.sensitive))) or "NULL AS _none"


def _outcome_source(logs: Sequence[LogFile], columns: OutcomeColumns) -> str:
    by_reader: dict[str, list[LogFile]] = {}
    for log in logs:
        by_reader.setdefault(log.reader, []).append(log)
    picked = (
        f"filename AS _file, CAST({_name(columns.request_id)} AS VARCHAR) AS _rid, "
        f"{_name(columns.outcome)} AS _o"
    )
    parts = [f"SELECT {picked} FROM {_reader(group, None)}" for group in by_reader.values()]
    return "(" + " UNION ALL ".join(parts) + ")"


def _check_outcomes(
    connection: duckdb.DuckDBPyConnection, fresh: str, columns: OutcomeColumns
) -> None:
    missing = connection.execute(
        f"SELECT _file, count(*) FROM {fresh} WHERE _o IS NULL OR _rid IS NULL GROUP BY _file "
        "ORDER BY _file LIMIT 1"
    ).fetchone()
    if missing is not None:
        raise DataError(
            f"{missing[0]}: {missing[1]} row{'s' * (missing[1] > 1)} without a request id "
            f"({columns.request_id!r}) or an outcome ({columns.outcome!r}); an outcome file "
            "gives both for every row"
        )
    repeated = connection.execute(
        f"SELECT _rid, count(*), min(_file), max(_file) FROM {fresh} GROUP BY _rid "
        "HAVING count(*) > 1 ORDER BY _rid LIMIT 1"
    ).fetchone()
    if repeated is not None:
        rid, times, first, last = repeated
        found = first if first == last else f"{first} and {last}"
        raise DataError(f"{found}: request id {rid!r} has {times} outcomes; give one")


def _join(
    connection: duckdb.DuckDBPyConnection,
    predictions: str,
    fresh: str,
    before: str | None,
    columns: LogColumns,
) -> tuple[list[tuple[Any, ...]], tuple[dict[str, int], int, int, int]]:
    earlier = f"SELECT _rid FROM {before}" if before is not None else "SELECT NULL AS _rid LIMIT 0"
    labels = _labels(columns)
    joined = f"""
        WITH p AS (SELECT * FROM {predictions}),
             f AS (SELECT * FROM {fresh}),
             e AS ({earlier}),
             j AS (
                SELECT f._file, f._o, p.*,
                    (p._outcome IS NOT NULL OR f._rid IN (SELECT _rid FROM e)) AS _known
                FROM f JOIN p ON f._rid = p._rid
             )
    """
    rows = connection.execute(
        f"""{joined}
        SELECT CAST(date_trunc('day', _ts) AS DATE) AS _day, {labels}, _pred, _o, count(*)
        FROM j WHERE NOT _known GROUP BY ALL
        """
    ).fetchall()
    per_file = dict(
        connection.execute(f"SELECT _file, count(*) FROM {fresh} GROUP BY _file").fetchall()
    )
    matched, known = connection.execute(
        f"{joined} SELECT count(*), count(*) FILTER (WHERE _known) FROM j"
    ).fetchone() or (0, 0)
    total = sum(per_file.values())
    if not columns.sensitive:  # the placeholder label column is not a feature
        rows = [(day, *rest[1:]) for day, *rest in rows]
    return rows, ({str(k): int(v) for k, v in per_file.items()}, matched, known, total - matched)


def merged(days: Mapping[dt.date, DayCounts]) -> DayCounts:
    """Every day of ``days`` added into one (a window's counts)."""
    total = DayCounts(min(days) if days else dt.date.min)
    for counts in days.values():
        total.add(counts)
    return total


__all__ = [
    "SCORE_BINS",
    "Aggregate",
    "Cell",
    "DayCounts",
    "FileCounts",
    "Joined",
    "aggregate",
    "join_outcomes",
    "merged",
]
