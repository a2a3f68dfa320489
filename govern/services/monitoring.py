"""Production monitoring of a version: ``govern monitor run`` and ``govern monitor show``.

A run reads prediction logs (:mod:`govern.monitor`), adds their counts to the version's
days, and records which files it counted with their hashes, in one transaction with its
signed audit event. Runs are incremental and idempotent: a file already counted for the
version (by hash) is skipped; a file counted before under the same path whose content has
changed since is refused, as is every other bad log, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govern.errors import DataError
from govern.monitor.aggregate import Aggregate, DayCounts, aggregate
from govern.monitor.figures import groupings, score_psi, windows
from govern.monitor.logs import LogColumns, LogFile, find_logs
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.services.evaluation import EVALUATE, check_writable, evidence_target
from govern.storage import monitoring as stored
from govern.storage.tables import MonitoringDay, MonitoringFile

ACTION = "monitor.run"


@dataclass
class MonitoringRun:
    """What a run counted (``counted``), skipped as already counted, and changed."""

    ref: str
    counted: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    rows: int = 0
    other_versions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "counted": self.counted,
            "skipped": self.skipped,
            "days": [d.isoformat() for d in self.days],
            "rows": self.rows,
            "other_versions_rows": self.other_versions,
        }


def run(ctx: Context, ref: str, *, logs: Sequence[str], columns: LogColumns) -> MonitoringRun:
    """Count the prediction logs ``logs`` (files or globs) into ``ref``'s monitoring record.

    Raises:
        InputError: no log was named, or a pattern matches nothing.
        DataError: a log is bad (see :func:`govern.monitor.aggregate.aggregate`), a file
            changed since it was counted, or the sensitive features differ from those the
            version's record already counts. Nothing is written.
        PermissionDenied: the actor may not evaluate versions.
        WorkflowError: the version is read-only (retired or rejected).
    """
    target = evidence_target(ctx, ref, ACTION, doing="monitor", done="monitored")
    subject = target.subject
    found = find_logs(logs)
    with ctx.read() as session:
        model, version = resolve(session, subject)
        assert version.id is not None
        counted = {
            f.sha256: (f.path, f.created_at)
            for f in stored.files(session=session, version_id=version.id)
        }
        features = stored.features(session=session, version_id=version.id)
        versions = stored.version_names(session=session, model=model)
    by_path = {path: (sha256, at) for sha256, (path, at) in counted.items()}
    result = MonitoringRun(ref=subject)
    fresh: list[LogFile] = []
    for log in found:
        before = counted.get(log.sha256)
        if before is not None:
            result.skipped.append({"path": log.name, "sha256": log.sha256})
            continue
        earlier = by_path.get(log.name)
        if earlier is not None:
            raise DataError(
                f"{log.name}: changed since it was counted on {earlier[1]:%Y-%m-%d} "
                f"(sha256 was {earlier[0][:12]}, now {log.sha256[:12]}); a counted log is "
                "never counted again: write new rows to a new file"
            )
        fresh.append(log)
    if not fresh:
        return result
    if features is not None and tuple(features) != tuple(columns.sensitive):
        raise DataError(
            f"{subject}'s monitoring counts the sensitive features {', '.join(features) or 'none'}"
            f"; this run gives {', '.join(columns.sensitive) or 'none'}: a record keeps one set"
        )
    counts = aggregate(fresh, columns, version=target.version, versions=versions)
    return _store(ctx, subject, fresh, counts, result)


def _store(
    ctx: Context, subject: str, logs: Sequence[LogFile], counts: Aggregate, result: MonitoringRun
) -> MonitoringRun:
    with ctx.write(ACTION, subject) as tx:
        _model, version = resolve(tx.session, subject, for_update=True)
        ctx.require_role(tx.session, EVALUATE, doing=f"monitor {subject}")
        check_writable(version, subject, "monitored")
        assert version.id is not None
        for log in logs:  # under the lock: a concurrent run may have counted it meanwhile
            if stored.file_counted(session=tx.session, version_id=version.id, sha256=log.sha256):
                raise DataError(
                    f"{log.name}: counted by another run meanwhile; nothing was changed"
                )
        days = stored.days(session=tx.session, version_id=version.id)
        changed: dict[str, str] = {}
        for day, added in counts.days.items():
            row = days.get(day)
            if row is None:
                row = MonitoringDay(
                    version_id=version.id,
                    day=day,
                    features=list(counts.features),
                    counts={},
                    rows=0,
                    updated_by=tx.actor,
                )
                total = added
            else:
                total = DayCounts.from_json(day, row.counts)
                total.add(added)
            row.counts = total.to_json()
            row.rows = total.rows
            row.updated_by = tx.actor
            row.updated_at = dt.datetime.now(dt.UTC)
            tx.session.add(row)
            changed[day.isoformat()] = _sha256(row.counts)
        files = []
        for log in logs:
            stats = counts.files[log.name]
            tx.session.add(
                MonitoringFile(
                    version_id=version.id,
                    path=log.name,
                    sha256=log.sha256,
                    size=log.size,
                    rows=stats.rows,
                    first_at=stats.first,
                    last_at=stats.last,
                    created_by=tx.actor,
                )
            )
            files.append(
                {"path": log.name, "sha256": log.sha256, "bytes": log.size, "rows": stats.rows}
            )
        tx.session.flush()
        tx.audit(files=files, days=changed, features=list(counts.features))
    result.counted = files
    result.days = sorted(counts.days)
    result.rows = sum(counts.files[log.name].rows for log in logs)
    result.other_versions = counts.other_versions
    return result


def _sha256(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def show(ctx: Context, ref: str, *, width: str = "1d") -> dict[str, Any]:
    """The version's monitoring windows and their figures, oldest first (``--json``).

    The score histogram of each window is compared (PSI) with the first window's.
    """
    with ctx.read() as session:
        model, version = resolve(session, ref)
        assert version.id is not None
        subject = f"{model.name}@{version.version}"
        days = [
            DayCounts.from_json(day, row.counts)
            for day, row in stored.days(session=session, version_id=version.id).items()
        ]
        files = [
            {
                "path": f.path,
                "sha256": f.sha256,
                "rows": f.rows,
                "first": None if f.first_at is None else f.first_at.isoformat(),
                "last": None if f.last_at is None else f.last_at.isoformat(),
                "counted_at": f.created_at.isoformat(),
                "counted_by": f.created_by,
            }
            for f in stored.files(session=session, version_id=version.id)
        ]
        features = stored.features(session=session, version_id=version.id) or []
        min_group_size = ctx.governance.min_group_size
    found = windows(days, width)
    reference = next((w.counts.scores for w in found if sum(w.counts.scores)), None)
    shown = []
    for window in found:
        groups = groupings(window.counts, features, min_group_size=min_group_size)
        shown.append(
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "rows": window.rows,
                "outcomes_known": window.outcomes_known,
                "scores": window.counts.scores,
                "score_psi": (
                    None if reference is None else score_psi(reference, window.counts.scores)
                ),
                "groupings": [g.model_dump(mode="json") for g in groups],
            }
        )
    return {
        "ref": subject,
        "window": width,
        "features": list(features),
        "files": files,
        "windows": shown,
    }


__all__ = ["MonitoringRun", "run", "show"]
