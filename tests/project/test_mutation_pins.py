"""Pins found by mutation testing (``make mutate``, docs/mutation.md).

Each test here kills mutants of the security-critical code that the rest of the suite let
survive: a default that was never read back, a boundary never crossed, a message never
compared. Pure and fast on purpose: mutmut runs them once per mutant.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from govern import personal_keys
from govern.domain import governance, lifecycle, people, roles
from govern.domain.governance import GovernanceSettings, PolicyBinding
from govern.domain.lifecycle import Action, Approval, Quorum, State, TransitionRefused
from govern.domain.roles import Role
from govern.errors import InputError, PermissionDenied, SignatureError, WorkflowError
from govern.policy.engine import evaluate_rule as check_approvals
from govern.policy.schema import ApprovalsRule
from govern.policy.snapshot import DecisionRecord
from govern.services import Context, keys, users, workflow
from govern.services import audit as audit_service
from govern.services import governance as governance_service
from govern.storage import audit
from govern.storage.audit import AuditRecord, Signer
from govern.storage.tables import Decision, ModelVersion
from tests.builders import NOW as POLICY_NOW
from tests.conftest import Catalogue, key_dir, public_key
from tests.policy.helpers import snapshot

# --- lifecycle: refusals, quorum, due dates ---------------------------------------------------


def test_a_refusal_names_the_action_the_state_and_the_states_that_allow_it() -> None:
    refused = TransitionRefused(State.DRAFT, Action.APPROVE)
    assert refused.reason("m@1.0.0") == (
        "cannot approve m@1.0.0: it is draft; that needs a version that is submitted"
    )
    retire = TransitionRefused(State.RETIRED, Action.RETIRE).reason("m@1.0.0")
    assert retire == (
        "cannot retire m@1.0.0: it is read-only; that needs a version that is "
        "approved or deployed or shadow"
    )


def test_every_action_has_its_verb() -> None:
    assert {action: lifecycle.verb(action) for action in Action} == {
        Action.SUBMIT: "submit",
        Action.APPROVE: "approve",
        Action.REJECT: "reject",
        Action.REQUEST_CHANGES: "request changes to",
        Action.SHADOW: "deploy in shadow",
        Action.DEPLOY: "deploy",
        Action.RETIRE: "retire",
        Action.SUPERSEDE: "supersede",
        Action.DEMOTE: "move to shadow",
    }


def test_live_terminal_and_automatic_sets() -> None:
    assert frozenset({State.SHADOW, State.DEPLOYED}) == lifecycle.LIVE
    assert frozenset({State.REJECTED, State.RETIRED}) == lifecycle.TERMINAL
    assert frozenset({Action.SUPERSEDE, Action.DEMOTE}) == lifecycle.AUTOMATIC


def test_quorum_counts_and_describes_exactly() -> None:
    approvals = [Approval("carol", "approver"), Approval("erin", "compliance")]
    result = lifecycle.quorum(
        "high", approvals, required_by_tier={"high": 2}, compliance_tiers=["critical"]
    )
    assert result == Quorum(have=2, need=2, needs_compliance=False, has_compliance=True)
    assert result.met
    assert result.describe() == "2 of 2 approvals"


def test_quorum_of_an_unlisted_tier_needs_one_and_never_less() -> None:
    one = [Approval("carol", "approver")]
    assert lifecycle.quorum("odd", one, required_by_tier={}, compliance_tiers=[]).need == 1
    zero = lifecycle.quorum("low", one, required_by_tier={"low": 0}, compliance_tiers=[])
    assert zero.need == 1
    assert zero.met


def test_quorum_keeps_the_first_role_of_a_repeated_approver() -> None:
    twice = [Approval("dave", "approver"), Approval("dave", "compliance")]
    result = lifecycle.quorum("critical", twice, required_by_tier={}, compliance_tiers=["critical"])
    assert result.have == 1
    assert result.needs_compliance
    assert not result.has_compliance


def test_quorum_met_at_the_boundary_and_its_description() -> None:
    assert Quorum(have=2, need=2, needs_compliance=False, has_compliance=False).met
    assert not Quorum(have=1, need=2, needs_compliance=False, has_compliance=False).met
    assert not Quorum(have=3, need=2, needs_compliance=True, has_compliance=False).met
    assert Quorum(have=3, need=2, needs_compliance=True, has_compliance=True).met
    short = Quorum(have=1, need=2, needs_compliance=True, has_compliance=False)
    assert short.describe() == "1 of 2 approvals, one of them from the compliance role"
    assert Quorum(1, 2, True, True).describe() == "1 of 2 approvals"
    assert Quorum(3, 2, False, False).describe() == "3 approvals (2 needed)"  # never "3 of 2"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (dt.date(2026, 1, 15), 0, dt.date(2026, 1, 15)),
        (dt.date(2026, 1, 15), 11, dt.date(2026, 12, 15)),
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 4, 30)),
        (dt.date(2026, 7, 31), 2, dt.date(2026, 9, 30)),
        (dt.date(2023, 12, 31), 2, dt.date(2024, 2, 29)),
        (dt.date(2026, 1, 29), 1, dt.date(2026, 2, 28)),
        (dt.date(2026, 1, 30), 1, dt.date(2026, 2, 28)),
        (dt.date(2026, 8, 31), -6, dt.date(2026, 2, 28)),
        (dt.date(2026, 5, 10), 25, dt.date(2028, 6, 10)),
    ],
)
def test_add_months_at_year_and_month_ends(start: dt.date, months: int, expected: dt.date) -> None:
    assert lifecycle.add_months(start, months) == expected


def test_revalidation_of_an_unlisted_tier_is_twelve_months() -> None:
    assert lifecycle.revalidation_due(dt.date(2026, 3, 31), "odd", {}) == dt.date(2027, 3, 31)
    assert lifecycle.revalidation_due(dt.date(2026, 3, 31), "low", {"low": 1}) == dt.date(
        2026, 4, 30
    )


def test_roles_read_as_nouns() -> None:
    assert [roles.as_noun(role) for role in roles.Role] == [
        "a viewer",
        "a developer",
        "a validator",
        "an approver",
        "a compliance officer",
        "an admin",
    ]
    assert roles.as_noun("reviewer") == "a reviewer"


# --- the audit chain (govern/storage/audit.py) on a bare SQLite table -------------------------


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Connection]:
    """A real SQLite file holding only the audit table, in one open transaction."""
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    audit._table.create(engine)
    with engine.begin() as conn:
        yield conn
    engine.dispose()


def _signer(tag: bytes = b"sig") -> Signer:
    return Signer("SHA256:k", lambda body: tag + hashlib.sha256(body).digest()[:4])


def _append(conn: Connection, n: int, **fields: Any) -> list[AuditRecord]:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    return [
        audit.append_event(
            conn,
            actor=fields.get("actor", "alice"),
            action=fields.get("action", "model.register"),
            subject=fields.get("subject", f"m@{i}"),
            payload=fields.get("payload"),
            catalogue_id="cat-1",
            settings_revision=fields.get("settings", 3),
            signer=fields.get("signer", _signer()),
            moment=moment,
        )
        for i in range(n)
    ]


def test_canonical_json_is_sorted_compact_unescaped_and_refuses_nan() -> None:
    value = {"b": [1, 2], "a": "é", "d": dt.date(2026, 1, 2), "s": {"y", "x"}}
    assert audit.canonical_json(value) == '{"a":"é","b":[1,2],"d":"2026-01-02","s":["x","y"]}'
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert audit.canonical_json([moment, frozenset({2, 1})]) == (
        '["2026-01-02T03:04:05+00:00",[1,2]]'
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        audit.canonical_json(float("nan"))
    with pytest.raises(TypeError, match=r"^bytes is not JSON serialisable$"):
        audit.canonical_json(b"x")


def test_format_ts_is_utc_with_microseconds() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=paris)
    assert audit.format_ts(moment) == "2026-01-02T02:04:05.000060Z"


def test_a_record_is_signed_only_in_format_2_with_a_signature() -> None:
    base = AuditRecord(1, "t", "a", "x", "", "{}", audit.GENESIS_HASH, "h")
    assert not base.signed
    assert not replace(base, signature="c2ln").signed
    assert not replace(base, format=audit.SIGNED_FORMAT).signed
    assert replace(base, format=audit.SIGNED_FORMAT, signature="c2ln").signed


def test_expected_hash_follows_the_format_and_uses_a_given_body() -> None:
    legacy = AuditRecord(1, "t", "a", "x", "s", "{}", audit.GENESIS_HASH, "h")
    body = audit.legacy_body(1, "t", "a", "x", "s", "{}")
    assert legacy.expected_hash("cat-1") == audit.legacy_hash(audit.GENESIS_HASH, body)
    signed = replace(legacy, format=audit.SIGNED_FORMAT, key="k", settings=2)
    assert signed.expected_hash("cat-1") == audit.event_hash(signed.body("cat-1"))
    assert signed.expected_hash("cat-2") != signed.expected_hash("cat-1")
    assert signed.expected_hash("cat-1", b"other") == hashlib.sha256(b"other").hexdigest()


def test_a_payload_that_is_not_a_json_object_is_shown_raw() -> None:
    assert audit.decode_payload('{"a": 1}') == {"a": 1}
    assert audit.decode_payload("[1]") == {"unreadable_payload": "[1]"}
    assert audit.decode_payload("{nope") == {"unreadable_payload": "{nope"}
    deep = "[" * 100_000 + "]" * 100_000
    assert audit.decode_payload(deep) == {"unreadable_payload": deep}
    assert audit.decode_payload(None) == {"unreadable_payload": "None"}  # type: ignore[arg-type]


def test_appended_events_chain_from_genesis_and_are_stored_as_returned(log: Connection) -> None:
    assert audit.head(log) == (0, audit.GENESIS_HASH)
    assert audit.count_events(log) == 0
    first, second = _append(log, 2, payload={"n": 1})
    assert (first.seq, first.prev_hash) == (1, audit.GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.ts == "2026-01-02T03:04:05.000006Z"
    assert (first.format, first.key, first.settings, first.payload) == (2, "SHA256:k", 3, '{"n":1}')
    assert first.hash == audit.event_hash(first.body("cat-1"))
    assert first.signature == base64.b64encode(
        b"sig" + hashlib.sha256(first.body("cat-1")).digest()[:4]
    ).decode("ascii")
    assert audit.head(log) == (2, second.hash)
    assert audit.count_events(log) == 2
    assert list(audit.iter_events(log)) == [first, second]
    assert audit.event_at(log, 2) == second


def test_a_refusal_record_has_no_key_and_no_signature(log: Connection) -> None:
    (refusal,) = _append(log, 1, signer=None, settings=None)
    assert (refusal.key, refusal.signature, refusal.settings, refusal.payload) == (
        None,
        None,
        None,
        "{}",
    )
    assert not refusal.signed
    assert audit.event_at(log, 1) == refusal


def test_an_append_without_a_moment_is_stamped_now(log: Connection) -> None:
    before = audit.format_ts(dt.datetime.now(dt.UTC))
    event = audit.append_event(
        log, actor="a", action="x", catalogue_id="c", settings_revision=None, signer=None
    )
    assert before <= event.ts <= audit.format_ts(dt.datetime.now(dt.UTC))
    assert event.subject == ""


def test_has_log_sees_a_dropped_table(log: Connection) -> None:
    assert audit.has_log(log)
    log.exec_driver_sql("DROP TABLE audit_event")
    assert audit.has_log(log) is False


ROW = (1, "t", "a", "x", "", "{}", "p", "h", 2, None, None, None)


@pytest.mark.parametrize(
    ("index", "value", "why"),
    [
        (0, "1", "its seq is stored as str, not as govern writes it"),
        (0, True, "its seq is stored as bool, not as govern writes it"),
        (5, b"{}", "its payload is stored as a BLOB, not as govern writes it"),
        (5, memoryview(b"{}"), "its payload is stored as a BLOB, not as govern writes it"),
        (8, 2.0, "its format is stored as float, not as govern writes it"),
        (9, 7, "its key_fingerprint is stored as int, not as govern writes it"),
        (10, "3", "its settings_revision is stored as str, not as govern writes it"),
        (11, 1, "its signature is stored as int, not as govern writes it"),
    ],
)
def test_malformed_names_the_field_and_what_it_holds(index: int, value: Any, why: str) -> None:
    row = list(ROW)
    row[index] = value
    assert audit.malformed(tuple(row)) == why


def test_well_formed_rows_are_not_malformed() -> None:
    assert audit.malformed(ROW) is None
    assert audit.malformed((*ROW[:9], "k", 4, "c2ln")) is None


class _Int(int):
    """An int subclass passes isinstance but not the exact-type fast path."""


def test_an_int_subclass_takes_the_slow_path_and_is_accepted() -> None:
    assert audit.malformed((_Int(1), *ROW[1:])) is None


def test_rows_are_paged_in_batches_after_a_sequence_number(log: Connection) -> None:
    events = _append(log, 5)
    assert [row[0] for row in audit.iter_rows(log, batch=2)] == [1, 2, 3, 4, 5]
    assert [row[0] for row in audit.iter_rows(log, after=3, batch=1)] == [4, 5]
    assert list(audit.iter_events(log, after=4)) == events[4:]


def test_a_tampered_row_ends_the_walk(log: Connection) -> None:
    _append(log, 4)
    log.exec_driver_sql("UPDATE audit_event SET payload = CAST(payload AS BLOB) WHERE seq = 2")
    assert [event.seq for event in audit.iter_events(log)] == [1]
    assert audit.event_at(log, 2) is None
    assert audit.event_at(log, 9) is None
    assert [event.seq for event in audit.query_events(log)] == [4, 3, 1]


def test_query_events_filters_pages_and_limits(log: Connection) -> None:
    _append(log, 1, subject="credit-risk@1.0.0", action="version.approve", actor="carol")
    _append(log, 1, subject="credit_risk@1.0.0", action="version.approved", actor="erin")
    _append(log, 1, subject="credit-risk", action="model.register", actor="carol")
    _append(log, 1, subject="credit-risk-2@1.0.0", action="version", actor="carol")

    def seqs(**filters: Any) -> list[int]:
        return [event.seq for event in audit.query_events(log, **filters)]

    assert seqs() == [4, 3, 2, 1]
    assert seqs(actor="carol") == [4, 3, 1]
    assert seqs(subject="credit-risk") == [3, 1]
    assert seqs(subject="credit_risk") == [2]
    assert seqs(action="version") == [4, 2, 1]
    assert seqs(action="version.approve") == [1]
    assert seqs(before_seq=3) == [2, 1]
    assert seqs(limit=2) == [4, 3]
    assert seqs(actor="carol", before_seq=4, limit=1) == [3]


def test_events_about_and_registry_events_select_exact_subjects(log: Connection) -> None:
    for subject in ["m@1", "", "settings", "org", "user:bob", "user", "m@2", "orgs"]:
        _append(log, 1, subject=subject)
    assert audit.events_about(log, []) == []
    assert [e.subject for e in audit.events_about(log, ["m@2", "m@1", "m@1"])] == ["m@1", "m@2"]
    assert [e.subject for e in audit.registry_events(log)] == ["", "settings", "org", "user:bob"]


def test_hashes_at_reads_in_chunks_and_skips_missing(log: Connection) -> None:
    log.execute(
        audit._INSERT,
        [
            {
                "seq": seq,
                "ts": "t",
                "actor": "a",
                "action": "x",
                "subject": "",
                "payload": "{}",
                "prev_hash": "p",
                "hash": f"h{seq}",
            }
            for seq in range(1, 1003)
        ],
    )
    found = audit.hashes_at(log, [*range(1, 1003), 1003, 1, 2])
    assert len(found) == 1002
    assert (found[1], found[500], found[501], found[1002]) == ("h1", "h500", "h501", "h1002")
    assert 1003 not in found


# --- checkpoints and signature verification (services/audit.py, personal_keys.py) -------------


def _event(seq: int, prev: str = "p", fmt: int = 2) -> AuditRecord:
    return AuditRecord(seq, "t", "a", "x", "", "{}", prev, "h", fmt)


def test_chain_problems_name_the_event_and_the_fault() -> None:
    assert audit_service._chain_problem(_event(3), 3, "p") is None
    assert audit_service._chain_problem(_event(3, fmt=1), 3, "p") is None
    assert audit_service._chain_problem(_event(4), 3, "p") == "event 3 is missing"
    assert audit_service._chain_problem(_event(2), 3, "p") == "event 2 is out of order"
    assert audit_service._chain_problem(_event(3, fmt=3), 3, "p") == (
        "event 3 is of format 3, which govern never writes"
    )
    assert audit_service._chain_problem(_event(3, fmt=0), 3, "p") is not None
    assert audit_service._chain_problem(_event(3, prev="q"), 3, "p") == (
        "event 3 does not follow event 2 (its link to the previous hash is broken)"
    )


def test_an_event_signature_is_strict_base64_or_nothing() -> None:
    def sig(value: str | None) -> bytes:
        return audit_service._signature(replace(_event(1), signature=value))

    assert sig(base64.b64encode(b"\x00\xffsig").decode()) == b"\x00\xffsig"
    assert sig(None) == b""
    assert sig("not base64!") == b""
    assert sig("é") == b""


def _key(kind: str) -> Any:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(public: Any) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _checkpoint(key: Any, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": audit_service.CHECKPOINT_FORMAT,
        "catalogue_id": "cat-1",
        "seq": 5,
        "head_hash": "h5",
        "created_by": "admin",
        **fields,
    }
    value = personal_keys.sign(key, audit_service._checkpoint_body(document))
    public = key.public_key()
    document["signature"] = {
        "algorithm": personal_keys.algorithm_of(public),
        "key": personal_keys.fingerprint_of(public),
        "public_key": _pem(public),
        "value": base64.b64encode(value).decode("ascii"),
    }
    return document


def test_the_checkpoint_body_is_canonical_json() -> None:
    assert audit_service._checkpoint_body({"b": "é", "a": 1}) == '{"a":1,"b":"é"}'.encode()


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_a_checkpoint_signature_verifies_only_over_its_own_content(kind: str) -> None:
    document = _checkpoint(_key(kind))
    assert audit_service._checkpoint_signature(document) == []
    altered = {**document, "head_hash": "h6"}
    assert audit_service._checkpoint_signature(altered) == [
        "checkpoint signature does not match its content (the file was altered)"
    ]


def test_a_checkpoint_signature_that_cannot_be_read_or_names_another_key() -> None:
    document = _checkpoint(_key("ed25519"))
    unreadable = ["checkpoint signature is unreadable"]
    for signature in (
        {**document["signature"], "public_key": "nope"},
        {k: v for k, v in document["signature"].items() if k != "public_key"},
        {**document["signature"], "value": "not base64!"},
        {**document["signature"], "value": "é"},
    ):
        assert audit_service._checkpoint_signature({**document, "signature": signature}) == (
            unreadable
        )
    no_value = {k: v for k, v in document["signature"].items() if k != "value"}
    assert audit_service._checkpoint_signature({**document, "signature": no_value}) == [
        "checkpoint signature does not match its content (the file was altered)"
    ]
    other = {**document["signature"], "key": "sha256:00"}
    assert audit_service._checkpoint_signature({**document, "signature": other}) == [
        "checkpoint names a key other than the one its signature carries"
    ]


def _read(tmp_path: Path, content: bytes | str) -> dict[str, Any]:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return audit_service.read_checkpoint(path)


GOOD = {
    "format": audit_service.CHECKPOINT_FORMAT,
    "catalogue_id": "cat-1",
    "seq": 5,
    "head_hash": "h5",
    "signature": {},
}


def test_read_checkpoint_returns_the_document(tmp_path: Path) -> None:
    assert _read(tmp_path, json.dumps(GOOD)) == GOOD


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_a_checkpoint_lacking_any_one_field_is_refused(tmp_path: Path, missing: str) -> None:
    document = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(InputError, match=r"checkpoint.json: not a govern checkpoint \(missing"):
        _read(tmp_path, json.dumps(document))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "5"),
        ("seq", True),
        ("seq", 5.0),
        ("signature", "sig"),
        ("head_hash", 5),
        ("catalogue_id", None),
    ],
)
def test_a_checkpoint_field_of_the_wrong_type_is_refused(
    tmp_path: Path, field: str, value: Any
) -> None:
    with pytest.raises(InputError, match=r"^.*checkpoint.json: not a govern checkpoint \(wrong"):
        _read(tmp_path, json.dumps({**GOOD, field: value}))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "checkpoint file is empty"),
        (b" \n\t", "checkpoint file is empty"),
        (b"[1]", "not a govern checkpoint (missing fields)"),
        (b"\xff{}", "not a govern checkpoint (invalid JSON: "),
        (b"{nope", "not a govern checkpoint (invalid JSON: "),
        (b"[" * 100_000, "not a govern checkpoint (invalid JSON: "),
        (
            json.dumps({**GOOD, "format": "govern-audit-checkpoint/1"}).encode(),
            "unsupported checkpoint format 'govern-audit-checkpoint/1'",
        ),
    ],
)
def test_bad_checkpoint_contents_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InputError) as refused:
        _read(tmp_path, content)
    assert str(refused.value).startswith(f"{tmp_path / 'checkpoint.json'}: {message}")


def test_a_checkpoint_at_the_size_limit_is_read_and_one_byte_more_is_refused(
    tmp_path: Path,
) -> None:
    text = json.dumps(GOOD)
    limit = audit_service._MAX_CHECKPOINT_BYTES
    assert _read(tmp_path, text + " " * (limit - len(text))) == GOOD
    with pytest.raises(InputError) as refused:
        _read(tmp_path, text + " " * (limit + 1 - len(text)))
    assert str(refused.value).endswith(f"too large for a checkpoint ({limit + 1} bytes)")


def test_a_checkpoint_path_that_is_missing_or_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        audit_service.read_checkpoint(tmp_path / "none.json")
    assert str(missing.value) == f"{tmp_path / 'none.json'}: no such checkpoint file"
    with pytest.raises(InputError) as directory:
        audit_service.read_checkpoint(tmp_path)
    assert str(directory.value) == f"{tmp_path}: is a directory, expected a checkpoint file"


def _walk_at(head_seq: int, **fields: Any) -> Any:
    return audit_service._Walk(head_seq=head_seq, **fields)


REGISTRY = {
    "keys": {"sha256:a": {"status": "active", "user": "root"}},
    "users": {"root": {"role": "admin"}},
}


def _against(document: dict[str, Any], walk: Any) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    summary = audit_service._against_checkpoint(None, "cat-1", document, walk, problems)  # type: ignore[arg-type]
    return problems, summary


def test_a_checkpoint_against_the_log_it_covers() -> None:
    document = _checkpoint(_key("ed25519"))
    document["signature"]["key"] = "sha256:a"  # the registry below names it; signature aside
    problems, summary = _against(document, _walk_at(7, snapshot=REGISTRY, snapshot_hash="h5"))
    assert problems == ["checkpoint names a key other than the one its signature carries"]
    assert summary == {
        "seq": 5,
        "signed_by": "admin",
        "key": "sha256:a",
        "covers": "events 1-5",
        "events_after": 2,
    }
    assert (
        _against(document, _walk_at(5, snapshot=REGISTRY, snapshot_hash="h5"))[1]["events_after"]
        == 0
    )


def _verdicts(document: dict[str, Any], walk: Any) -> list[str]:
    return _against(document, walk)[0]


def test_checkpoint_findings_other_catalogue_truncation_rewrite_and_signer() -> None:
    document = _checkpoint(_key("ed25519"))
    fingerprint = document["signature"]["key"]
    registry = {
        "keys": {fingerprint: {"status": "active", "user": "root"}},
        "users": {"root": {"role": "admin"}},
    }
    assert _verdicts(document, _walk_at(5, snapshot=registry, snapshot_hash="h5")) == []
    assert _verdicts(document, _walk_at(5)) == []
    assert _verdicts({**_checkpoint(_key("ed25519"), catalogue_id="cat-2")}, _walk_at(5)) == [
        "checkpoint belongs to a different catalogue"
    ]
    assert _verdicts(document, _walk_at(4)) == [
        "log truncated: the checkpoint records event 5, but the log ends at event 4"
    ]
    assert _verdicts(document, _walk_at(4, first_bad=3)) == []
    assert _verdicts(document, _walk_at(5, snapshot_hash="h4")) == [
        "log rewritten: event 5 no longer has the hash recorded in the checkpoint"
    ]
    not_admin = "the checkpoint was not signed by the key of an admin of this catalogue at event 5"
    revoked = {**registry, "keys": {fingerprint: {"status": "revoked", "user": "root"}}}
    viewer = {**registry, "users": {"root": {"role": "viewer"}}}
    for registry_then in (revoked, viewer, {"keys": {}, "users": {}}):
        assert _verdicts(document, _walk_at(5, snapshot=registry_then, snapshot_hash="h5")) == [
            not_admin
        ]


def test_public_keys_are_loaded_from_pem_or_a_certificate_and_weak_ones_refused() -> None:
    key = _key("ecdsa")
    public = key.public_key()
    assert personal_keys.fingerprint_of(personal_keys.load_public_key(_pem(public))) == (
        personal_keys.fingerprint_of(public)
    )
    assert personal_keys.load_public_key(_pem(public).encode()) == public
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    loaded = personal_keys.load_public_key(cert.public_bytes(serialization.Encoding.PEM))
    assert loaded == public

    def refusal(pem: str) -> str:
        with pytest.raises(SignatureError) as refused:
            personal_keys.load_public_key(pem)
        return str(refused.value)

    with pytest.raises(SignatureError, match=r"^k\.pem: not a PEM public key or certificate$"):
        personal_keys.load_public_key("nope", where="k.pem")
    assert refusal("é") == "public key: not a PEM public key or certificate"
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert refusal(_pem(p384)) == "public key: ECDSA keys must use the P-256 curve"
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    assert refusal(_pem(weak)) == "public key: RSA keys must have at least 2048 bits"
    x = x25519.X25519PrivateKey.generate().public_key()
    assert refusal(_pem(x)) == "public key: only ECDSA P-256, Ed25519 and RSA keys can sign"


def test_algorithm_names_and_fingerprints() -> None:
    ed = _key("ed25519").public_key()
    assert personal_keys.algorithm_of(ed) == "ed25519"
    assert personal_keys.algorithm_of(_key("ecdsa").public_key()) == "ecdsa-p256"
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert personal_keys.algorithm_of(p384) == "secp384r1"
    assert personal_keys.algorithm_of(_key("rsa").public_key()) == "rsa-2048"
    der = ed.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert personal_keys.fingerprint_of(ed) == "sha256:" + hashlib.sha256(der).hexdigest()
    assert personal_keys.public_key_of(_pem(ed)) == ed


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_verify_accepts_the_signature_and_nothing_else(kind: str) -> None:
    key = _key(kind)
    signature = personal_keys.sign(key, b"data")
    assert personal_keys.verify(key.public_key(), b"data", signature) is True
    assert personal_keys.verify(key.public_key(), b"date", signature) is False
    assert personal_keys.verify(_key(kind).public_key(), b"data", signature) is False
    assert personal_keys.verify(object(), b"data", signature) is False


def test_verify_many_names_the_items_that_fail_in_order() -> None:
    keys = [_key("ed25519"), _key("ecdsa")]
    pems = [_pem(key.public_key()) for key in keys]
    items = [
        (pems[0], b"a", personal_keys.sign(keys[0], b"a")),
        (pems[1], b"b", personal_keys.sign(keys[1], b"x")),
        ("not a key", b"c", b"sig"),
        (pems[1], b"d", personal_keys.sign(keys[1], b"d")),
        (pems[0], b"e", personal_keys.sign(keys[1], b"e")),
        ("not a key", b"f", b"sig"),
    ]
    assert personal_keys.verify_many(items) == [1, 2, 4, 5]
    assert personal_keys.verify_many([]) == []
    with personal_keys.SignatureChecks(len(items), workers=1) as checks:
        for item in items:
            checks.add(*item)
        assert checks.failed() == [1, 2, 4, 5]
        assert checks.failed() == []


# --- governance settings and user names (domain/governance.py, domain/people.py) ---------------


def _refusal(**document: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        GovernanceSettings.model_validate(document)
    (error,) = refused.value.errors()
    return str(error["msg"]).removeprefix("Value error, ")


def test_governance_defaults_are_read_back() -> None:
    settings = GovernanceSettings()
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 2, "critical": 2}
    assert settings.revalidation_months_by_tier == {
        "low": 36,
        "medium": 24,
        "high": 12,
        "critical": 12,
    }
    assert settings.compliance_approval_tiers == ["critical"]
    assert settings.workflow_roles == governance.DEFAULT_WORKFLOW_ROLES
    assert settings.workflow_roles["approve"] == ["approver", "compliance"]
    assert settings.policy_bindings == governance.DEFAULT_POLICY_BINDINGS
    assert settings.allowed_artifact_formats == ["skops", "onnx", "pickle", "joblib"]
    assert settings.skops_trusted_types == governance.DEFAULT_SKOPS_TRUSTED_TYPES
    assert settings.promotion_max_regression == governance.DEFAULT_PROMOTION_MAX_REGRESSION
    assert (settings.validation_due, settings.identity) == ("earliest", "signature")
    assert settings.document()["schema"] == "govern-settings/1"


def test_partial_tables_keep_the_other_defaults() -> None:
    settings = GovernanceSettings.model_validate(
        {
            "approvals_by_tier": {"high": 3},
            "revalidation_months_by_tier": {"low": 6},
            "workflow_roles": {"deploy": ["admin"]},
        }
    )
    assert settings.approvals_by_tier == {"low": 1, "medium": 1, "high": 3, "critical": 2}
    assert settings.revalidation_months_by_tier["low"] == 6
    assert settings.revalidation_months_by_tier["high"] == 12
    assert settings.workflow_roles["deploy"] == ["admin"]
    assert settings.workflow_roles["retire"] == ["approver", "admin"]
    assert settings.roles_for("deploy") == [Role.ADMIN]
    assert settings.roles_for("no such action") == []


def test_every_setting_mistake_is_named() -> None:
    assert _refusal(approvals_by_tier={"hihg": 2}) == (
        "unknown risk tier 'hihg'; use low, medium, high, critical"
    )
    assert _refusal(approvals_by_tier={"high": 0, "low": 1, "critical": -1}) == (
        "every tier needs at least 1, not high=0, critical=-1"
    )
    assert GovernanceSettings(approvals_by_tier={"high": 1}).approvals_by_tier["high"] == 1
    assert _refusal(revalidation_months_by_tier={"low": 0}) == (
        "every tier needs at least 1, not low=0"
    )
    assert _refusal(compliance_approval_tiers=["critical", "x", "y"]) == (
        "unknown risk tier 'x', 'y'; use low, medium, high, critical"
    )
    assert _refusal(workflow_roles={"approve": []}) == (
        "approve: name at least one role that may take this action"
    )
    assert _refusal(workflow_roles={"aprove": ["approver"]}).startswith(
        "unknown action 'aprove'; use register, evaluate, check,"
    )
    assert _refusal(workflow_roles={"approve": ["boss"]}) == (
        "unknown role for approve: 'boss'; use viewer, developer, validator, approver, "
        "compliance, admin"
    )
    assert _refusal(promotion_max_regression={"acuracy": 0.1}).startswith(
        "unknown metric 'acuracy'; use "
    )
    assert _refusal(promotion_max_regression={"accuracy": -0.01, "roc_auc": 0.0}) == (
        "a regression allowance cannot be negative: accuracy=-0.01"
    )
    assert GovernanceSettings(promotion_max_regression={"accuracy": 0.0}).promotion_max_regression
    for key in ("tier:", "team:x", "tier", ""):
        assert _refusal(policy_bindings={key: ["baseline"]}) == (
            f"unknown key {key!r}; use '*', 'tier:NAME', 'tag:NAME' or 'scope:NAME'"
        )
    ok = {"*": [], "tier:high": [], "tag:a": [], "scope:b": []}
    assert GovernanceSettings(policy_bindings=ok).policy_bindings == ok
    assert _refusal(allowed_artifact_formats=["skops", "zip"]) == (
        "unknown artifact format 'zip'; use skops, onnx, pickle, joblib"
    )


@pytest.mark.parametrize(
    ("rule", "card", "expected"),
    [
        ("earliest", None, dt.date(2027, 3, 31)),
        ("earliest", dt.date(2026, 6, 1), dt.date(2026, 6, 1)),
        ("earliest", dt.date(2028, 1, 1), dt.date(2027, 3, 31)),
        ("earliest", dt.date(2026, 3, 31), dt.date(2027, 3, 31)),  # the card's day is today
        ("earliest", dt.date(2026, 1, 1), dt.date(2027, 3, 31)),
        ("tier", dt.date(2026, 6, 1), dt.date(2027, 3, 31)),
        ("card", dt.date(2028, 1, 1), dt.date(2028, 1, 1)),
        ("card", dt.date(2026, 4, 1), dt.date(2026, 4, 1)),
        ("card", None, dt.date(2027, 3, 31)),
    ],
)
def test_next_validation_due_by_rule(rule: str, card: dt.date | None, expected: dt.date) -> None:
    settings = GovernanceSettings.model_validate({"validation_due": rule})
    assert settings.next_validation_due(dt.date(2026, 3, 31), "high", card) == expected


def test_validation_due_of_an_unlisted_tier_and_its_description() -> None:
    settings = GovernanceSettings.model_validate({"revalidation_months_by_tier": {"low": 6}})
    assert settings.next_validation_due(dt.date(2026, 3, 31), "odd", None) == dt.date(2027, 3, 31)
    assert settings.next_validation_due(dt.date(2026, 3, 31), "low", None) == dt.date(2026, 9, 30)
    assert settings.describe_due_rule("low") == (
        "the earlier of the card's date and 6 months for low tier"
    )
    assert settings.describe_due_rule("odd") == (
        "the earlier of the card's date and 12 months for odd tier"
    )
    tier = GovernanceSettings.model_validate({"validation_due": "tier"})
    assert tier.describe_due_rule("high") == "12 months for high tier"
    card = GovernanceSettings.model_validate({"validation_due": "card"})
    assert card.describe_due_rule("low") == "the card's date (else 36 months for low tier)"


def test_bound_policy_names_in_binding_order_without_repeats() -> None:
    bindings = {
        "*": ["baseline"],
        "tier:high": ["strict", "baseline"],
        "tag:credit": ["credit"],
        "scope:eu": ["eu", "strict"],
        "tier:low": ["lenient"],
        "tag:other": ["other"],
    }
    names = governance.bound_policy_names(
        bindings, risk_tier="high", tags=["credit"], regulatory_scope=["eu"]
    )
    assert names == ["baseline", "strict", "credit", "eu"]
    assert governance.bound_policy_names(
        bindings, risk_tier="low", tags=[], regulatory_scope=[]
    ) == ["baseline", "lenient"]


def _name_refusal(raw: str) -> str:
    with pytest.raises(ValueError) as refused:
        people.check_user_name(raw)
    return str(refused.value)


def test_user_names_are_normalised_and_refused_with_the_reason() -> None:
    assert people.check_user_name("  ａｌｉｃｅ ") == "alice"
    assert people.check_user_name("a" * 100) == "a" * 100
    assert people.check_user_name("j.doe_2-x") == "j.doe_2-x"
    assert people.check_user_name("7") == "7"
    assert _name_refusal("   ") == "a user name cannot be empty"
    assert _name_refusal("a" * 101) == "a user name is at most 100 characters long"
    assert _name_refusal("-bob") == "'-bob' must start and end with a letter or a digit"
    assert _name_refusal("bob.") == "'bob.' must start and end with a letter or a digit"
    assert _name_refusal("b@o b") == ("'b@o b' contains ' @'; use letters, digits, '.', '_' or '-'")
    assert _name_refusal("pаypal") == (
        "'pаypal' mixes scripts (Cyrillic, Latin); a name written in one script cannot be "
        "mistaken for another person's"
    )


def test_scripts_and_the_mixes_that_are_ordinary() -> None:
    assert people.scripts("a1-b") == {"LATIN"}
    assert people.scripts("山田たろう") == {"CJK", "HIRAGANA"}
    assert people.scripts("〇") == set()  # IDEOGRAPHIC NUMBER ZERO is not a letter
    assert people.scripts("々") == {"CJK"}  # IDEOGRAPHIC ITERATION MARK is
    assert people.check_user_name("山田タロウ") == "山田タロウ"
    assert people.check_user_name("김山") == "김山"
    assert _name_refusal("김たろう").startswith("'김たろう' mixes scripts (Hangul, Hiragana)")
    assert _name_refusal("山田x").startswith("'山田x' mixes scripts (Cjk, Latin)")


def test_name_keys_fold_case_and_width_both_ways() -> None:
    assert people.name_key("ＡＬＩＣＥ") == people.name_key("alice") == "alice"
    assert people.name_key("Straße") == "strasse"
    assert people.name_key("ǅ") == "dž"
    assert people.name_key("\u01f0") == "\u01f0"  # casefolds to j + caron: composed again
    assert people.name_key("ﬁ") == "fi"
    assert people.name_key("ℌ") == "h"


# --- separation of duties (services/workflow.py, the approvals rule) ---------------------------


def _decision(action: str, actor: str) -> Decision:
    return Decision(version_id=1, action=action, actor=actor, role="r")


def test_the_current_round_starts_at_the_latest_submission() -> None:
    decisions = [
        _decision("approve", "x"),
        _decision("submit", "alice"),
        _decision("approve", "carol"),
        _decision("submit", "bob"),
        _decision("approve", "erin"),
    ]
    assert workflow._current_round(decisions) == decisions[3:]
    assert workflow._current_round(decisions[:1]) == decisions[:1]
    assert workflow._current_round([]) == []


def test_authors_are_the_registrant_and_every_submitter() -> None:
    version = ModelVersion(created_by="alice")
    decisions = [
        _decision("submit", "bob"),
        _decision("approve", "carol"),
        _decision("submit", "alice"),
        _decision("reject", "dave"),
    ]
    assert workflow._authors(version, decisions) == {"alice": "submitted", "bob": "submitted"}
    assert workflow._authors(version, []) == {"alice": "registered"}


def test_an_author_is_refused_every_judgement_with_the_reason() -> None:
    version = ModelVersion(created_by="alice")
    decisions = [_decision("submit", "bob")]

    def refusal(actor: str, action: Action) -> str:
        with pytest.raises(WorkflowError) as refused:
            workflow._refuse_authors(actor, version, decisions, action, "m@1")
        return str(refused.value)

    assert refusal("alice", Action.APPROVE) == (
        "alice registered m@1 and cannot validate or approve it"
    )
    assert refusal("bob", Action.REJECT) == "bob submitted m@1 and cannot reject it"
    assert refusal("bob", Action.REQUEST_CHANGES) == (
        "bob submitted m@1 and cannot request changes to it"
    )
    assert workflow._refuse_authors("carol", version, decisions, Action.APPROVE, "m@1") is None


def _approvals(**rule: Any) -> ApprovalsRule:
    return ApprovalsRule.model_validate(
        {
            "kind": "approvals",
            "id": "approvals",
            "title": "Approvals",
            "severity": "error",
            "source": "test",
            **rule,
        }
    )


def _approved(*pairs: tuple[str, str, str], **values: Any) -> Any:
    decisions = tuple(
        DecisionRecord(action=a, actor=who, role=role, created_at=POLICY_NOW)
        for a, who, role in pairs
    )
    return snapshot(decisions=decisions, **values)


def test_the_approvals_rule_reads_every_approval_of_the_round() -> None:
    subject = _approved(
        ("approve", "carol", "approver"),
        ("submit", "bob", "developer"),
        ("approve", "alice", "approver"),  # created the version
        ("approve", "bob", "approver"),  # submitted it
        ("comment", "erin", "approver"),
        ("approve", "dave", "compliance"),
        ("approve", "dave", "compliance"),
        ("approve", "vic", "viewer"),
        submitter="bob",
        risk_tier="high",
    )
    verdict = check_approvals(
        _approvals(min_approvals=3, min_approvals_by_tier={"high": 1}), subject, POLICY_NOW
    )
    assert verdict.status == "fail"
    assert verdict.message == (
        "separation of duties broken: alice, bob approved a version they submitted or created"
    )
    at = POLICY_NOW.isoformat()
    assert verdict.evidence == {
        "required": 1,
        "counted": [{"actor": "dave", "role": "compliance", "at": at}],
        "ignored": [
            {
                "actor": "alice",
                "role": "approver",
                "at": at,
                "why": "submitted or created this version",
            },
            {
                "actor": "bob",
                "role": "approver",
                "at": at,
                "why": "submitted or created this version",
            },
            {"actor": "dave", "role": "compliance", "at": at, "why": "already counted"},
            {"actor": "vic", "role": "viewer", "at": at, "why": "role viewer does not count"},
        ],
        "roles": ["approver", "compliance"],
        "missing_roles": [],
        "submitter": "bob",
        "created_by": "alice",
    }


def test_the_approvals_rule_without_separation_and_by_tier() -> None:
    subject = _approved(
        ("approve", "alice", "approver"), ("approve", "carol", "approver"), risk_tier="low"
    )
    rule = _approvals(
        separation_of_duties=False, min_approvals=2, min_approvals_by_tier={"high": 3}
    )
    verdict = check_approvals(rule, subject, POLICY_NOW)
    assert (verdict.status, verdict.message) == (
        "pass",
        "2 of 2 approvals: alice (approver), carol (approver)",
    )
    none = check_approvals(_approvals(min_approvals=0), _approved(), POLICY_NOW)
    assert (none.status, none.message) == ("pass", "0 of 0 approvals: none needed")
    untiered = check_approvals(
        _approvals(min_approvals=1, min_approvals_by_tier={"high": 3}),
        _approved(("approve", "carol", "approver"), risk_tier=None),
        POLICY_NOW,
    )
    assert untiered.evidence["required"] == 1
    missing = check_approvals(
        _approvals(required_roles=["compliance", "approver"]),
        _approved(("approve", "carol", "approver")),
        POLICY_NOW,
    )
    assert missing.message == "no approval from a compliance"
    both = check_approvals(
        _approvals(
            roles=["approver", "compliance", "validator"],
            required_roles=["compliance", "validator"],
        ),
        _approved(("approve", "carol", "approver")),
        POLICY_NOW,
    )
    assert both.message == "no approval from a compliance or validator"


# --- identity checks of the service context (services/context.py) on a real catalogue --------


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(PermissionDenied) as refused:
        call()
    return str(refused.value)


def test_find_user_names_the_unknown_and_the_deactivated(sqlite_cat: Catalogue) -> None:
    with sqlite_cat.ctx("carol").read() as session:
        assert sqlite_cat.ctx("carol").find_user(session).name == "carol"
    mallory = Context.open(database_url=sqlite_cat.url, user="mallory", key_dir=key_dir("mallory"))
    with mallory.read() as session:
        assert _refused(lambda: mallory.find_user(session)) == (
            "mallory is not a user of this catalogue and cannot act; an admin can add them "
            "with `govern users add mallory --role ROLE --key THEIR.pub.pem`"
        )
    mallory.close()
    users.deactivate(sqlite_cat.ctx("admin"), "erin", reason="left the team")
    erin = sqlite_cat.ctx("erin")
    with erin.read() as session:
        assert _refused(lambda: erin.find_user(session, doing="approve m@1")) == (
            "erin was deactivated in this catalogue and cannot approve m@1"
        )


def test_require_role_by_roles_and_by_action(sqlite_cat: Catalogue) -> None:
    bob = sqlite_cat.ctx("bob")
    with bob.read() as session:
        assert bob.require_role(session, [Role.VALIDATOR], doing="x").name == "bob"
        assert bob.require_role(session, "reject", doing="reject m@1").name == "bob"
        assert _refused(lambda: bob.require_role(session, "approve", doing="approve m@1")) == (
            "bob is a validator and cannot approve m@1; that needs the role approver or compliance"
        )
        assert _refused(
            lambda: bob.require_role(session, [Role.ADMIN, Role.APPROVER], doing="sign")
        ) == ("bob is a validator and cannot sign; that needs the role admin or approver")


def test_a_service_account_never_judges_whatever_its_role(sqlite_cat: Catalogue) -> None:
    users.add_user(
        sqlite_cat.ctx("admin"), "ci", role="approver", key=public_key("ci"), service=True
    )
    ci = sqlite_cat.ctx("ci")
    with ci.read() as session:
        assert _refused(lambda: ci.require_role(session, "approve", doing="approve m@1")) == (
            "ci is a service account and can never approve m@1: a person must"
        )
        assert ci.require_role(session, [Role.APPROVER], doing="x").name == "ci"
        assert ci.require_role(session, "check", doing="check m@1").name == "ci"


def _key_refusal(cat: Catalogue, user: str, keys_of: str) -> str:
    ctx = Context.open(database_url=cat.url, user=user, key_dir=key_dir(keys_of))
    try:
        with ctx.read() as session:
            return _refused(lambda: ctx.authenticate(session))
    finally:
        ctx.close()


def test_a_key_that_is_not_the_users_own_is_refused_with_the_reason(
    sqlite_cat: Catalogue,
) -> None:
    carol = sqlite_cat.ctx("carol")
    with carol.read() as session:
        user, enrolled = carol.enrolment(session)
        assert (user.name, enrolled.user_name, enrolled.status) == ("carol", "carol", "active")
        assert carol.authenticate(session).name == "carol"
    mallory = personal_keys.load(key_dir("mallory"), passphrase=None)
    erin = personal_keys.load(key_dir("erin"), passphrase=None)

    def expected(key: personal_keys.PersonalKey, whose: str) -> str:
        return (
            f"cannot act as carol: the key in {key.key_dir} ({key.fingerprint[:23]}…) {whose}; "
            "carol must act with their own enrolled key"
        )

    assert _key_refusal(sqlite_cat, "carol", "mallory") == expected(
        mallory, "is not enrolled in this catalogue"
    )
    assert _key_refusal(sqlite_cat, "carol", "erin") == expected(
        erin, "is enrolled to erin, not to carol"
    )
    keys.revoke_key(sqlite_cat.ctx("admin"), erin.fingerprint, reason="laptop lost")
    assert _key_refusal(sqlite_cat, "erin", "erin") == (
        f"cannot act as erin: the key in {erin.key_dir} ({erin.fingerprint[:23]}…) was revoked "
        "(laptop lost); erin must act with their own enrolled key"
    )


def test_legacy_bodies_keep_non_ascii_text_in_every_field() -> None:
    body = audit.legacy_body(7, "ts-é", "jürgen", "modèle.register", "crédit@1", '{"a":"é"}')
    assert body == (
        '{"action":"modèle.register","actor":"jürgen","payload":{"a":"é"},"seq":7,'
        '"subject":"crédit@1","ts":"ts-é"}'
    )
    assert audit.legacy_hash("p", "é") == hashlib.sha256("pé".encode()).hexdigest()


def test_query_events_returns_fifty_by_default(log: Connection) -> None:
    _append(log, 51)
    events = audit.query_events(log)
    assert [event.seq for event in events] == list(range(51, 1, -1))


def test_an_underscore_in_an_action_filter_is_not_a_wildcard(log: Connection) -> None:
    _append(log, 1, action="key_x.revoke")
    _append(log, 1, action="keyzx.revoke")
    assert [event.seq for event in audit.query_events(log, action="key_x")] == [1]


def test_events_are_read_in_log_order_not_subject_order(log: Connection) -> None:
    for subject in ["user:zed", "m@2", "settings", "m@1", "", "user:amy"]:
        _append(log, 1, subject=subject)
    assert [e.seq for e in audit.events_about(log, ["m@1", "m@2"])] == [2, 4]
    assert [e.subject for e in audit.registry_events(log)] == [
        "user:zed",
        "settings",
        "",
        "user:amy",
    ]


def test_a_row_with_every_field_of_the_wrong_type_is_malformed() -> None:
    assert audit.malformed(tuple(b"x" for _ in ROW)) == (
        "its seq is stored as a BLOB, not as govern writes it"
    )


def test_format_ts_is_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        assert audit.format_ts(moment) == "2026-01-02T03:04:05.000000Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_checkpoint_that_is_a_pipe_or_unreadable_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as pipe:
        audit_service.read_checkpoint(fifo)
    assert str(pipe.value) == f"{fifo}: is not a regular file, expected a checkpoint file"
    (tmp_path / "file").write_text("{}")
    beneath = tmp_path / "file" / "checkpoint.json"
    with pytest.raises(InputError) as unreadable:
        audit_service.read_checkpoint(beneath)
    assert str(unreadable.value) == f"{beneath}: cannot read: Not a directory"


def test_a_large_checkpoint_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    limit = audit_service._MAX_CHECKPOINT_BYTES
    with pytest.raises(InputError) as refused:
        _read(tmp_path, json.dumps(GOOD) + " " * limit)
    assert str(refused.value).endswith(f"too large for a checkpoint ({limit + 1} bytes)")


def test_a_checkpoint_signature_with_a_stray_character_is_unreadable() -> None:
    document = _checkpoint(_key("ed25519"))
    value = document["signature"]["value"]
    stray = {**document["signature"], "value": value[:4] + "!" + value[4:]}
    assert audit_service._checkpoint_signature({**document, "signature": stray}) == [
        "checkpoint signature is unreadable"
    ]


def test_an_event_signature_with_a_stray_character_is_no_signature() -> None:
    event = replace(_event(1), signature=base64.b64encode(b"sig").decode() + "!")
    assert audit_service._signature(event) == b""


def _unverifiable(count: int) -> list[tuple[str, bytes, bytes]]:
    return [("not a key", b"", b"")] * count


def test_a_full_batch_without_a_pool_is_checked_in_this_process() -> None:
    batch = personal_keys.SignatureChecks.BATCH
    with personal_keys.SignatureChecks(batch, workers=1) as checks:
        for item in _unverifiable(batch):
            checks.add(*item)
        assert checks.failed() == list(range(batch))


def test_batches_checked_by_worker_processes_keep_their_indices() -> None:
    key = _key("ed25519")
    pem = _pem(key.public_key())
    good = (pem, b"d", personal_keys.sign(key, b"d"))
    batch = personal_keys.SignatureChecks.BATCH
    items = [good] * (batch + 2)
    items[1] = items[batch + 1] = (pem, b"x", good[2])
    assert personal_keys.verify_many(items, workers=2) == [1, batch + 1]


def test_bound_categories_merge_the_mappings_of_the_bindings_that_attach() -> None:
    bindings: dict[str, list[Any]] = {
        "*": ["baseline", PolicyBinding(policy="nyc", categories={"race_ethnicity": "race"})],
        "tier:high": [PolicyBinding(policy="eeoc", categories={"sex": "gender"})],
        "tag:x": [PolicyBinding(policy="eeoc", categories={"sex": "other"})],
        "tag:y": [PolicyBinding(policy="nyc", categories={"race_ethnicity": "race"})],
    }
    wanted = {"risk_tier": "high", "tags": ["y"], "regulatory_scope": []}
    assert governance.bound_categories(bindings, **wanted) == {
        "race_ethnicity": "race",
        "sex": "gender",
    }
    assert governance.bound_policy_names(bindings, **wanted) == ["baseline", "nyc", "eeoc"]
    assert governance.bound_categories(bindings, risk_tier="low", tags=[], regulatory_scope=[]) == {
        "race_ethnicity": "race"
    }
    with pytest.raises(ValueError) as clash:
        governance.bound_categories(bindings, risk_tier="high", tags=["x"], regulatory_scope=[])
    assert str(clash.value) == (
        "policy bindings 'tier:high' and 'tag:x' map category sex onto different columns "
        "(gender and other)"
    )


def test_a_sqlite_catalogue_whose_settings_ask_for_database_logins_refuses_everyone(
    sqlite_cat: Catalogue,
) -> None:
    # `settings apply` refuses this on SQLite; a revision written some other way (a catalogue
    # moved from PostgreSQL) must still not let anyone act without the login check.
    admin = sqlite_cat.ctx("admin")
    settings = GovernanceSettings.model_validate({"identity": "database-login"})
    with admin.write("settings.apply", "settings") as tx:
        governance_service.write_revision(tx.session, settings, created_by="admin")
    carol = sqlite_cat.ctx("carol")
    with carol.read() as session:
        carol.refresh_governance(session)
        assert _refused(lambda: carol.authenticate(session)) == (
            "this catalogue requires the database login to be the acting user (setting "
            "identity: database-login), which only a PostgreSQL catalogue can show"
        )


def test_letters_without_a_unicode_name_have_no_script_but_are_letters() -> None:
    tangut = "\U00017000\U00017001"  # Tangut ideographs: letters the name table leaves unnamed
    assert people.scripts(tangut) == {""}
    assert people.check_user_name(tangut) == tangut


def test_a_binding_given_as_a_mapping_is_read_as_a_policy_binding() -> None:
    settings = GovernanceSettings.model_validate(
        {
            "policy_bindings": {
                "*": ["baseline", {"policy": "nyc", "categories": {"race_ethnicity": "race"}}]
            }
        }
    )
    assert settings.policy_bindings["*"] == [
        "baseline",
        PolicyBinding(policy="nyc", categories={"race_ethnicity": "race"}),
    ]


def test_require_role_names_the_action_for_an_unknown_user(sqlite_cat: Catalogue) -> None:
    mallory = Context.open(database_url=sqlite_cat.url, user="mallory", key_dir=key_dir("mallory"))
    try:
        with mallory.read() as session:
            assert _refused(
                lambda: mallory.require_role(session, "approve", doing="approve m@1")
            ).startswith("mallory is not a user of this catalogue and cannot approve m@1; ")
    finally:
        mallory.close()
