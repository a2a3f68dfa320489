"""A hostile insider against the catalogue, on SQLite and on PostgreSQL (issue #20).

The insider knows the documented commands, owns a copy of the code, and can reach the
database with sqlite3 or psql: they drop the append-only triggers in the way and edit,
delete, append, reorder, truncate or rewrite. Each attack is either refused (exit 2, nothing
written) or detected by `govern audit verify` (exit 1, naming the table, row and field, or the
event).

The verdicts are read from `govern audit verify` run in process (``invoke_cli``, the same
``run`` that ``python -m govern`` exits with); some also run as a real process, for exit codes
as a shell sees them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest

from govern import personal_keys
from govern.services import catalogue, workflow
from govern.storage import audit
from tests.conftest import Catalogue, invoke_cli, key_dir, public_key, run_cli
from tests.helpers import (
    CARDS,
    assert_clean_failure,
    is_postgres,
    placeholder,
    raw_connection,
    sqlite_file,
)

COLUMNS = (
    "ts",
    "actor",
    "action",
    "subject",
    "payload",
    "prev_hash",
    "hash",
    "format",
    "key_fingerprint",
    "settings_revision",
    "signature",
)
#: init (1, with the first admin, their key and the settings), six users, two registrations.
EVENTS = 9


@pytest.fixture
def logged(cat: Catalogue, tmp_path: Path) -> Catalogue:
    """A catalogue with users and two versions: nine signed events in its log."""
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    second = tmp_path / "second.card.yaml"
    second.write_text((CARDS / "minimal.card.yaml").read_text().replace("1.0.0", "1.1.0"))
    catalogue.register_version(cat.ctx("alice"), second)
    assert count(cat.url) == EVENTS
    return cat


def count(url: str) -> int:
    with raw_connection(url) as conn:
        return conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]


def rows(url: str) -> list[tuple]:
    with raw_connection(url) as conn:
        cols = ", ".join(("seq", *COLUMNS))
        return list(conn.execute(f"SELECT {cols} FROM audit_event ORDER BY seq").fetchall())


def table(url: str, sql: str) -> list[tuple]:
    with raw_connection(url) as conn:
        return list(conn.execute(sql).fetchall())


def tamper(url: str, *statements: tuple[str, tuple]) -> None:
    """Drop the append-only triggers as the database's owner can, then run ``statements``."""
    with raw_connection(url) as conn:
        if is_postgres(url):
            conn.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
            conn.execute("ALTER TABLE governance_settings DISABLE TRIGGER USER")
        else:
            for trigger in (
                "audit_event_no_update",
                "audit_event_no_delete",
                "governance_settings_no_update",
                "governance_settings_no_delete",
            ):
                conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        mark = placeholder(url)
        for sql, params in statements:
            conn.execute(sql.replace("?", mark), params)
        conn.commit()


def verify(url: str, *extra: str, process: bool = False):
    """`govern audit verify`; ``process`` runs it as a real subprocess."""
    return (run_cli if process else invoke_cli)("audit", "verify", *extra, db=url)


def tampered(url: str, *extra: str) -> list[str]:
    """The lines of a failed verification (exit 1), without their ``TAMPERED:`` prefix."""
    lines = assert_clean_failure(verify(url, *extra), code=1)
    return [line.removeprefix("TAMPERED: ") for line in lines if line.startswith("TAMPERED: ")]


def checkpoint(url: str, path: Path, *, process: bool = False) -> Path:
    result = (run_cli if process else invoke_cli)(
        "audit", "checkpoint", "-o", str(path), db=url, user="admin"
    )
    assert result.returncode == 0, result.stderr
    return path


def catalogue_id(url: str) -> str:
    [(value,)] = table(url, "SELECT value FROM govern_meta WHERE key = 'catalogue_id'")
    return str(value)


def forge_event(url: str, *, actor: str, action: str, subject: str, payload: dict, key) -> tuple:
    """The next event as an insider with the code would compute it, signed with ``key``
    (a PersonalKey) or unsigned (``key=None``)."""
    last = rows(url)[-1]
    seq, prev = last[0] + 1, last[7]
    ts = audit.format_ts(dt.datetime.now(dt.UTC))
    text = audit.canonical_json(payload)
    fingerprint = key.fingerprint if key is not None else None
    body = audit.event_body(
        catalogue=catalogue_id(url),
        seq=seq,
        ts=ts,
        actor=actor,
        action=action,
        subject=subject,
        payload=text,
        prev=prev,
        key=fingerprint,
        settings=1,
    )
    signature = base64.b64encode(key.sign(body)).decode() if key is not None else None
    return (seq, ts, actor, action, subject, text, prev, audit.event_hash(body), 2,
            fingerprint, 1, signature)  # fmt: skip


def insert(url: str, row: tuple) -> None:
    marks = ", ".join(["?"] * len(row))
    tamper(url, (f"INSERT INTO audit_event (seq, {', '.join(COLUMNS)}) VALUES ({marks})", row))


# --- the triggers --------------------------------------------------------------------------


def test_sqlite_triggers_refuse_update_and_delete(sqlite_cat):
    before = rows(sqlite_cat.url)
    conn = sqlite3.connect(sqlite_file(sqlite_cat.url))
    try:
        for sql, message in (
            ("UPDATE audit_event SET actor = 'mallory' WHERE seq = 2", "append-only"),
            ("DELETE FROM audit_event WHERE seq = 2", "append-only"),
            ("DELETE FROM audit_event", "append-only"),
            ("UPDATE governance_settings SET sha256 = 'x'", "settings are append-only"),
            ("DELETE FROM governance_settings", "settings are append-only"),
        ):
            with pytest.raises(sqlite3.DatabaseError, match=message):
                conn.execute(sql)
        conn.rollback()
    finally:
        conn.close()
    assert rows(sqlite_cat.url) == before


@pytest.mark.postgres
def test_postgres_triggers_refuse_update_delete_and_truncate(postgres_url):
    import psycopg

    from tests.conftest import make_catalogue

    made = make_catalogue(postgres_url)
    made.close()
    before = rows(postgres_url)
    for sql in (
        "UPDATE audit_event SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_event WHERE seq = 2",
        "TRUNCATE audit_event",
        "UPDATE governance_settings SET sha256 = 'x'",
        "TRUNCATE governance_settings",
    ):
        with raw_connection(postgres_url) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
            conn.rollback()
    assert rows(postgres_url) == before


# --- impersonation, hostile configuration, confusable names: refused -----------------------


def test_untouched_catalogue_verifies(logged):
    result = verify(logged.url, process=True)
    assert result.returncode == 0, result.stderr
    assert f"Audit log intact: {EVENTS} events" in result.stdout
    assert f"{EVENTS} signed and verified" in result.stdout
    verdict = json.loads(verify(logged.url, "--json").stdout)
    assert verdict["ok"] is True and verdict["events"] == EVENTS and verdict["problems"] == []
    assert verdict["signed_events"] == EVENTS and verdict["findings"] == []


def test_naming_someone_else_is_refused_and_changes_nothing(logged):
    """`--user carol` (or GOVERN_USER=carol) without carol's private key is refused."""
    head = rows(logged.url)[-1]
    for how in ({"args": ("--user", "carol")}, {"env": {"GOVERN_USER": "carol"}}):
        args = (*how.get("args", ()), "users", "set-role", "bob", "--role", "admin")
        # bob's own key, as bob at his own machine would have
        env = {**how.get("env", {}), "GOVERN_KEY_DIR": str(key_dir("bob"))}
        result = invoke_cli(*args, db=logged.url, env=env)
        lines = assert_clean_failure(result)
        assert "cannot act as" in lines[0] and "enrolled to bob" in lines[0], lines
    assert table(logged.url, "SELECT role FROM govern_user WHERE name = 'bob'") == [("validator",)]
    after = rows(logged.url)
    assert after[: len(after)] and after[EVENTS - 1] == head  # nothing but refusal records
    assert {r[3] for r in after[EVENTS:]} == {"user.set_role.refused"}
    assert all(r[11] is None for r in after[EVENTS:])  # refusals are unsigned: nobody proved
    assert verify(logged.url).returncode == 0


def test_an_admin_name_without_the_admin_key_is_refused(logged):
    result = run_cli(
        "--user", "admin", "users", "set-role", "alice", "--role", "admin",
        db=logged.url, env={"GOVERN_KEY_DIR": str(key_dir("mallory"))},
    )  # fmt: skip
    lines = assert_clean_failure(result)
    assert "is not enrolled in this catalogue" in lines[0]
    assert table(logged.url, "SELECT role FROM govern_user WHERE name = 'alice'") == [
        ("developer",)
    ]


def test_approval_without_the_approvers_key_is_refused(logged):
    logged.configure(policy_bindings={})  # no evidence needed to approve a low-tier version
    ctx = logged.ctx("alice")
    workflow.submit(ctx, "tiny@1.0.0", comment="for review")
    before = table(logged.url, "SELECT count(*) FROM decision")
    result = invoke_cli(
        "approve", "tiny@1.0.0", user="carol", db=logged.url,
        env={"GOVERN_KEY_DIR": str(key_dir("bob"))},
    )  # fmt: skip
    assert_clean_failure(result)
    assert table(logged.url, "SELECT count(*) FROM decision") == before
    assert table(logged.url, "SELECT state FROM model_version WHERE version = '1.0.0'") == [
        ("submitted",)
    ]


@pytest.mark.parametrize(
    "hostile",
    [
        {"config": 'approvals_by_tier = {high = 1}\n[policy_bindings]\n"*" = []\n'},
        {"env": {"GOVERN_APPROVALS_BY_TIER": '{"high": 1}'}},
        {"env": {"GOVERN_POLICY_BINDINGS": '{"*": []}'}},
        {"env": {"GOVERN_WORKFLOW_ROLES": '{"approve": ["developer"]}'}},
    ],
    ids=["home-config", "env-approvals", "env-bindings", "env-roles"],
)
def test_an_approvers_own_config_cannot_change_the_rules(logged, tmp_path, hostile):
    # The catalogue's rules: a high tier needs two approvals; no policy gates this test.
    logged.configure(policy_bindings={}, approvals_by_tier={"low": 2})
    workflow.submit(logged.ctx("alice"), "tiny@1.0.0", comment="for review")
    env = dict(hostile.get("env", {}))
    if "config" in hostile:
        home = tmp_path / "hostile-home"
        home.mkdir()
        (home / "config.toml").write_text(hostile["config"])
        env["GOVERN_HOME"] = str(home)
    result = invoke_cli("approve", "tiny@1.0.0", user="carol", db=logged.url, env=env)
    lines = assert_clean_failure(result)
    assert "governance setting" in lines[0] and "govern settings apply" in lines[0], lines
    # Approving as the catalogue says: one approval of the two it needs.
    ok = invoke_cli("approve", "tiny@1.0.0", "--json", user="carol", db=logged.url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["to_state"] == "submitted"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Alice", "already exists (as alice)"),
        ("ＡＬＩＣＥ", "already exists (as alice)"),
        ("аlice", "mixes scripts"),  # a Cyrillic а
        ("bob\u200b", "letter or a digit"),  # an invisible zero-width space
        ("bo\u200bb", "contains"),
    ],
)
def test_confusable_user_names_are_refused(logged, name, fragment):
    before = table(logged.url, "SELECT name FROM govern_user ORDER BY name")
    result = invoke_cli("users", "add", name, "--role", "approver", db=logged.url)
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and fragment in lines[0], lines
    assert table(logged.url, "SELECT name FROM govern_user ORDER BY name") == before


def test_a_user_named_in_another_case_acts_as_themselves(logged):
    """`--user ALICE` is alice: the same person, never a second identity."""
    env = {"GOVERN_USER": "ALICE", "GOVERN_KEY_DIR": str(key_dir("alice"))}
    result = invoke_cli("submit", "tiny@1.0.0", "--json", db=logged.url, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["actor"] == "alice"


def test_a_service_account_can_never_approve(logged):
    added = invoke_cli(
        "users", "add", "ci-bot", "--role", "approver", "--service",
        "--key", str(public_key("ci-bot")), db=logged.url,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    workflow.submit(logged.ctx("alice"), "tiny@1.0.0", comment="for review")
    result = invoke_cli("approve", "tiny@1.0.0", user="ci-bot", db=logged.url)
    lines = assert_clean_failure(result)
    assert "service account" in lines[0]


def test_a_revoked_key_can_no_longer_act_and_its_past_stays_valid(logged):
    fingerprint = personal_keys.fingerprint_of(personal_keys.read_public(key_dir("alice")))
    revoked = invoke_cli("keys", "revoke", fingerprint, "--reason", "laptop lost", db=logged.url)
    assert revoked.returncode == 0, revoked.stderr
    result = invoke_cli("submit", "tiny@1.0.0", user="alice", db=logged.url)
    assert "was revoked (laptop lost)" in assert_clean_failure(result)[0]
    assert verify(logged.url).returncode == 0  # her registrations, signed before, still verify


# --- edits of the tables behind govern's back: detected ------------------------------------


@pytest.mark.parametrize(
    ("sql", "finding"),
    [
        (
            "UPDATE govern_user SET role = 'admin' WHERE name = 'bob'",
            "govern_user 'bob' role: is 'admin', but the log says 'validator'",
        ),
        (
            "UPDATE model_version SET state = 'approved' WHERE version = '1.1.0'",
            "model_version tiny@1.1.0 state: is 'approved', but the log says 'draft'",
        ),
        (
            "UPDATE model_version SET card_sha256 = 'f' || substr(card_sha256, 2) "
            "WHERE version = '1.0.0'",
            "model_version tiny@1.0.0 card_sha256: is 'f",
        ),
        (
            "UPDATE user_key SET user_name = 'bob' WHERE user_name = 'carol'",
            "user_key sha256:",
        ),
        ("DELETE FROM user_key WHERE user_name = 'erin'", "is in the log but not in the table"),
        ("DELETE FROM govern_meta WHERE key = 'catalogue_id'", "catalogue id is missing"),
    ],
    ids=["role", "state", "card-hash", "key-owner", "key-deleted", "catalogue-id"],
)
def test_edited_rows_are_named(logged, sql, finding):
    tamper(logged.url, (sql, ()))
    lines = tampered(logged.url)
    assert any(finding in line for line in lines), lines


def test_an_edited_decision_actor_and_a_deleted_decision_are_named(logged):
    logged.configure(policy_bindings={})  # no evidence needed to approve a low-tier version
    workflow.submit(logged.ctx("alice"), "tiny@1.0.0", comment="for review")
    workflow.approve(logged.ctx("carol"), "tiny@1.0.0", comment="fine")
    tamper(logged.url, ("UPDATE decision SET actor = 'mallory' WHERE action = 'approve'", ()))
    lines = tampered(logged.url)
    assert any(
        line.startswith("decision #2 (tiny@1.0.0, approve) actor: is 'mallory', but the log "
                        "says 'carol'") for line in lines
    ), lines  # fmt: skip
    tamper(logged.url, ("DELETE FROM decision WHERE action = 'approve'", ()))
    lines = tampered(logged.url)
    assert any(line.startswith("decision of tiny@1.0.0 (approve): is in the log but not in the "
                               "table") for line in lines), lines  # fmt: skip


def test_a_deleted_waiver_is_named(logged):
    from govern.services import waivers

    waiver = waivers.grant_waiver(
        logged.ctx("carol"),
        "tiny@1.0.0",
        rule="baseline/no-pickle",
        reason="accepted for the test, reviewed next quarter",
        expires=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30),
    )
    tamper(logged.url, ("DELETE FROM waiver WHERE id = ?", (waiver.id,)))
    lines = tampered(logged.url)
    assert f"waiver #{waiver.id} (tiny@1.0.0): is in the log but not in the table" in " ".join(
        lines
    ), lines


def test_an_edited_settings_revision_is_named(logged):
    tamper(logged.url, (
        "UPDATE governance_settings SET document = replace(document, "
        "'\"high\":2', '\"high\":1'), sha256 = ? WHERE revision = 1", ("0" * 64,)))  # fmt: skip
    lines = tampered(logged.url)
    assert any(line.startswith("governance_settings revision 1 sha256") for line in lines), lines


# --- attacks on the log itself: detected ---------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"role":"admin"}'),
        ("actor", "mallory"),
        ("action", "user.remove"),
        ("subject", "user:mallory"),
        ("ts", "2020-01-01T00:00:00.000000Z"),
    ],
)
def test_edited_event_is_named(logged, column, value):
    tamper(logged.url, (f"UPDATE audit_event SET {column} = ? WHERE seq = ?", (value, 5)))
    assert tampered(logged.url) == ["event 5 was altered (its content no longer matches its hash)"]


def test_deleted_event_is_named(logged):
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq = ?", (5,)))
    lines = assert_clean_failure(verify(logged.url, process=True), code=1)
    assert lines == ["TAMPERED: event 5 is missing"]
    assert json.loads(verify(logged.url, "--json").stdout)["first_bad_event"] == 5


def test_reordered_events_are_named(logged):
    by_seq = {row[0]: row[1:] for row in rows(logged.url)}
    assignments = ", ".join(f"{c} = ?" for c in COLUMNS)
    sql = f"UPDATE audit_event SET {assignments} WHERE seq = ?"
    tamper(logged.url, (sql, (*by_seq[5], 4)), (sql, (*by_seq[4], 5)))
    assert tampered(logged.url) == [
        "event 4 does not follow event 3 (its link to the previous hash is broken)"
    ]


def test_an_appended_event_with_a_correct_hash_but_no_signature_is_named(logged):
    """The code is public: the insider computes the hash and the link correctly."""
    insert(logged.url, forge_event(
        logged.url, actor="carol", action="version.approve", subject="tiny@1.0.0",
        payload={"from_state": "submitted", "to_state": "approved"}, key=None))  # fmt: skip
    lines = tampered(logged.url)
    assert f"audit_event event {EVENTS + 1}: version.approve by carol is not signed" in lines


def test_an_appended_event_signed_with_the_insiders_own_key_is_named(logged):
    mallory = personal_keys.load(key_dir("mallory"), passphrase=None)
    insert(logged.url, forge_event(
        logged.url, actor="carol", action="user.set_role", subject="user:bob",
        payload={"role": "admin", "previous_role": "validator"}, key=mallory))  # fmt: skip
    lines = tampered(logged.url)
    assert any("signed by a key that is not enrolled" in line for line in lines), lines


def test_an_appended_event_signed_with_a_stolen_developers_key_for_an_approval_is_named(logged):
    """A valid signature is not enough: the role must allow the action under the settings."""
    alice = personal_keys.load(key_dir("alice"), passphrase=None)
    insert(logged.url, forge_event(
        logged.url, actor="alice", action="user.set_role", subject="user:alice",
        payload={"role": "admin", "previous_role": "developer"}, key=alice))  # fmt: skip
    tamper(logged.url, ("UPDATE govern_user SET role = 'admin' WHERE name = 'alice'", ()))
    lines = tampered(logged.url)
    assert any("user.set_role needs an admin; alice was developer" in line for line in lines)


def test_an_appended_legacy_event_is_named(logged):
    last = rows(logged.url)[-1]
    seq, prev = last[0] + 1, last[7]
    ts = audit.format_ts(dt.datetime.now(dt.UTC))
    body = audit.legacy_body(seq, ts, "carol", "version.approve", "tiny@1.0.0", "{}")
    insert(logged.url, (seq, ts, "carol", "version.approve", "tiny@1.0.0", "{}", prev,
                        audit.legacy_hash(prev, body), 1, None, None, None))  # fmt: skip
    lines = tampered(logged.url)
    assert any("hash-only event (format 1) after signed events began" in line for line in lines)


def test_recomputing_the_chain_after_an_edit_breaks_the_signatures(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    statements = []
    prev = audit.GENESIS_HASH
    cid = catalogue_id(logged.url)
    for seq, ts, actor, action, subject, payload, _prev, _hash, _fmt, key, rev, _sig in rows(
        logged.url
    ):
        if seq == 3:
            payload = payload.replace('"role":"validator"', '"role":"admin"')  # bob's user.add
        body = audit.event_body(
            catalogue=cid, seq=seq, ts=ts, actor=actor, action=action, subject=subject,
            payload=payload, prev=prev, key=key, settings=rev,
        )  # fmt: skip
        digest = audit.event_hash(body)
        statements.append(
            (
                "UPDATE audit_event SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (payload, prev, digest, seq),
            )
        )
        prev = digest
    tamper(logged.url, *statements)
    lines = tampered(logged.url)
    assert any("event 3 signature: does not verify" in line for line in lines), lines
    lines = tampered(logged.url, "--checkpoint", str(saved))
    assert any(line.startswith("log rewritten") for line in lines), lines


def test_truncation_is_caught_by_the_tables_and_by_a_checkpoint(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json", process=True)
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq > ?", (EVENTS - 1,)))
    lines = tampered(logged.url)  # the second version is in the table, not in the log
    assert "model_version tiny@1.1.0: is in the table but no event in the log created it" in lines
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(saved), process=True), 1)
    assert (
        f"TAMPERED: log truncated: the checkpoint records event {EVENTS}, but the log ends at "
        f"event {EVENTS - 1}"
    ) in lines


def test_emptied_log_is_tampering_even_without_a_checkpoint(logged):
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq > ?", (0,)))
    lines = tampered(logged.url)
    assert (
        "the log is empty, but this catalogue was initialised with a first event: every event "
        "was deleted"
    ) in lines


def test_a_blob_payload_or_a_swapped_type_is_a_finding_not_a_crash(sqlite_cat):
    url = sqlite_cat.url
    tamper(url, ("UPDATE audit_event SET payload = CAST(payload AS BLOB) WHERE seq = 3", ()))
    lines = assert_clean_failure(verify(url, process=True), code=1)
    assert lines == [
        "TAMPERED: event 3 cannot be read: its payload is stored as a BLOB, not as govern writes it"
    ]
    log = invoke_cli("audit", "log", "--json", db=url)  # reading the log still works
    assert log.returncode == 0, log.stderr
    tamper(url, ("UPDATE audit_event SET payload = CAST(payload AS TEXT), "
                 "settings_revision = 'one' WHERE seq = 3", ()))  # fmt: skip
    assert tampered(url) == [
        "event 3 cannot be read: its settings_revision is stored as str, not as govern writes it"
    ]
    tamper(url, ("UPDATE audit_event SET settings_revision = 1 WHERE seq = 3", ()))
    assert verify(url).returncode == 0


def test_dropped_log_table_is_tampering(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    with raw_connection(logged.url) as conn:
        conn.execute("DROP TABLE audit_event" + (" CASCADE" if is_postgres(logged.url) else ""))
        conn.commit()
    for extra in ((), ("--checkpoint", str(saved))):
        lines = assert_clean_failure(verify(logged.url, *extra), code=1)
        assert lines == ["TAMPERED: the audit log table is missing (it was dropped)"]


def test_log_with_an_unparsable_payload_still_reads(logged):
    """`audit log` and `history` show what a tampered event holds instead of crashing."""
    tamper(logged.url, ("UPDATE audit_event SET payload = ? WHERE seq = ?", ("not json", 4)))
    result = invoke_cli("audit", "log", "--json", db=logged.url)
    assert result.returncode == 0, result.stderr
    [event] = [e for e in json.loads(result.stdout) if e["seq"] == 4]
    assert event["payload"] == {"unreadable_payload": "not json"}
    [(seq,)] = [r[:1] for r in rows(logged.url) if r[4] == "tiny@1.1.0"]
    tamper(logged.url, ("UPDATE audit_event SET payload = ? WHERE seq = ?", ("not json", seq)))
    history = invoke_cli("history", "tiny", "--json", db=logged.url)
    assert history.returncode == 0, history.stderr
    assert verify(logged.url).returncode == 1


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_covers_its_events_and_later_ones_verify(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    document = json.loads(saved.read_text())
    assert document["seq"] == EVENTS and document["created_by"] == "admin"
    assert document["signature"]["key"] == personal_keys.fingerprint_of(
        personal_keys.read_public(key_dir("admin"))
    )
    added = invoke_cli("users", "add", "zoe", "--role", "viewer", db=logged.url)
    assert added.returncode == 0, added.stderr
    result = verify(logged.url, "--checkpoint", str(saved))
    assert result.returncode == 0, result.stderr
    assert f"events 1-{EVENTS}" in result.stderr and "2 event(s) after it" in result.stderr
    # Without the file, verify still says what the newest checkpoint the log records covers.
    plain = verify(logged.url)
    assert f"Latest checkpoint: event {EVENTS}, signed by admin" in plain.stderr
    assert str(saved) in plain.stderr and "2 event(s) after it" in plain.stderr
    since = verify(logged.url, "--since-checkpoint", str(saved), "--json")
    verdict = json.loads(since.stdout)
    assert since.returncode == 0 and verdict["scope"] == "since checkpoint", since.stdout
    assert verdict["events"] == 2 and verdict["signed_events"] == 2


def test_since_checkpoint_catches_what_came_after(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    assert invoke_cli("users", "add", "zoe", "--role", "viewer", db=logged.url).returncode == 0
    tamper(logged.url, ("UPDATE govern_user SET role = 'admin' WHERE name = 'zoe'", ()))
    lines = tampered(logged.url, "--since-checkpoint", str(saved))
    assert "govern_user 'zoe' role: is 'admin', but the log says 'viewer'" in lines
    tamper(logged.url, ("UPDATE audit_event SET actor = 'mallory' WHERE seq = ?", (EVENTS + 2,)))
    lines = tampered(logged.url, "--since-checkpoint", str(saved))
    assert lines[0] == f"event {EVENTS + 2} was altered (its content no longer matches its hash)"


def test_a_checkpoint_is_signed_by_an_admins_own_key_and_never_overwritten(logged, tmp_path):
    refused = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"),
                         user="bob", db=logged.url)  # fmt: skip
    assert (
        "bob is a validator and cannot sign an audit checkpoint"
        in (assert_clean_failure(refused)[0])
    )
    saved = checkpoint(logged.url, tmp_path)  # a directory: checkpoint-<seq>.json in it
    assert saved.is_dir() and (tmp_path / f"checkpoint-{EVENTS}.json").is_file()
    again = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / f"checkpoint-{EVENTS}.json"),
                       db=logged.url)  # fmt: skip
    assert "already exists" in assert_clean_failure(again)[0]


def test_checkpoint_of_a_tampered_catalogue_is_refused(logged, tmp_path):
    tamper(logged.url, ("UPDATE govern_user SET role = 'admin' WHERE name = 'bob'", ()))
    result = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"), db=logged.url)
    lines = assert_clean_failure(result, code=1)
    assert "refusing to checkpoint" in lines[0] and "govern_user 'bob' role" in lines[0]
    assert not (tmp_path / "cp.json").exists()


def test_checkpoint_needs_the_admins_key(logged, tmp_path):
    result = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"), db=logged.url,
                        env={"GOVERN_KEY_DIR": str(tmp_path / "no-key")})  # fmt: skip
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "govern keys init" in lines[0]


def test_altered_checkpoint_is_reported(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    document = json.loads(saved.read_text())
    document["seq"] = EVENTS - 1  # pretend the log was shorter, keeping the old signature
    saved.write_text(json.dumps(document))
    lines = tampered(logged.url, "--checkpoint", str(saved))
    assert "checkpoint signature does not match its content (the file was altered)" in lines


def test_checkpoint_signed_by_a_key_that_is_not_an_admins_is_not_trusted(logged, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    document = json.loads(saved.read_text())
    mallory = personal_keys.load(key_dir("mallory"), passphrase=None)
    fields = {k: v for k, v in document.items() if k != "signature"}
    body = audit.canonical_json(fields).encode("utf-8")
    document["signature"] = {
        "algorithm": mallory.algorithm,
        "key": mallory.fingerprint,
        "public_key": mallory.public_pem,
        "value": base64.b64encode(mallory.sign(body)).decode(),
    }
    saved.write_text(json.dumps(document))
    lines = tampered(logged.url, "--checkpoint", str(saved))
    assert any("not signed by the key of an admin" in line for line in lines), lines


def test_checkpoint_of_another_catalogue_is_reported(logged, tmp_path):
    from tests.conftest import make_catalogue

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    make_catalogue(other_url).close()
    saved = checkpoint(other_url, tmp_path / "cp.json")
    lines = tampered(logged.url, "--checkpoint", str(saved))
    assert "checkpoint belongs to a different catalogue" in lines


BAD_CHECKPOINTS = {
    "empty": (b"", "checkpoint file is empty"),
    "not-json": (b"seq: 10\n", "invalid JSON"),
    "binary": (bytes(range(256)), "invalid JSON"),
    "list": (b"[1, 2, 3]", "missing fields"),
    "missing-fields": (b'{"format": "govern-audit-checkpoint/2", "seq": 1}', "missing fields"),
    "wrong-format": (
        json.dumps(
            {"format": "x/9", "catalogue_id": "", "seq": 1, "head_hash": "", "signature": {}}
        ).encode(),
        "unsupported checkpoint format 'x/9'",
    ),
    "wrong-types": (
        json.dumps(
            {
                "format": "govern-audit-checkpoint/2",
                "catalogue_id": "",
                "seq": "ten",
                "head_hash": "",
                "signature": {},
            }
        ).encode(),
        "wrong field types",
    ),
    "huge": (b"{" + b" " * 5_000_001 + b"}", "too large"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoint_files_exit_2(logged, kind, tmp_path):
    content, fragment = BAD_CHECKPOINTS[kind]
    path = tmp_path / f"{kind}.json"
    path.write_bytes(content)
    for option in ("--checkpoint", "--since-checkpoint"):
        lines = assert_clean_failure(verify(logged.url, option, str(path)))
        assert len(lines) == 1 and str(path) in lines[0] and fragment in lines[0], lines


def test_missing_checkpoint_file_exits_2(logged, tmp_path):
    path = tmp_path / "nowhere.json"
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(path)))
    assert lines == [f"error: {path}: no such checkpoint file"]


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_checkpoint_from_a_device_or_pipe_is_refused(logged, kind, tmp_path):
    if kind == "device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "pipe.json"
        os.mkfifo(path)
    result = run_cli("audit", "verify", "--checkpoint", str(path), db=logged.url, timeout=60)
    lines = assert_clean_failure(result)
    assert lines == [f"error: {path}: is not a regular file, expected a checkpoint file"]


def test_an_edited_rule_result_or_evaluation_dataset_is_named(logged):
    """What a card and `show` display of a check or an evaluation is checked too."""
    from govern.services import checks
    from tests.builders import results_by_sex, store_evaluation

    checks.check_version(logged.ctx("bob"), "tiny@1.0.0", ["baseline"])
    document = results_by_sex(accuracy=0.8, female_rate=0.5)
    store_evaluation(logged.ctx("bob"), "tiny@1.0.0", document)
    assert verify(logged.url).returncode == 0
    tamper(logged.url, ("UPDATE rule_result SET status = 'pass' WHERE status = 'fail'", ()))
    lines = tampered(logged.url)
    assert any(line.startswith("policy_run #1 (tiny@1.0.0) rules: is {") for line in lines), lines
    tamper(logged.url, ("UPDATE evaluation SET dataset_sha256 = ?", ("0" * 64,)))
    lines = tampered(logged.url)
    assert any(
        line.startswith("evaluation #1 (tiny@1.0.0) dataset_sha256: is '0000") for line in lines
    )
