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
from typing import TYPE_CHECKING, Any

from govern import formatting
from govern.errors import DataError, InputError, InternalError
from govern.monitor.aggregate import Aggregate, DayCounts, Joined, aggregate, join_outcomes
from govern.monitor.logs import LogColumns, LogFile, OutcomeColumns, find_logs
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.services.evaluation import EVALUATE, check_writable, evidence_target
from govern.services.windows import window_figures
from govern.storage import monitoring as stored
from govern.storage.tables import MonitoringDay, MonitoringFile

if TYPE_CHECKING:
    from govern.policy.loader import LoadedPolicy
    from govern.policy.outcomes import CheckReport

ACTION = "monitor.run"


@dataclass
class MonitoringRun:
    """What a run counted, joined and skipped as already counted, and the days it changed."""

    ref: str
    counted: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    rows: int = 0
    other_versions: int = 0
    #: Late outcomes: requests that got one, that already had one, that match no counted log.
    matched: int = 0
    known: int = 0
    unmatched: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "counted": self.counted,
            "outcomes": self.outcomes,
            "skipped": self.skipped,
            "days": [d.isoformat() for d in self.days],
            "rows": self.rows,
            "other_versions_rows": self.other_versions,
            "outcomes_matched": self.matched,
            "outcomes_already_known": self.known,
            "outcomes_unmatched": self.unmatched,
        }


@dataclass(frozen=True)
class _Counted:
    """A file counted before, as the record holds it."""

    kind: str
    path: str
    sha256: str
    columns: dict[str, Any]
    at: dt.datetime


def run(
    ctx: Context,
    ref: str,
    *,
    logs: Sequence[str] = (),
    columns: LogColumns | None = None,
    outcomes: Sequence[str] = (),
    outcome_columns: OutcomeColumns | None = None,
) -> MonitoringRun:
    """Count prediction logs ``logs`` into ``ref``'s monitoring record, and join outcome files
    ``outcomes`` (files or globs) to the requests counted, on the request id.

    Raises:
        InputError: nothing was named, or a pattern matches nothing.
        DataError: a log is bad (see :func:`govern.monitor.aggregate.aggregate` and
            :func:`~govern.monitor.aggregate.join_outcomes`), a file changed since it was
            counted, a counted log needed to join outcomes is missing or changed, or the
            sensitive features differ from those the record already counts. Nothing is
            written.
        PermissionDenied: the actor may not evaluate versions.
        WorkflowError: the version is read-only (retired or rejected).
    """
    columns = columns or LogColumns()
    target = evidence_target(ctx, ref, ACTION, doing="monitor", done="monitored")
    subject = target.subject
    if not logs and not outcomes:
        find_logs(logs)  # the error that says what to give
    found = find_logs(logs) if logs else []
    answers = find_logs(outcomes) if outcomes else []
    with ctx.read() as session:
        model, version = resolve(session, subject)
        assert version.id is not None
        before = [
            _Counted(f.kind, f.path, f.sha256, dict(f.columns), f.created_at)
            for f in stored.files(session=session, version_id=version.id)
        ]
        features = stored.features(session=session, version_id=version.id)
        versions = stored.version_names(session=session, model=model)
        edges: dict[str, list[float] | None] = {}
        for row in stored.days(session=session, version_id=version.id).values():
            for feature, cuts in (row.counts.get("edges") or {}).items():
                edges.setdefault(feature, cuts)
    result = MonitoringRun(ref=subject)
    fresh = _new_files(found, before, result)
    fresh_answers = _new_files(answers, before, result)
    if not fresh and not fresh_answers:
        return result
    if fresh and features is not None and tuple(features) != tuple(columns.sensitive):
        raise DataError(
            f"{subject}'s monitoring counts the sensitive features {', '.join(features) or 'none'}"
            f"; this run gives {', '.join(columns.sensitive) or 'none'}: a record keeps one set"
        )
    counts = (
        aggregate(fresh, columns, version=target.version, versions=versions, edges=edges)
        if fresh
        else None
    )
    joined = None
    if fresh_answers:
        counted = [*_still_there(before, "predictions"), *((log, columns) for log in fresh)]
        if not counted:
            raise DataError(
                f"{subject} has no prediction logs counted to join outcomes to; give --logs"
            )
        earlier = [log for log, _c in _still_there(before, "outcomes")]
        joined = join_outcomes(
            counted,
            fresh_answers,
            outcome_columns or OutcomeColumns(),
            earlier=earlier,
            version=target.version,
        )
    return _store(ctx, subject, _Batch(fresh, columns, counts, fresh_answers, joined), result)


def _new_files(
    found: Sequence[LogFile], before: Sequence[_Counted], result: MonitoringRun
) -> list[LogFile]:
    """The files of ``found`` not counted yet; those counted are noted as skipped."""
    by_hash = {c.sha256: c for c in before}
    by_path = {c.path: c for c in before}
    fresh = []
    for log in found:
        if log.sha256 in by_hash:
            result.skipped.append({"path": log.name, "sha256": log.sha256})
            continue
        earlier = by_path.get(log.name)
        if earlier is not None:
            raise DataError(
                f"{log.name}: changed since it was counted on {earlier.at:%Y-%m-%d} "
                f"(sha256 was {earlier.sha256[:12]}, now {log.sha256[:12]}); a counted log is "
                "never counted again: write new rows to a new file"
            )
        fresh.append(log)
    return fresh


def _still_there(before: Sequence[_Counted], kind: str) -> list[tuple[LogFile, LogColumns]]:
    """The counted files of ``kind``, read again to join outcomes: each must be unchanged."""
    from pathlib import Path

    from govern.monitor.logs import FORMATS, file_sha256

    found = []
    for counted in before:
        if counted.kind != kind:
            continue
        path = Path(counted.path)
        if not path.is_file() or file_sha256(path) != counted.sha256:
            state = "missing" if not path.is_file() else "changed since it was counted"
            raise DataError(
                f"{counted.path}: {state}; outcomes are joined to the counted logs and checked "
                "against the earlier outcome files, so each must stay where it was, unchanged"
            )
        log = LogFile(path, FORMATS[path.suffix.lower()], counted.sha256, path.stat().st_size)
        found.append((log, LogColumns.from_json(counted.columns)))
    return found


@dataclass(frozen=True)
class _Batch:
    """What one run adds: new prediction logs and their counts, new outcome files joined."""

    logs: Sequence[LogFile]
    columns: LogColumns
    counts: Aggregate | None
    outcomes: Sequence[LogFile]
    joined: Joined | None


def _store(ctx: Context, subject: str, batch: _Batch, result: MonitoringRun) -> MonitoringRun:
    with ctx.write(ACTION, subject) as tx:
        _model, version = resolve(tx.session, subject, for_update=True)
        ctx.require_role(tx.session, EVALUATE, doing=f"monitor {subject}")
        check_writable(version, subject, "monitored")
        assert version.id is not None
        for log in [*batch.logs, *batch.outcomes]:  # a concurrent run may have counted it
            if stored.file_counted(session=tx.session, version_id=version.id, sha256=log.sha256):
                raise DataError(
                    f"{log.name}: counted by another run meanwhile; nothing was changed"
                )
        days = stored.days(session=tx.session, version_id=version.id)
        totals = {day: DayCounts.from_json(day, row.counts) for day, row in days.items()}
        features = batch.counts.features if batch.counts else tuple(batch.columns.sensitive)
        if batch.counts is not None:
            for day, added in batch.counts.days.items():
                totals.setdefault(day, DayCounts(day)).add(added)
        changed = set(batch.counts.days) if batch.counts else set()
        if batch.joined is not None:
            changed |= _apply_outcomes(totals, batch.joined)
        digests = {}
        for day in sorted(changed):
            row = days.get(day) or MonitoringDay(
                version_id=version.id, day=day, features=list(features), counts={}, rows=0,
                updated_by=tx.actor,
            )  # fmt: skip
            row.counts = totals[day].to_json()
            row.rows = totals[day].rows
            row.updated_by = tx.actor
            row.updated_at = dt.datetime.now(dt.UTC)
            tx.session.add(row)
            digests[day.isoformat()] = _sha256(row.counts)
        files = _record_files(tx.session, version.id, tx.actor, batch)
        tx.session.flush()
        joined = batch.joined
        tx.audit(
            files=files,
            days=digests,
            features=list(features),
            outcomes=None
            if joined is None
            else {"matched": joined.matched, "known": joined.known, "unmatched": joined.unmatched},
        )
    result.counted = [f for f in files if f["kind"] == "predictions"]
    result.outcomes = [f for f in files if f["kind"] == "outcomes"]
    result.days = sorted(changed)
    if batch.counts is not None:
        result.rows = sum(batch.counts.files[log.name].rows for log in batch.logs)
        result.other_versions = batch.counts.other_versions
    if joined is not None:
        result.matched, result.known, result.unmatched = (
            joined.matched, joined.known, joined.unmatched
        )  # fmt: skip
    return result


def _apply_outcomes(totals: dict[dt.date, DayCounts], joined: Joined) -> set[dt.date]:
    """Move each joined request from "outcome unknown" to its outcome, in its own day."""
    changed = set()
    for (day, group, decision, outcome), n in joined.moves.items():
        counts = totals[day]
        unknown = (group, decision, None)
        if counts.cells.get(unknown, 0) < n:
            raise InternalError(
                f"{day}: {n} outcomes joined to {counts.cells.get(unknown, 0)} requests without one"
            )
        counts.cells[unknown] -= n
        if counts.cells[unknown] == 0:
            del counts.cells[unknown]
        known = (group, decision, outcome)
        counts.cells[known] = counts.cells.get(known, 0) + n
        changed.add(day)
    return changed


def _record_files(session: Any, version_id: int, actor: str, batch: _Batch) -> list[dict[str, Any]]:
    files = []
    for kind, logs in (("predictions", batch.logs), ("outcomes", batch.outcomes)):
        for log in logs:
            if kind == "predictions":
                assert batch.counts is not None
                stats = batch.counts.files[log.name]
                rows, first, last = stats.rows, stats.first, stats.last
                meaning = batch.columns.to_json()
            else:
                assert batch.joined is not None
                rows, first, last = batch.joined.files.get(log.name, 0), None, None
                meaning = {}
            session.add(
                MonitoringFile(
                    version_id=version_id, kind=kind, path=log.name, sha256=log.sha256,
                    columns=meaning, size=log.size, rows=rows, first_at=first, last_at=last,
                    created_by=actor,
                )
            )  # fmt: skip
            files.append(
                {"kind": kind, "path": log.name, "sha256": log.sha256, "bytes": log.size,
                 "rows": rows}
            )  # fmt: skip
    return files


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
                "kind": f.kind,
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
    shown = [
        {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "rows": window.rows,
            "outcomes_known": window.outcomes_known,
            "scores": window.counts.scores,
            "score_psi": figures.score_psi,
            "feature_psi": dict(figures.feature_psi),
            "groupings": [g.model_dump(mode="json") for g in groups],
            "shadow": paired,
        }
        for window, groups, figures, paired in window_figures(days, features, width, min_group_size)
    ]
    return {
        "ref": subject,
        "window": width,
        "features": list(features),
        "files": files,
        "windows": shown,
    }


#: The shipped pack ``govern monitor status`` applies when no ``--policy`` is given.
DEFAULT_PACK = "production-monitoring"
#: The states of versions that serve predictions, which ``monitor status --all`` watches.
SERVING = ["deployed", "shadow"]


def _monitoring_rules(
    ctx: Context, policies: Sequence[str], *, any_state: bool = False
) -> list[LoadedPolicy]:
    """The policies ``policies`` (default: :data:`DEFAULT_PACK`) with their monitoring rules
    only; with ``any_state``, whatever state a policy's selector asks for."""
    import dataclasses

    from govern.policy.kinds.monitoring import MonitoringRule
    from govern.policy.loader import load_policies

    names = list(policies) or [DEFAULT_PACK]
    loaded = []
    for found in load_policies(names, max_bytes=ctx.settings.max_policy_bytes):
        rules = [r for r in found.policy.rules if isinstance(r, MonitoringRule)]
        if rules:
            update: dict[str, Any] = {"rules": rules, "manual": []}
            selector = found.policy.selector
            if any_state and selector is not None:
                update["selector"] = selector.model_copy(update={"states": None})
            loaded.append(dataclasses.replace(found, policy=found.policy.model_copy(update=update)))
    if not loaded:
        raise InputError(f"no monitoring rule in {', '.join(names)}")
    return loaded


def alerts(ctx: Context, ref: str) -> list[dict[str, Any]]:
    """Every window in which a monitoring rule of :data:`DEFAULT_PACK` was broken (it ends
    the rule's run of consecutive breaching windows: what the TUI and the card flag), oldest
    first, whatever the version's state: the rules' own judgement
    (:mod:`govern.policy.kinds.monitoring`), not a second one.

    Each is ``{start, end, subject, figure, value, threshold, rule, detail}``.
    """
    from govern.monitor.figures import window_end
    from govern.policy.engine import collector_paused, evaluate, utcnow
    from govern.policy.kinds.monitoring import NAMES, MonitoringRule
    from govern.services.subjects import snapshots_for

    loaded = _monitoring_rules(ctx, [], any_state=True)
    with collector_paused(), ctx.read() as session:
        (subject,) = snapshots_for(session, [ref], min_group_size=ctx.governance.min_group_size)
    result = evaluate(loaded, subject, now=utcnow())
    rules = {(p.id, r.id): r for p in loaded for r in p.policy.rules}
    found = []
    for outcome in result.outcomes:
        rule = rules[(outcome.policy_id, outcome.rule_id)]
        assert isinstance(rule, MonitoringRule)
        threshold = rule.min if rule.min is not None else rule.max
        for breach in outcome.evidence.get("broken") or []:
            start = dt.date.fromisoformat(breach["window"])
            figure = NAMES[rule.metric]
            found.append(
                {
                    "start": start,
                    "end": window_end(start, rule.window),
                    "subject": "scores" if breach["key"] == "score" else breach["key"],
                    "figure": figure,
                    "value": breach["value"],
                    "threshold": threshold,
                    "rule": outcome.qualified_id,
                    "detail": f"{figure} {formatting.number(breach['value'])}, outside "
                    f"{rule.describe()} (rule {rule.id})",
                }
            )
    return sorted(found, key=lambda a: (a["start"], a["rule"], a["subject"]))


def status(
    ctx: Context,
    refs: Sequence[str] | None = None,
    *,
    policies: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> CheckReport:
    """The ``monitoring`` rules of ``policies`` (default: :data:`DEFAULT_PACK`) over the
    versions ``refs``, or over every deployed and shadow version when ``refs`` is ``None``.

    A read: nothing is recorded. The exit code is a check's: 1 when a blocking rule fails.

    Raises:
        InputError: the policies hold no monitoring rule.
        PolicyError: a policy file is invalid.
        NotFoundError: a reference names no version.
    """
    from govern.policy.engine import check, collector_paused, utcnow
    from govern.services.catalogue import list_versions
    from govern.services.subjects import snapshots_for

    loaded = _monitoring_rules(ctx, policies)
    if refs is None:
        refs = [f"{v.name}@{v.version}" for v in list_versions(ctx, states=SERVING)]
    with collector_paused(), ctx.read() as session:
        subjects = snapshots_for(session, list(refs), min_group_size=ctx.governance.min_group_size)
    return check(loaded, subjects, now=now or utcnow())


__all__ = [
    "DEFAULT_PACK",
    "SERVING",
    "MonitoringRun",
    "alerts",
    "run",
    "show",
    "status",
]
