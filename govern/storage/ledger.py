"""What the audit log says the catalogue holds, rebuilt event by event, and compared with it.

``audit verify`` replays every event into a :class:`Ledger`: who the users are and their
roles, which keys are enrolled to whom, the governance settings revisions, every version's
card hash and state, every decision, waiver, evaluation, policy run, drift run and report.
While replaying it checks that each signed event was signed by a key enrolled to its actor
at that moment, by someone whose role allowed the action under the settings revision the
event names. At the end :func:`compare` reads the tables and names every row and field that
differs from the log: an edit made with ``sqlite3`` or ``psql`` shows, even though the log
itself was not touched.

Events from before signing (format 1) carry less: what they do not record (the next
validation date, a results hash, the settings revision of a decision) is not compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from govern.errors import SignatureError
from govern.personal_keys import fingerprint_of, load_public_key
from govern.storage.audit import LEGACY_FORMAT, SIGNED_FORMAT, AuditRecord, canonical_json

#: Admin-only actions: who may take them does not depend on any setting.
_ADMIN_ACTIONS = frozenset(
    {
        "user.add",
        "user.set_role",
        "user.deactivate",
        "key.enrol",
        "key.revoke",
        "org_key.add",
        "org_key.rotate",
        "org_key.revoke",
        "settings.apply",
        "catalogue.upgrade",
        "database.grant",
        "audit.checkpoint",
    }
)
#: Actions whose allowed roles come from the settings' ``workflow_roles``.
_ROLE_KEYS = {
    "version.register": "register",
    "version.submit": "submit",
    "version.approve": "approve",
    "version.reject": "reject",
    "version.request_changes": "request_changes",
    "version.shadow": "deploy",
    "version.deploy": "deploy",
    "version.retire": "retire",
    "waiver.grant": "waive",
    "evaluation.create": "evaluate",
    "drift.run": "evaluate",
    "artifact.unpickle": "evaluate",
    "policy.check": "check",
    "report.build": "report",
}
#: Judgements a service account never takes (``govern.domain.governance``).
_JUDGEMENTS = frozenset({"approve", "reject", "request_changes", "waive", "deploy", "retire"})
#: Version actions that record a decision row.
_DECISIONS = frozenset(
    {
        "version.submit",
        "version.approve",
        "version.reject",
        "version.request_changes",
        "version.shadow",
        "version.deploy",
        "version.retire",
        "version.supersede",
        "version.demote",
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the catalogue shows that its log does not say (or a log that cannot be)."""

    table: str
    row: str
    field: str
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        where = f"{self.table} {self.row}"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.message}" + (f" (event {self.seq})" if self.seq else "")


@dataclass
class Ledger:
    """The catalogue's state according to its log, built by :meth:`apply` in log order."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    org: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[int, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    waivers: dict[int, dict[str, Any]] = field(default_factory=dict)
    evaluations: dict[int, dict[str, Any]] = field(default_factory=dict)
    drift_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    policy_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Only rows these events touched are compared; None: all rows.
    touched: dict[str, set[Any]] | None = None
    #: The replay began at a checkpoint: a version's decisions and reports before it are
    #: not known, so the newest rows are compared with the events after it.
    partial: bool = False
    #: Versions all of whose rows are compared, touched by an event or not (a row that no
    #: event created is what an insider's insert looks like).
    scope: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    #: The newest checkpoint the log records having written (``audit.checkpoint``).
    latest_checkpoint: dict[str, Any] | None = None
    signed_events: int = 0
    legacy_events: int = 0
    unsigned_refusals: int = 0

    # --- a checkpoint's registry ------------------------------------------------------------

    def registry(self) -> dict[str, Any]:
        """Who may sign what, at this point of the log: what a checkpoint carries so that
        the events after it can be verified without replaying those before."""
        latest = max(self.settings) if self.settings else None
        return {
            "users": self.users,
            "keys": self.keys,
            "settings": {str(r): self.settings[r] for r in ([latest] if latest else [])},
        }

    @classmethod
    def from_registry(cls, registry: dict[str, Any]) -> Ledger:
        ledger = cls(touched={})
        ledger.users = {str(k): dict(v) for k, v in dict(registry.get("users") or {}).items()}
        ledger.keys = {str(k): dict(v) for k, v in dict(registry.get("keys") or {}).items()}
        ledger.settings = {int(k): dict(v) for k, v in dict(registry.get("settings") or {}).items()}
        return ledger

    # --- replay ----------------------------------------------------------------------------

    def _touch(self, table: str, key: Any) -> None:
        if self.touched is not None:
            self.touched.setdefault(table, set()).add(key)

    def _find(self, event: AuditRecord, message: str, table: str = "audit_event") -> None:
        self.findings.append(Finding(table, f"event {event.seq}", "", message))

    def authorise(self, event: AuditRecord, data: dict[str, Any]) -> str | None:
        """The public key (PEM) the event's signature must verify under, after checking that
        the key, the actor and the actor's role allowed this event at this point of the log.
        None when there is no signature to verify (findings say why, if it is wrong)."""
        if not self._signed(event):
            return None
        self.signed_events += 1
        bootstrap = _bootstrap_key(event, data)
        if bootstrap is not None and not self.keys:
            # The one event signed by the key it enrols: nobody held a key before it.
            return bootstrap
        key = self._signing_key(event)
        if key is None:
            return None
        if not event.action.endswith(".refused"):
            self._check_role(event)
        applying = event.action == "settings.apply" and data.get("revision") == event.settings
        if event.settings is not None and event.settings not in self.settings and not applying:
            self._find(event, f"names settings revision {event.settings}, which does not exist")
        return str(key.get("public_key", ""))

    def _signed(self, event: AuditRecord) -> bool:
        """Whether ``event`` carries a signature to check; counts and judges those that do
        not (events from before signing, refusals, and forgeries)."""
        if event.format == LEGACY_FORMAT:
            self.legacy_events += 1
            if self.signed_events or self.unsigned_refusals:
                self._find(event, "a hash-only event (format 1) after signed events began")
            return False
        if event.format != SIGNED_FORMAT:
            self._find(event, f"is of format {event.format}, which govern never writes")
            return False
        if event.signature is None or event.key is None:
            if event.action.endswith(".refused"):
                self.unsigned_refusals += 1
            else:
                self._find(event, f"{event.action} by {event.actor} is not signed")
            return False
        return True

    def _signing_key(self, event: AuditRecord) -> dict[str, Any] | None:
        """The enrolled key that signed ``event``, if it was its actor's and active."""
        key = self.keys.get(event.key or "")
        if key is None:
            self._find(event, f"signed by a key that is not enrolled ({(event.key or '')[:23]}…)")
        elif key.get("user") != event.actor:
            self._find(
                event,
                f"{event.action} names {event.actor} but is signed by {key.get('user')}'s key",
            )
        elif key.get("status") != "active":
            self._find(event, f"signed by {event.actor}'s key after it was revoked")
        else:
            return key
        return None

    def _check_role(self, event: AuditRecord) -> None:
        user = self.users.get(event.actor)
        if user is None or not user.get("active", True):
            self._find(event, f"{event.actor} was not an active user when this was signed")
            return
        role = user.get("role")
        if event.action in _ADMIN_ACTIONS:
            if role != "admin":
                self._find(event, f"{event.action} needs an admin; {event.actor} was {role}")
            return
        key = _ROLE_KEYS.get(event.action)
        if key is None:
            return
        if user.get("kind") == "service" and key in _JUDGEMENTS:
            self._find(event, f"{event.actor} is a service account and cannot {key}")
            return
        revision = self.settings.get(event.settings) if event.settings is not None else None
        roles = ((revision or {}).get("workflow_roles") or {}).get(key) if revision else None
        if roles is not None and role not in roles:
            self._find(
                event,
                f"{event.actor} was {role}, and settings revision {event.settings} lets only "
                f"{', '.join(roles)} {key.replace('_', ' ')}",
            )

    def apply(self, event: AuditRecord, data: dict[str, Any]) -> None:
        """Update the state with what ``event`` did (refusals change nothing)."""
        action = event.action
        if action.endswith(".refused"):
            return
        handler = _HANDLERS.get(action)
        if handler is None and action in _DECISIONS:
            handler = _decision
        if handler is not None:
            try:
                handler(self, event, data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self._find(event, f"{action} payload is not what govern writes ({exc!r})")


# --- what each action did ----------------------------------------------------------------------


def _bootstrap_key(event: AuditRecord, data: dict[str, Any]) -> str | None:
    """The public key a catalogue's creation (or its upgrade to signing) enrols for the actor
    who signs it, if ``event`` is that."""
    if event.action not in {"catalogue.init", "catalogue.upgrade"}:
        return None
    key = data.get("key")
    if (
        isinstance(key, dict)
        and key.get("fingerprint") == event.key
        and key.get("user") == event.actor
    ):
        return str(key.get("public_key", ""))
    return None


def _user_of(event: AuditRecord) -> str:
    return event.subject.removeprefix("user:")


def _enrol(ledger: Ledger, event: AuditRecord, recorded: dict[str, Any]) -> None:
    fingerprint = str(recorded["fingerprint"])
    try:
        actual = fingerprint_of(load_public_key(str(recorded["public_key"])))
    except SignatureError:
        actual = "an unreadable key"
    if actual != fingerprint:
        # Otherwise events could name one key and verify under another.
        ledger._find(event, f"enrols a key whose fingerprint is not {fingerprint[:23]}…")
        return
    ledger.keys[fingerprint] = {
        "user": str(recorded["user"]),
        "status": "active",
        "public_key": str(recorded["public_key"]),
    }
    ledger._touch("user_key", fingerprint)


def _revoke(ledger: Ledger, fingerprint: str) -> None:
    if fingerprint in ledger.keys:
        ledger.keys[fingerprint]["status"] = "revoked"
    ledger._touch("user_key", fingerprint)


def _add_settings(ledger: Ledger, recorded: dict[str, Any]) -> None:
    document = recorded.get("document") or {}
    ledger.settings[int(recorded["revision"])] = {
        "sha256": str(recorded["sha256"]),
        "document": str(recorded["sha256"]),  # the stored text's hash
        "workflow_roles": document.get("workflow_roles"),
    }
    ledger._touch("governance_settings", int(recorded["revision"]))


def _add_user(ledger: Ledger, name: str, role: str, display: str, kind: str) -> None:
    ledger.users[name] = {"role": role, "active": True, "kind": kind, "display_name": display}
    ledger._touch("govern_user", name)


def _catalogue(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    admin = data.get("admin")
    if isinstance(admin, dict):
        _add_user(ledger, str(admin["name"]), "admin", str(admin.get("display_name", "")), "person")
    if isinstance(data.get("key"), dict):
        _enrol(ledger, event, data["key"])
    if isinstance(data.get("settings"), dict):
        _add_settings(ledger, data["settings"])
    if isinstance(data.get("org_certificate"), dict):
        _org_add(ledger, event, data["org_certificate"])


def _user_add(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    name = _user_of(event)
    _add_user(
        ledger,
        name,
        str(data["role"]),
        str(data.get("display_name", "")),
        str(data.get("kind") or "person"),
    )
    if isinstance(data.get("key"), dict):
        _enrol(ledger, event, data["key"])


def _user_set_role(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    name = _user_of(event)
    ledger.users.setdefault(name, {})["role"] = str(data["role"])
    ledger._touch("govern_user", name)


def _user_deactivate(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    name = _user_of(event)
    ledger.users.setdefault(name, {})["active"] = False
    ledger._touch("govern_user", name)
    for fingerprint in data.get("revoked_keys") or []:
        _revoke(ledger, str(fingerprint))


def _key_enrol(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    for old in data.get("replaces") or []:
        _revoke(ledger, str(old))
    _enrol(ledger, event, data)


def _key_revoke(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    _revoke(ledger, str(data["fingerprint"]))


def _org_add(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    fingerprint = str(data["fingerprint"])
    ledger.org[fingerprint] = {"status": "active", "certificate": str(data["certificate"])}
    ledger._touch("org_certificate", fingerprint)


def _org_rotate(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    retired = str(data["retired"])
    if retired in ledger.org:
        ledger.org[retired]["status"] = "retired"
    ledger._touch("org_certificate", retired)
    _org_add(ledger, event, data)


def _org_revoke(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    fingerprint = str(data["fingerprint"])
    if fingerprint in ledger.org:
        ledger.org[fingerprint]["status"] = "revoked"
    ledger._touch("org_certificate", fingerprint)


def _settings_apply(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    _add_settings(ledger, data)


def _register(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    artifact = data.get("artifact") or {}
    version: dict[str, Any] = {
        "card_sha256": str(data["card_sha256"]),
        "risk_tier": str(data["risk_tier"]),
        "state": "draft",
        "artifact_sha256": artifact.get("sha256"),
        "artifact_size": artifact.get("size"),
        "artifact_format": artifact.get("format"),
        "created_by": event.actor,
    }
    if event.format == SIGNED_FORMAT:
        version["next_validation_due"] = data.get("next_validation_due")
    ledger.versions[event.subject] = version
    ledger._touch("model_version", event.subject)


def _decision(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    ref = event.subject
    version = ledger.versions.setdefault(ref, {})
    version["state"] = str(data["to_state"])
    if "next_validation_due" in data:
        version["next_validation_due"] = data["next_validation_due"]
    ledger._touch("model_version", ref)
    decision = {
        "action": event.action.removeprefix("version."),
        "from_state": str(data["from_state"]),
        "to_state": str(data["to_state"]),
        "actor": event.actor,
        "role": str(data.get("role") or ""),
        "comment": str(data.get("comment") or ""),
        "seq": event.seq,
    }
    if event.format == SIGNED_FORMAT:
        decision["settings_revision"] = event.settings
    ledger.decisions.setdefault(ref, []).append(decision)
    ledger._touch("decision", ref)


def _waiver(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    waiver_id = int(data["waiver_id"])
    ledger.waivers[waiver_id] = {
        "ref": event.subject,
        "rule_id": str(data["rule"]),
        "reason": str(data["reason"]),
        "granted_by": event.actor,
        "granted_role": str(data.get("role") or ""),
        "expires_on": str(data["expires_on"]),
        "seq": event.seq,
    }
    ledger._touch("waiver", waiver_id)


def _evaluation(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    evaluation_id = int(data["evaluation_id"])
    dataset = data.get("dataset") or {}
    ledger.evaluations[evaluation_id] = {
        "ref": event.subject,
        "created_by": event.actor,
        "results_sha256": data.get("results_sha256"),
        "seq": event.seq,
        **({"explanations": int(data["explanations"])} if "explanations" in data else {}),
        # What `show` lists of an evaluation, as the event recorded it (when it did).
        **{
            column: dataset[key]
            for column, key in (
                ("dataset_name", "name"),
                ("dataset_sha256", "sha256"),
                ("rows", "rows"),
            )
            if key in dataset
        },
    }
    ledger._touch("evaluation", evaluation_id)


def _drift(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    run_id = int(data["drift_run_id"])
    ledger.drift_runs[run_id] = {
        "ref": event.subject,
        "created_by": event.actor,
        "results_sha256": data.get("results_sha256"),
        "seq": event.seq,
        **{
            f"{side}_sha256": data[side]["sha256"]
            for side in ("reference", "current")
            if isinstance(data.get(side), dict) and "sha256" in data[side]
        },
    }
    ledger._touch("drift_run", run_id)


def _policy_run(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    run_id = data.get("policy_run_id")
    if run_id is None:
        return
    counts = data.get("counts")
    ledger.policy_runs[int(run_id)] = {
        "ref": event.subject,
        "outcome": str(data["outcome"]),
        "seq": event.seq,
        # How many rules ended in each status: what the card's policy section shows.
        **(
            {"rules": {k: int(v) for k, v in counts.items() if v}}
            if isinstance(counts, dict)
            else {}
        ),
    }
    ledger._touch("policy_run", int(run_id))


def _report(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    ledger.reports.setdefault(event.subject, []).append(
        {
            "format": str(data["format"]),
            "sha256": str(data["sha256"]),
            "card_sha256": str(data["card_sha256"]),
            "created_by": event.actor,
            "seq": event.seq,
            **({"path": str(data["path"])} if "path" in data else {}),
        }
    )
    ledger._touch("report", event.subject)


def _checkpoint(ledger: Ledger, event: AuditRecord, data: dict[str, Any]) -> None:
    ledger.latest_checkpoint = {
        "seq": int(data["seq"]),
        "head_hash": str(data["head_hash"]),
        "signed_by": event.actor,
        "written_at": event.ts,
        "path": str(data.get("path") or ""),
        "sha256": str(data.get("sha256") or ""),
        "event": event.seq,
    }


_HANDLERS = {
    "audit.checkpoint": _checkpoint,
    "catalogue.init": _catalogue,
    "catalogue.upgrade": _catalogue,
    "user.add": _user_add,
    "user.set_role": _user_set_role,
    "user.deactivate": _user_deactivate,
    "key.enrol": _key_enrol,
    "key.revoke": _key_revoke,
    "org_key.add": _org_add,
    "org_key.rotate": _org_rotate,
    "org_key.revoke": _org_revoke,
    "settings.apply": _settings_apply,
    "version.register": _register,
    "waiver.grant": _waiver,
    "evaluation.create": _evaluation,
    "drift.run": _drift,
    "policy.check": _policy_run,
    "policy.gate": _policy_run,
    "report.build": _report,
}


# --- comparing with the tables ------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """One spelling per value across backends and drivers (and a tampered type shows)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return f"<BLOB {bytes(value)[:8].hex()}…>"
    if isinstance(value, float):
        return repr(value)
    return value


def _rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    *,
    where: str = "",
    group: str = "",
    order: str = "",
) -> list[Any]:
    """Rows of one of govern's tables as stored (no type conversion: a tampered value shows).

    Table and column names are govern's own, never user input.
    """
    sql = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 - govern's own names
    if where:
        sql += f" WHERE {where}"
    if group:
        sql += f" GROUP BY {group}"
    if order:
        sql += f" ORDER BY {order}"
    return list(conn.execute(text(sql)).all())


def _sha256_text(value: Any) -> str | None:
    if value is None:
        return None
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return hashlib.sha256(data).hexdigest()


class _Comparison:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.findings: list[Finding] = []

    def where(self, table: str, refs: dict[Any, str], *, by_ref: bool) -> str:
        """The SQL condition that reads only the rows to compare ("" for all of them).

        ``by_ref``: the table's rows are compared per version (decisions, reports); else per
        row id (waivers, evaluations...). Ids are govern's integers, written in the SQL.
        """
        touched = self.ledger.touched
        if touched is None:
            return ""
        wanted_refs = set(self.ledger.scope)
        if by_ref:
            wanted_refs |= touched.get(table, set())
        versions = ",".join(str(int(v)) for v, ref in refs.items() if ref in wanted_refs)
        column = "v.id" if table == "model_version" else "version_id"
        condition = f"{column} IN ({versions or 'NULL'})"
        if not by_ref:
            ids = ",".join(str(int(i)) for i in touched.get(table, set()))
            condition = f"({condition} OR id IN ({ids or 'NULL'}))"
        return condition

    def wanted(self, table: str, key: Any, ref: str | None = None) -> bool:
        touched = self.ledger.touched
        return (
            touched is None
            or key in touched.get(table, set())
            or (ref is not None and ref in self.ledger.scope)
        )

    def field(
        self,
        table: str,
        row: str,
        name: str,
        expected: Any,
        found: Any,
        seq: int | None = None,
    ) -> None:
        if type(expected) is type(found) and expected == found:
            return  # almost every field of an untouched catalogue: no normalising needed
        if _norm(expected) != _norm(found):
            self.findings.append(
                Finding(
                    table,
                    row,
                    name,
                    f"is {_show(found)}, but the log says {_show(expected)}",
                    seq,
                )
            )

    def deleted(self, table: str, row: str, seq: int | None = None) -> None:
        self.findings.append(Finding(table, row, "", "is in the log but not in the table", seq))

    def unlogged(self, table: str, row: str) -> None:
        self.findings.append(
            Finding(table, row, "", "is in the table but no event in the log created it")
        )


def _show(value: Any) -> str:
    shown = _norm(value)
    text_ = repr(shown)
    return text_ if len(text_) <= 80 else text_[:77] + "…'"


def compare(conn: Connection, ledger: Ledger) -> list[Finding]:
    """Every difference between the tables and what the log says they hold."""
    check = _Comparison(ledger)
    _compare_users(conn, check)
    _compare_keys(conn, check)
    _compare_org(conn, check)
    _compare_settings(conn, check)
    refs: dict[Any, str] = dict(
        _rows(
            conn,
            "model_version v JOIN model m ON m.id = v.model_id",
            ("v.id", "m.name || '@' || v.version"),
        )
    )
    _compare_versions(conn, check, refs)
    _compare_decisions(conn, check, refs)
    _compare_waivers(conn, check, refs)
    _compare_documents(conn, check, refs, "evaluation", ledger.evaluations)
    _compare_documents(conn, check, refs, "drift_run", ledger.drift_runs)
    _compare_policy_runs(conn, check, refs)
    _compare_reports(conn, check, refs)
    return check.findings


def _compare_keyed(
    check: _Comparison,
    table: str,
    expected: dict[Any, dict[str, Any]],
    found: Iterable[tuple[Any, str | None, dict[str, Any]]],
    label: Callable[[Any, str | None], str],
) -> set[Any]:
    """Rows keyed by a name, fingerprint, revision or id: each ``(key, version ref, fields)``
    found against the log's row of that key, field by field (``version`` against the log's
    ``ref``); rows the log has and the table lacks are named too. Returns the keys seen."""
    seen = set()
    for key, ref, fields in found:
        seen.add(key)
        if not check.wanted(table, key, ref):
            continue
        want = expected.get(key)
        if want is None:
            check.unlogged(table, label(key, ref))
            continue
        for name, value in fields.items():
            logged = "ref" if name == "version" else name
            if logged in want:
                check.field(table, label(key, ref), name, want[logged], value, want.get("seq"))
    for key in expected.keys() - seen:
        if check.wanted(table, key):
            want = expected[key]
            check.deleted(table, label(key, want.get("ref")), want.get("seq"))
    return seen


def _by_version(key: Any, ref: str | None) -> str:
    return f"#{key} ({ref})"


def _compare_users(conn: Connection, check: _Comparison) -> None:
    columns = ("name", "role", "active", "kind", "display_name")
    _compare_keyed(
        check,
        "govern_user",
        check.ledger.users,
        ((row[0], None, dict(zip(columns[1:], row[1:], strict=True)))
         for row in _rows(conn, "govern_user", columns)),
        lambda key, _ref: repr(key),
    )  # fmt: skip


def _compare_keys(conn: Connection, check: _Comparison) -> None:
    _compare_keyed(
        check,
        "user_key",
        check.ledger.keys,
        ((fingerprint, None, {"user": user, "status": status, "public_key": pem})
         for fingerprint, user, status, pem in _rows(
             conn, "user_key", ("fingerprint", "user_name", "status", "public_key")
         )),
        lambda key, _ref: f"{str(key)[:23]}…",
    )  # fmt: skip


def _compare_org(conn: Connection, check: _Comparison) -> None:
    _compare_keyed(
        check,
        "org_certificate",
        check.ledger.org,
        ((fingerprint, None, {"status": status, "certificate": certificate})
         for fingerprint, status, certificate in _rows(
             conn, "org_certificate", ("fingerprint", "status", "certificate")
         )),
        lambda key, _ref: f"{str(key)[:16]}…",
    )  # fmt: skip


def _compare_settings(conn: Connection, check: _Comparison) -> None:
    # The document is compared by its hash: the log records the hash of the whole text.
    _compare_keyed(
        check,
        "governance_settings",
        check.ledger.settings,
        ((revision, None, {"sha256": sha256, "document": _sha256_text(document)})
         for revision, document, sha256 in _rows(
             conn, "governance_settings", ("revision", "document", "sha256")
         )),
        lambda key, _ref: f"revision {key}",
    )  # fmt: skip


def _card_hash(card_text: Any) -> str:
    try:
        card = json.loads(card_text)
    except (TypeError, ValueError):
        return "<not JSON>"
    return hashlib.sha256(canonical_json(card).encode("utf-8")).hexdigest()


def _compare_versions(conn: Connection, check: _Comparison, refs: dict[Any, str]) -> None:
    """Compare versions (each with its card, re-hashed) with their registrations and
    decisions."""
    expected = check.ledger.versions
    seen = set()
    for _vid, ref, state, tier, card_sha, card_text, artifact, due, created_by, size, kind in _rows(
        conn,
        "model_version v JOIN model m ON m.id = v.model_id",
        (
            "v.id",
            "m.name || '@' || v.version",
            "v.state",
            "v.risk_tier",
            "v.card_sha256",
            "CAST(v.card AS TEXT)",
            "v.artifact_sha256",
            "v.next_validation_due",
            "v.created_by",
            "v.artifact_size",
            "v.artifact_format",
        ),
        where=check.where("model_version", refs, by_ref=True),
    ):
        seen.add(ref)
        if not check.wanted("model_version", ref, ref):
            continue
        want = expected.get(ref)
        if want is None or ("card_sha256" not in want and not check.ledger.partial):
            check.unlogged("model_version", ref)
            continue
        found = {
            "state": state,
            "risk_tier": tier,
            "card_sha256": card_sha,
            "artifact_sha256": artifact,
            "next_validation_due": due,
            "created_by": created_by,
            "artifact_size": size,
            "artifact_format": kind,
        }
        for name, value in found.items():
            if name in want:
                check.field("model_version", ref, name, want[name], value)
        if "card_sha256" in want:
            check.field("model_version", ref, "card", want["card_sha256"], _card_hash(card_text))
    for ref in expected.keys() - seen:
        if check.wanted("model_version", ref):
            check.deleted("model_version", ref)


def _compare_lists(
    check: _Comparison,
    table: str,
    expected: dict[str, list[dict[str, Any]]],
    found: dict[str, list[tuple[Any, dict[str, Any]]]],
    fields: Sequence[str],
) -> None:
    """Per version, the n-th row (by id) against the n-th event that created one."""
    for ref in sorted(expected.keys() | found.keys()):
        if not check.wanted(table, ref, ref):
            continue
        wants = expected.get(ref, [])
        rows = found.get(ref, [])
        if check.ledger.partial and len(rows) > len(wants):
            rows = rows[len(rows) - len(wants) :]
        for index in range(max(len(wants), len(rows))):
            if index >= len(rows):
                check.deleted(
                    table, f"of {ref} ({wants[index].get('action', '')})", wants[index]["seq"]
                )
                continue
            row_id, row = rows[index]
            label = f"#{row_id} ({ref}{', ' + str(row.get('action')) if 'action' in row else ''})"
            if index >= len(wants):
                check.unlogged(table, label)
                continue
            want = wants[index]
            for name in fields:
                if name in want:
                    check.field(table, label, name, want[name], row.get(name), want["seq"])


def _compare_decisions(conn: Connection, check: _Comparison, refs: dict[Any, str]) -> None:
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    names = ("action", "from_state", "to_state", "actor", "role", "comment", "settings_revision")
    where = check.where("decision", refs, by_ref=True)
    for row in _rows(conn, "decision", ("id", "version_id", *names), where=where, order="id"):
        ref = refs.get(row[1], f"version {row[1]}")
        found.setdefault(ref, []).append((row[0], dict(zip(names, row[2:], strict=True))))
    _compare_lists(check, "decision", check.ledger.decisions, found, names)


def _compare_reports(conn: Connection, check: _Comparison, refs: dict[Any, str]) -> None:
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    names = ("format", "sha256", "card_sha256", "created_by", "path")
    where = check.where("report", refs, by_ref=True)
    for row in _rows(conn, "report", ("id", "version_id", *names), where=where, order="id"):
        ref = refs.get(row[1], f"version {row[1]}")
        found.setdefault(ref, []).append((row[0], dict(zip(names, row[2:], strict=True))))
    _compare_lists(check, "report", check.ledger.reports, found, names)


def _compare_waivers(conn: Connection, check: _Comparison, refs: dict[Any, str]) -> None:
    names = ("rule_id", "reason", "granted_by", "granted_role", "expires_on")
    where = check.where("waiver", refs, by_ref=False)
    rows = _rows(conn, "waiver", ("id", "version_id", *names), where=where)
    _compare_keyed(
        check,
        "waiver",
        check.ledger.waivers,
        (
            (row[0], ref, {"version": ref, **dict(zip(names, row[2:], strict=True))})
            for row in rows
            for ref in [refs.get(row[1], f"version {row[1]}")]
        ),
        _by_version,
    )


#: What each document table shows beside its results, and the log records.
_DOCUMENT_COLUMNS = {
    "evaluation": ("created_by", "dataset_name", "dataset_sha256", "rows"),
    "drift_run": ("created_by", "reference_sha256", "current_sha256"),
}


def _compare_documents(
    conn: Connection,
    check: _Comparison,
    refs: dict[Any, str],
    table: str,
    expected: dict[int, dict[str, Any]],
) -> None:
    """Evaluations and drift runs: their version, author, data sets and results hash."""
    columns = _DOCUMENT_COLUMNS[table]
    where = check.where(table, refs, by_ref=False)
    rows = _rows(conn, table, ("id", "version_id", *columns), where=where)
    local: dict[Any, int] = {}
    if table == "evaluation":  # the per-decision explanations stored with it
        within = "SELECT id FROM evaluation" + (f" WHERE {where}" if where else "")  # noqa: S608
        counted = f"kind = 'local' AND evaluation_id IN ({within})"
        local = dict(
            _rows(
                conn,
                "explanation",
                ("evaluation_id", "count(*)"),
                where=counted,
                group="evaluation_id",
            )
        )
    seen = _compare_keyed(
        check,
        table,
        expected,
        (
            (
                row[0],
                ref,
                {
                    "version": ref,
                    **dict(zip(columns, row[2:], strict=True)),
                    "explanations": local.get(row[0], 0),
                },
            )
            for row in rows
            for ref in [refs.get(row[1], f"version {row[1]}")]
        ),
        _by_version,
    )
    hashed = sorted(
        i for i in seen if expected.get(i, {}).get("results_sha256") and check.wanted(table, i)
    )
    for start in range(0, len(hashed), 200):
        chunk = ",".join(str(int(i)) for i in hashed[start : start + 200])
        for row_id, results in _rows(
            conn, table, ("id", "CAST(results AS TEXT)"), where=f"id IN ({chunk})"
        ):
            want = expected[row_id]
            check.field(
                table,
                _by_version(row_id, want["ref"]),
                "results",
                want["results_sha256"],
                _sha256_text(results),
                want["seq"],
            )


def _compare_policy_runs(conn: Connection, check: _Comparison, refs: dict[Any, str]) -> None:
    scoped = check.where("policy_run", refs, by_ref=False)
    where = "version_id IS NOT NULL" + (f" AND {scoped}" if scoped else "")
    rows = _rows(conn, "policy_run", ("id", "version_id", "outcome"), where=where)
    rules: dict[Any, dict[str, int]] = {}
    counted = f"policy_run_id IN (SELECT id FROM policy_run WHERE {where})"  # noqa: S608 - ours
    for run_id, status, count in _rows(
        conn,
        "rule_result",
        ("policy_run_id", "status", "count(*)"),
        where=counted,
        group="policy_run_id, status",
    ):
        rules.setdefault(run_id, {})[str(status)] = int(count)
    _compare_keyed(
        check,
        "policy_run",
        check.ledger.policy_runs,
        (
            (run_id, ref, {"version": ref, "outcome": outcome, "rules": rules.get(run_id, {})})
            for run_id, version_id, outcome in rows
            for ref in [refs.get(version_id, f"version {version_id}")]
        ),
        _by_version,
    )


__all__ = ["Finding", "Ledger", "compare"]
