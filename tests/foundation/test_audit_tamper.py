"""Tampering with the audit log behind govern's back, then asking `govern audit verify`.

The attacker owns the database: they use sqlite3 (or psycopg) directly, find the append-only
triggers in the way, drop them, and edit, delete, reorder, truncate or rewrite events. The
chain names the first bad event; truncation and a full rewrite need a signed checkpoint.

The verdicts are read from `govern audit verify` run in process (``invoke_cli``, the same
``run`` that ``python -m govern`` exits with); the untouched log, a deleted event, a
truncation caught by a checkpoint and a pipe given as the checkpoint also run it as a real
process, for exit codes 0, 1 and 2 as a shell sees them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from govern.config import load_settings
from govern.services import catalogue, keys
from govern.storage.audit import GENESIS_HASH, chain_hash, event_body
from tests.conftest import invoke_cli, run_cli
from tests.foundation.helpers import (
    CARDS,
    assert_clean_failure,
    is_postgres,
    placeholder,
    raw_connection,
    sqlite_file,
)

COLUMNS = ("ts", "actor", "action", "subject", "payload", "prev_hash", "hash")


@pytest.fixture
def logged(cat, tmp_path):
    """A catalogue with users and two versions: ten events in its log."""
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    second = tmp_path / "second.card.yaml"
    second.write_text((CARDS / "minimal.card.yaml").read_text().replace("1.0.0", "1.1.0"))
    catalogue.register_version(cat.ctx("alice"), second)
    assert count(cat.url) == 10
    return cat


@pytest.fixture
def signing_key():
    return keys.init_keys(load_settings())


def count(url: str) -> int:
    with raw_connection(url) as conn:
        return conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]


def rows(url: str) -> list[tuple]:
    with raw_connection(url) as conn:
        cols = ", ".join(("seq", *COLUMNS))
        return list(conn.execute(f"SELECT {cols} FROM audit_event ORDER BY seq").fetchall())


def tamper(url: str, *statements: tuple[str, tuple]) -> None:
    """Drop the append-only triggers as the file's owner can, then run ``statements``."""
    with raw_connection(url) as conn:
        if is_postgres(url):
            conn.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        else:
            conn.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        mark = placeholder(url)
        for sql, params in statements:
            conn.execute(sql.replace("?", mark), params)
        conn.commit()


def verify(url: str, *extra: str, process: bool = False):
    """`govern audit verify`; ``process`` runs it as a real subprocess."""
    return (run_cli if process else invoke_cli)("audit", "verify", *extra, db=url)


def checkpoint(
    url: str, path: Path, env: dict[str, str] | None = None, *, process: bool = False
) -> Path:
    result = (run_cli if process else invoke_cli)(
        "audit", "checkpoint", "-o", str(path), db=url, env=env
    )
    assert result.returncode == 0, result.stderr
    return path


# --- the triggers --------------------------------------------------------------------------


def test_sqlite_triggers_refuse_update_and_delete(sqlite_cat):
    before = rows(sqlite_cat.url)
    conn = sqlite3.connect(sqlite_file(sqlite_cat.url))
    try:
        for sql in (
            "UPDATE audit_event SET actor = 'mallory' WHERE seq = 2",
            "DELETE FROM audit_event WHERE seq = 2",
            "DELETE FROM audit_event",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="audit log is append-only"):
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
    ):
        with raw_connection(postgres_url) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="audit log is append-only"):
                conn.execute(sql)
            conn.rollback()
    assert rows(postgres_url) == before


# --- what the chain alone catches ----------------------------------------------------------


def test_untouched_log_verifies(logged):
    result = verify(logged.url, process=True)
    assert result.returncode == 0, result.stderr
    assert "Audit log intact: 10 events" in result.stdout
    verdict = json.loads(verify(logged.url, "--json").stdout)
    assert verdict["ok"] is True and verdict["events"] == 10 and verdict["problems"] == []
    assert verdict["first_bad_event"] is None


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
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == ["TAMPERED: event 5 was altered (its content no longer matches its hash)"]


def test_deleted_event_is_named(logged):
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq = ?", (5,)))
    lines = assert_clean_failure(verify(logged.url, process=True), code=1)
    assert lines == ["TAMPERED: event 5 is missing"]
    assert json.loads(verify(logged.url, "--json").stdout)["first_bad_event"] == 5


def test_deleted_first_event_is_named(logged):
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq = ?", (1,)))
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == ["TAMPERED: event 1 is missing"]


def test_reordered_events_are_named(logged):
    by_seq = {row[0]: row[1:] for row in rows(logged.url)}
    assignments = ", ".join(f"{c} = ?" for c in COLUMNS)
    sql = f"UPDATE audit_event SET {assignments} WHERE seq = ?"
    tamper(logged.url, (sql, (*by_seq[5], 4)), (sql, (*by_seq[4], 5)))
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == [
        "TAMPERED: event 4 does not follow event 3 (its link to the previous hash is broken)"
    ]
    verdict = json.loads(verify(logged.url, "--json").stdout)
    assert verdict["ok"] is False
    assert verdict["problems"] == [lines[0].removeprefix("TAMPERED: ")]
    assert verdict["first_bad_event"] == 4


def test_edited_hash_or_link_is_named(logged):
    tamper(logged.url, ("UPDATE audit_event SET hash = ? WHERE seq = ?", ("a" * 64, 6)))
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == ["TAMPERED: event 6 was altered (its content no longer matches its hash)"]
    tamper(logged.url, ("UPDATE audit_event SET prev_hash = ? WHERE seq = ?", ("b" * 64, 3)))
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == [
        "TAMPERED: event 3 does not follow event 2 (its link to the previous hash is broken)"
    ]


def test_emptied_log_is_tampering_even_without_a_checkpoint(logged):
    """A catalogue's first event is written with it, so an empty log was emptied."""
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq > ?", (0,)))
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == [
        "TAMPERED: the log is empty, but this catalogue was initialised with a first event: "
        "every event was deleted"
    ]


def test_dropped_log_table_is_tampering(logged, signing_key, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    with raw_connection(logged.url) as conn:
        conn.execute("DROP TABLE audit_event" + (" CASCADE" if is_postgres(logged.url) else ""))
        conn.commit()
    for extra in ((), ("--checkpoint", str(saved))):
        lines = assert_clean_failure(verify(logged.url, *extra), code=1)
        assert lines == ["TAMPERED: the audit log table is missing (it was dropped)"]


def test_log_with_an_unparsable_payload_still_reads(logged):
    """`audit log` shows what a tampered event holds instead of crashing on it."""
    tamper(logged.url, ("UPDATE audit_event SET payload = ? WHERE seq = ?", ("not json", 4)))
    result = invoke_cli("audit", "log", "--json", db=logged.url)
    assert result.returncode == 0, result.stderr
    [event] = [e for e in json.loads(result.stdout) if e["seq"] == 4]
    assert event["payload"] == {"unreadable_payload": "not json"}
    plain = invoke_cli("audit", "log", db=logged.url)
    assert plain.returncode == 0 and "unreadable_payload" in plain.stdout, plain.stderr
    lines = assert_clean_failure(verify(logged.url), code=1)
    assert lines == ["TAMPERED: event 4 was altered (its content no longer matches its hash)"]


def test_history_reads_a_lifecycle_event_whose_payload_was_edited(logged):
    """`govern history` reads the same log; an unparsable payload is shown, not a crash."""
    [(seq,)] = [
        r[:1] for r in rows(logged.url) if r[3] == "version.register" and r[4] == "tiny@1.1.0"
    ]
    tamper(logged.url, ("UPDATE audit_event SET payload = ? WHERE seq = ?", ("not json", seq)))
    result = invoke_cli("history", "tiny", "--json", db=logged.url)
    assert result.returncode == 0, result.stderr
    [entry] = [e for e in json.loads(result.stdout)["entries"] if e["seq"] == seq]
    assert (entry["action"], entry["ref"]) == ("register", "tiny@1.1.0")
    assert verify(logged.url).returncode == 1


# --- what needs a checkpoint -------------------------------------------------------------


def test_truncation_passes_the_chain_but_not_the_checkpoint(logged, signing_key, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json", process=True)
    tamper(logged.url, ("DELETE FROM audit_event WHERE seq > ?", (8,)))
    assert verify(logged.url).returncode == 0  # a shorter chain is still a valid chain
    result = verify(logged.url, "--checkpoint", str(saved), process=True)
    lines = assert_clean_failure(result, code=1)
    assert lines == [
        "TAMPERED: log truncated: the checkpoint records event 10, but the log ends at event 8"
    ]


def test_full_rewrite_passes_the_chain_but_not_the_checkpoint(logged, signing_key, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    original = rows(logged.url)
    # The attacker edits event 3 and recomputes every hash after it, as the code is public.
    statements = []
    prev = GENESIS_HASH
    for seq, ts, actor, action, subject, payload, _prev, _hash in original:
        if seq == 3:
            actor = "mallory"
        digest = chain_hash(prev, event_body(seq, ts, actor, action, subject, payload))
        statements.append(
            (
                "UPDATE audit_event SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (actor, prev, digest, seq),
            )
        )
        prev = digest
    tamper(logged.url, *statements)
    assert verify(logged.url).returncode == 0
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(saved)), code=1)
    assert lines == [
        "TAMPERED: log rewritten: event 10 no longer has the hash recorded in the checkpoint"
    ]


def test_checkpoint_still_matches_after_new_events(logged, signing_key, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    added = invoke_cli("users", "add", "zoe", "--role", "viewer", db=logged.url)
    assert added.returncode == 0, added.stderr
    result = verify(logged.url, "--checkpoint", str(saved))
    assert result.returncode == 0, result.stderr
    assert "11 events" in result.stdout and "matches checkpoint at event 10" in result.stdout


def test_checkpoint_of_a_broken_log_is_refused(logged, signing_key, tmp_path):
    tamper(logged.url, ("UPDATE audit_event SET actor = ? WHERE seq = ?", ("mallory", 2)))
    result = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"), db=logged.url)
    lines = assert_clean_failure(result, code=1)
    assert "refusing to checkpoint a broken log" in lines[0] and "event 2" in lines[0]
    assert not (tmp_path / "cp.json").exists()


def test_checkpoint_needs_a_key(logged, tmp_path):
    result = invoke_cli("audit", "checkpoint", "-o", str(tmp_path / "cp.json"), db=logged.url)
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "govern keys init" in lines[0]


# --- the checkpoint file itself ------------------------------------------------------------


def test_altered_checkpoint_is_reported(logged, signing_key, tmp_path):
    saved = checkpoint(logged.url, tmp_path / "cp.json")
    document = json.loads(saved.read_text())
    document["seq"] = 9  # pretend the log was shorter, keeping the old signature
    saved.write_text(json.dumps(document))
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(saved)), code=1)
    assert "TAMPERED: checkpoint signature does not match its content" in lines[0]


def test_checkpoint_signed_by_another_key_is_not_trusted(logged, signing_key, tmp_path):
    other = tmp_path / "other-keys"
    keys.init_keys(load_settings(key_dir=other), common_name="someone else")
    saved = checkpoint(logged.url, tmp_path / "cp.json", env={"GOVERN_KEY_DIR": str(other)})
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(saved)), code=1)
    assert len(lines) == 1
    assert "CN=someone else" in lines[0] and "not a trusted certificate" in lines[0]
    # Trusting that certificate explicitly makes the same checkpoint acceptable.
    trusted = json.dumps([str(other / "signing-cert.pem")])
    result = invoke_cli(
        "audit",
        "verify",
        "--checkpoint",
        str(saved),
        db=logged.url,
        env={"GOVERN_TRUSTED_CERTIFICATES": trusted},
    )
    assert result.returncode == 0, result.stderr


def test_checkpoint_of_another_catalogue_is_reported(logged, signing_key, tmp_path):
    from tests.conftest import make_catalogue

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    make_catalogue(other_url).close()
    saved = checkpoint(other_url, tmp_path / "cp.json")
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(saved)), code=1)
    assert lines == ["TAMPERED: checkpoint belongs to a different catalogue"]


BAD_CHECKPOINTS = {
    "empty": (b"", "checkpoint file is empty"),
    "not-json": (b"seq: 10\n", "invalid JSON"),
    "binary": (bytes(range(256)), "invalid JSON"),
    "list": (b"[1, 2, 3]", "missing fields"),
    "missing-fields": (b'{"format": "govern-audit-checkpoint/1", "seq": 1}', "missing fields"),
    "wrong-format": (
        json.dumps(
            {"format": "x/9", "catalogue_id": "", "seq": 1, "head_hash": "", "signature": {}}
        ).encode(),
        "unsupported checkpoint format 'x/9'",
    ),
    "wrong-types": (
        json.dumps(
            {
                "format": "govern-audit-checkpoint/1",
                "catalogue_id": "",
                "seq": "ten",
                "head_hash": "",
                "signature": {},
            }
        ).encode(),
        "wrong field types",
    ),
    "huge": (b"{" + b" " * 200_000 + b"}", "too large"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoint_files_exit_2(logged, kind, tmp_path):
    content, fragment = BAD_CHECKPOINTS[kind]
    path = tmp_path / f"{kind}.json"
    path.write_bytes(content)
    lines = assert_clean_failure(verify(logged.url, "--checkpoint", str(path)))
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
