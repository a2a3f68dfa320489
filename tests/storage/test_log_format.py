"""The audit log's canonical form (docs/audit-log-format.md) and the stand-alone verifier.

An auditor's own verifier, in any language, computes hashes and checks signatures from the
written specification, not from govern's code. The known-answer vectors
(docs/test-vectors/audit-events.json) tie the two together: govern's own functions must
reproduce every body, hash, fingerprint and Ed25519 signature exactly, so a change to the
hashed fields or their encoding fails here before it reaches a log that someone else's
verifier must read. The mutation tests prove the vectors are sharp enough to notice.

docs/verify_log.py is checked against the vectors (in process: it is plain Python) and, as a
real process that cannot import govern, against ``govern audit export`` of a catalogue where
many kinds of things happened, untouched and tampered with.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from govern import personal_keys
from govern.errors import PermissionDenied
from govern.services import Context, catalogue, keys, users, workflow
from govern.services import audit as audit_service
from govern.storage import audit
from govern.storage.audit import AuditRecord
from tests.conftest import REPO, invoke_cli, key_dir, run_cli
from tests.helpers import CARDS, assert_clean_failure

VERIFIER = REPO / "docs" / "verify_log.py"
VECTORS = json.loads((REPO / "docs" / "test-vectors" / "audit-events.json").read_text("utf-8"))
CATALOGUE_ID = VECTORS["catalogue_id"]
EVENTS = {vector["name"]: vector for vector in VECTORS["events"]}
FORMAT_2_VECTORS = [name for name, v in EVENTS.items() if v["event"]["format"] == 2]
FORMAT_1_VECTORS = [name for name, v in EVENTS.items() if v["event"]["format"] == 1]
EXPORT_HEADER = {"format": audit_service.EXPORT_FORMAT, "catalogue_id": CATALOGUE_ID}


def _load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_log", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify_log = _load_verifier()


def ed25519_test_key() -> ed25519.Ed25519PrivateKey:
    seed = bytes.fromhex(VECTORS["keys"]["ed25519"]["private_seed_hex"])
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def ecdsa_test_key() -> ec.EllipticCurvePrivateKey:
    pem = VECTORS["keys"]["ecdsa-p256"]["private_key_pem"].encode("ascii")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def govern_body(event: dict[str, Any], catalogue_id: str = CATALOGUE_ID) -> bytes:
    """What govern hashes and signs for a format-2 event of the export's shape."""
    return audit.event_body(
        catalogue=catalogue_id,
        seq=event["seq"],
        ts=event["ts"],
        actor=event["actor"],
        action=event["action"],
        subject=event["subject"],
        payload=event["payload"],
        prev=event["prev_hash"],
        key=event["key"],
        settings=event["settings"],
    )


def govern_legacy_body(event: dict[str, Any]) -> str:
    return audit.legacy_body(
        event["seq"],
        event["ts"],
        event["actor"],
        event["action"],
        event["subject"],
        event["payload"],
    )


# --- govern reproduces the vectors -------------------------------------------------------------


@pytest.mark.parametrize("name", FORMAT_2_VECTORS)
def test_signed_event_body_and_hash_are_the_vectors(name: str) -> None:
    vector = EVENTS[name]
    body = govern_body(vector["event"])
    assert body == vector["body"].encode("utf-8")
    assert audit.event_hash(body) == vector["event"]["hash"]
    assert hashlib.sha256(body).hexdigest() == vector["event"]["hash"]


@pytest.mark.parametrize("name", FORMAT_1_VECTORS)
def test_legacy_event_body_and_hash_are_the_vectors(name: str) -> None:
    event = EVENTS[name]["event"]
    body = govern_legacy_body(event)
    assert body == EVENTS[name]["body"]
    assert audit.legacy_hash(event["prev_hash"], body) == event["hash"]
    assert hashlib.sha256((event["prev_hash"] + body).encode("utf-8")).hexdigest() == event["hash"]


def test_a_stored_event_is_checked_by_the_rule_of_its_format() -> None:
    """The export's fields are the stored row's: each vector is an AuditRecord as it is."""
    for vector in VECTORS["events"]:
        assert AuditRecord(**vector["event"]).expected_hash(CATALOGUE_ID) == vector["event"]["hash"]


def test_vectors_form_one_chain_from_the_genesis_hash() -> None:
    prev = audit.GENESIS_HASH
    for seq, vector in enumerate(VECTORS["events"], 1):
        assert (vector["event"]["seq"], vector["event"]["prev_hash"]) == (seq, prev)
        prev = vector["event"]["hash"]


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_key_fingerprints_are_the_vectors(algorithm: str) -> None:
    published = VECTORS["keys"][algorithm]
    private = ed25519_test_key() if algorithm == "ed25519" else ecdsa_test_key()
    public = private.public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki.hex() == published["spki_der_hex"]
    assert personal_keys.public_pem(public) == published["public_key_pem"]
    assert personal_keys.algorithm_of(public) == algorithm
    assert personal_keys.fingerprint_of(public) == published["fingerprint"]
    loaded = personal_keys.load_public_key(published["public_key_pem"])
    assert personal_keys.fingerprint_of(loaded) == published["fingerprint"]


def test_the_ecdsa_test_key_is_the_published_scalar() -> None:
    scalar = ecdsa_test_key().private_numbers().private_value
    assert f"{scalar:064x}" == VECTORS["keys"]["ecdsa-p256"]["private_scalar_hex"]


@pytest.mark.parametrize("name", [n for n in FORMAT_2_VECTORS if EVENTS[n]["signed_with"]])
def test_signatures_are_the_vectors(name: str) -> None:
    """Ed25519 is deterministic: govern's signature is the published bytes. ECDSA is not:
    the published signature must verify, and govern's own must verify too."""
    vector = EVENTS[name]
    body = govern_body(vector["event"])
    published = base64.b64decode(vector["event"]["signature"], validate=True)
    algorithm = vector["signed_with"]
    private = ed25519_test_key() if algorithm == "ed25519" else ecdsa_test_key()
    public = personal_keys.load_public_key(VECTORS["keys"][algorithm]["public_key_pem"])
    assert personal_keys.fingerprint_of(public) == vector["event"]["key"]
    assert personal_keys.verify(public, body, published)
    assert not personal_keys.verify(public, body + b" ", published)
    ours = personal_keys.sign(private, body)
    if algorithm == "ed25519":
        assert ours == published
    else:
        assert published[0] == 0x30  # DER SEQUENCE, not r || s
        assert personal_keys.verify(public, body, ours)


def test_the_vectors_keep_covering_what_implementations_get_wrong() -> None:
    """Whoever edits the vectors keeps the cases a re-implementation is likely to miss."""
    refusal = EVENTS["unsigned-refusal"]["event"]
    assert (refusal["key"], refusal["settings"], refusal["signature"]) == (None, None, None)
    assert refusal["action"].endswith(".refused")
    assert {EVENTS[n]["signed_with"] for n in FORMAT_2_VECTORS} == {"ed25519", "ecdsa-p256", None}
    awkward = EVENTS["awkward-text"]["event"]
    payload = "".join(map(str, json.loads(awkward["payload"]).values()))
    for text in (awkward["subject"], payload):  # escaped once in the body, and twice
        for character in '"\\\n\t\r\b\f\x01\x7f\u2028😀':
            assert character in text, repr(character)
    assert not EVENTS["legacy-non-ascii"]["event"]["subject"].isascii()


def test_the_specification_quotes_the_vectors() -> None:
    """The bodies and hashes shown in docs/audit-log-format.md are those of the vectors."""
    specification = (REPO / "docs" / "audit-log-format.md").read_text(encoding="utf-8")
    quoted = re.findall(r"```\n(\{.*\})\n```", specification)
    bodies = {vector["body"]: vector for vector in VECTORS["events"]}
    shown = [bodies[text] for text in quoted if text.startswith('{"action":"')]
    assert [vector["name"] for vector in shown] == ["plain", "legacy-first"]
    for vector in shown:
        assert f"`{vector['event']['hash']}`" in specification


# --- the vectors notice a change to the canonical form -----------------------------------------

Mutation = Callable[[dict[str, Any]], dict[str, Any]]
HASHED_FIELDS = ("action", "actor", "catalogue", "format", "key", "payload", "prev", "seq")
HASHED_FIELDS += ("settings", "subject", "ts")


def _without(name: str) -> Mutation:
    return lambda body: {k: v for k, v in body.items() if k != name}


#: Changes someone might make to the signed body; each must change every signed vector.
FIELD_MUTATIONS: dict[str, Mutation] = {
    **{f"{name} left out": _without(name) for name in HASHED_FIELDS},
    "prev renamed prev_hash": lambda body: {**_without("prev")(body), "prev_hash": body["prev"]},
    "payload parsed, not its text": lambda body: {**body, "payload": json.loads(body["payload"])},
    "the export's hash added": lambda body: {**body, "hash": None},
}


@pytest.mark.parametrize("mutation", FIELD_MUTATIONS)
def test_a_change_to_the_hashed_fields_fails_every_signed_vector(
    mutation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    canonical_json = audit.canonical_json
    change = FIELD_MUTATIONS[mutation]
    monkeypatch.setattr(audit, "canonical_json", lambda value: canonical_json(change(value)))
    for name in FORMAT_2_VECTORS:
        assert govern_body(EVENTS[name]["event"]) != EVENTS[name]["body"].encode("utf-8"), name


#: Other serialisations of the same object; each must change the awkward-text vector.
SERIALISATIONS: dict[str, Callable[[Any], str]] = {
    "non-ASCII escaped": lambda value: json.dumps(value, sort_keys=True, separators=(",", ":")),
    "spaces after separators": lambda value: json.dumps(value, sort_keys=True, ensure_ascii=False),
}


@pytest.mark.parametrize("serialisation", SERIALISATIONS)
def test_another_serialisation_fails_the_vectors(
    serialisation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "canonical_json", SERIALISATIONS[serialisation])
    awkward = EVENTS["awkward-text"]
    assert govern_body(awkward["event"]) != awkward["body"].encode("utf-8")


class _AsciiJson:
    """The json module as it would be with ``ensure_ascii=True`` (json's own default)."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(value: Any, **options: Any) -> str:
        return json.dumps(value, **{**options, "ensure_ascii": True})


def test_escaping_non_ascii_text_fails_the_legacy_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "json", _AsciiJson)
    legacy = EVENTS["legacy-non-ascii"]
    assert govern_legacy_body(legacy["event"]) != legacy["body"]


# --- the stand-alone verifier against the vectors ----------------------------------------------

EXPORT_FIELDS = ["seq", "ts", "actor", "action", "subject", "payload", "prev_hash", "hash"]
EXPORT_FIELDS += ["format", "key", "settings", "signature"]
TEST_SIGNERS: dict[str, Any] = {
    VECTORS["keys"]["ed25519"]["fingerprint"]: ed25519_test_key(),
    VECTORS["keys"]["ecdsa-p256"]["fingerprint"]: ecdsa_test_key(),
}


def run_verifier(export: Path) -> subprocess.CompletedProcess[str]:
    """docs/verify_log.py as an auditor runs it, in a process where govern cannot be imported."""
    without_govern = (
        "import runpy, sys; sys.modules['govern'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", without_govern, str(VERIFIER), str(export)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_export(path: Path, header: dict[str, Any], events: list[dict[str, Any]]) -> Path:
    """Lines as ``govern audit export`` writes them: UTF-8, non-ASCII text as itself."""
    lines = [json.dumps(header), *(json.dumps(e, ensure_ascii=False) for e in events)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_export(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").split("\n")  # a line may hold a raw U+2028
    header, *events = (json.loads(line) for line in lines if line)
    return header, events


def vector_events() -> list[dict[str, Any]]:
    return [dict(vector["event"]) for vector in VECTORS["events"]]


def rechain(events: list[dict[str, Any]], signers: dict[str, Any]) -> list[dict[str, Any]]:
    """What a forger holding ``signers`` (fingerprint: private key) can write: every sequence
    number, link and hash recomputed, and each event naming a key re-signed with it."""
    prev = audit.GENESIS_HASH
    for seq, event in enumerate(events, 1):
        event.update(seq=seq, prev_hash=prev)
        if event["format"] == 1:
            event["hash"] = audit.legacy_hash(prev, govern_legacy_body(event))
        else:
            body = govern_body(event)
            event["hash"] = audit.event_hash(body)
            if event["key"] is not None:
                signature = personal_keys.sign(signers[event["key"]], body)
                event["signature"] = base64.b64encode(signature).decode("ascii")
        prev = event["hash"]
    return events


def test_verifier_accepts_the_vectors() -> None:
    problems, counts = verify_log.verify(CATALOGUE_ID, vector_events())
    assert problems == []
    assert counts == {"events": 7, "signed": 4, "refusals": 1, "legacy": 2}


def test_verifier_accepts_an_export_of_the_vectors(tmp_path: Path) -> None:
    export = write_export(tmp_path / "vectors.jsonl", EXPORT_HEADER, vector_events())
    assert "\u2028" in export.read_text(encoding="utf-8")  # a line break to str.splitlines()
    result = run_verifier(export)
    assert result.returncode == 0, result.stdout + result.stderr
    head = VECTORS["events"][-1]["event"]["hash"]
    assert result.stdout == (
        "Audit log intact: 7 events, 4 signed and verified, 1 unsigned refusals, "
        f"2 legacy (hash-only); head: event 7 {head}\n"
    )


def test_rechain_reproduces_the_vectors() -> None:
    """The forger's tool of the tests below is faithful: it changes only ECDSA signatures."""
    for event, vector in zip(
        rechain(vector_events(), TEST_SIGNERS), VECTORS["events"], strict=True
    ):
        if vector["signed_with"] != "ecdsa-p256":
            assert event == vector["event"]


def _legacy_after_signing(events: list[dict[str, Any]], signers: dict[str, Any]) -> None:
    events.append({**events[1], "subject": "user:eve"})


def _revoked_key_used(events: list[dict[str, Any]], signers: dict[str, Any]) -> None:
    """The admin revokes zoë's key just before zoë's registration is signed with it."""
    zoe = VECTORS["keys"]["ecdsa-p256"]["fingerprint"]
    payload = {"fingerprint": zoe, "reason": "lost", "user": "zoë"}
    revoke = {**events[3], "action": "key.revoke", "subject": "user:zoë"}
    events.insert(5, {**revoke, "payload": audit.canonical_json(payload)})


def _second_self_enrolment(events: list[dict[str, Any]], signers: dict[str, Any]) -> None:
    """A later catalogue.upgrade signed by a new key that its own payload enrols: only the
    first signed event of a log, when no key is enrolled yet, may do that."""
    intruder = ed25519.Ed25519PrivateKey.generate()
    record = json.loads(EVENTS["bootstrap"]["event"]["payload"])["key"]
    record["public_key"] = personal_keys.public_pem(intruder.public_key())
    record["fingerprint"] = personal_keys.fingerprint_of(intruder.public_key())
    payload = {"from": "0005", "to": "0006", "digests_written": 0, "key": record}
    upgrade = {**events[2], "key": record["fingerprint"], "payload": audit.canonical_json(payload)}
    events.append(upgrade)
    signers[record["fingerprint"]] = intruder


def _enrolment_names_another_key(events: list[dict[str, Any]], signers: dict[str, Any]) -> None:
    """zoë's enrolment records her key's fingerprint beside another key, which then signs."""
    other = ec.generate_private_key(ec.SECP256R1())
    enrolment = json.loads(events[4]["payload"])
    enrolment["public_key"] = personal_keys.public_pem(other.public_key())
    events[4]["payload"] = audit.canonical_json(enrolment)
    signers[enrolment["fingerprint"]] = other


def _refusal_renamed(events: list[dict[str, Any]], signers: dict[str, Any]) -> None:
    events[-1]["action"] = "version.approve"


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        (_legacy_after_signing, "event 8: a hash-only event (format 1) after signed events began"),
        (_revoked_key_used, "event 7: signed by zoë's key after it was revoked"),
        (_second_self_enrolment, "event 8: signed by a key that is not enrolled (sha256:"),
        (_enrolment_names_another_key, "event 6: its signature does not verify under zoë's"),
        (_refusal_renamed, "event 7: version.approve by mallory is not signed"),
    ],
    ids=[
        "legacy after signing",
        "revoked key",
        "second self-enrolment",
        "fingerprint of another key",
        "unsigned approval",
    ],
)
def test_verifier_applies_the_signing_rules(
    forge: Callable[[list[dict[str, Any]], dict[str, Any]], None], expected: str
) -> None:
    """Forgeries whose hashes and links are all correct: only the signing rules catch them."""
    events, signers = vector_events(), dict(TEST_SIGNERS)
    forge(events, signers)
    problems, _ = verify_log.verify(CATALOGUE_ID, rechain(events, signers))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_verifier_checks_each_signature() -> None:
    """A signature is not hashed: swapping one in leaves the chain whole, and only fails it."""
    events = vector_events()
    events[3]["signature"] = events[2]["signature"]
    problems, _ = verify_log.verify(CATALOGUE_ID, events)
    assert problems == ["event 4: its signature does not verify under admin's key"]


def test_verifier_accepts_rsa_signatures() -> None:
    """govern enrols RSA keys of 2048 bits or more (from PKCS#12 files): zoë gets one here."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fingerprint = personal_keys.fingerprint_of(rsa_key.public_key())
    events = vector_events()
    enrolment = json.loads(events[4]["payload"])
    enrolment.update(
        algorithm="rsa-2048",
        fingerprint=fingerprint,
        public_key=personal_keys.public_pem(rsa_key.public_key()),
    )
    events[4]["payload"] = audit.canonical_json(enrolment)
    events[5]["key"] = fingerprint
    forged = rechain(events, {**TEST_SIGNERS, fingerprint: rsa_key})
    assert verify_log.verify(CATALOGUE_ID, forged)[0] == []


def test_verifier_stops_at_the_first_broken_link() -> None:
    events = vector_events()
    events[4]["payload"] = events[4]["payload"].replace("laptop", "desktop")
    problems, _ = verify_log.verify(CATALOGUE_ID, events)
    assert problems == ["event 5 was altered (its content does not match its hash)"]


def test_the_catalogue_id_is_part_of_every_signed_event() -> None:
    """A log cannot be passed off as another catalogue's: its first signed event breaks."""
    problems, _ = verify_log.verify("another-catalogue", vector_events())
    assert problems == ["event 3 was altered (its content does not match its hash)"]


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json\n",
        '{"format": "something-else/1"}\n',
        json.dumps(EXPORT_HEADER) + '\n{"seq": 1}\n',
        json.dumps(EXPORT_HEADER) + "\n" + json.dumps({**vector_events()[0], "seq": True}),
        json.dumps(EXPORT_HEADER) + "\n" + json.dumps({**vector_events()[0], "actor": "\ud800"}),
    ],
    ids=[
        "empty",
        "not JSON",
        "another format",
        "not an event",
        "a boolean for a number",
        "a lone surrogate",
    ],
)
def test_verifier_exits_2_on_an_unreadable_export(tmp_path: Path, content: str) -> None:
    export = tmp_path / "export.jsonl"
    export.write_text(content, encoding="utf-8")
    result = run_verifier(export)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_verifier_finds_an_export_without_events(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export.jsonl", EXPORT_HEADER, [])
    result = run_verifier(export)
    assert (result.returncode, result.stdout) == (1, "TAMPERED: the export holds no events\n")


def test_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


# --- a real catalogue, exported by govern ------------------------------------------------------

TRICKY_COMMENT = 'Bitte prüfen: "Schwelle" \\ C:\\daten\nzweite Zeile\tmit Tab, 信用 😀'


@pytest.fixture
def catalogue_with_history(sqlite_cat, tmp_path):
    """A catalogue where users were added, keys rotated and revoked, a user left, a role and
    the settings changed, a version registered, submitted, sent back and resubmitted, and
    attempts refused; and its export, by govern's export service."""
    cat = sqlite_cat
    admin = cat.ctx("admin")
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    workflow.submit(cat.ctx("alice"), "tiny@1.0.0", comment="first look")
    with pytest.raises(PermissionDenied):
        catalogue.register_version(cat.ctx("victor"), CARDS / "minimal.card.yaml")
    with pytest.raises(PermissionDenied):
        workflow.submit(cat.ctx("mallory"), "tiny@1.0.0")
    new_laptop = tmp_path / "bob-new-laptop"
    personal_keys.create(new_laptop, algorithm="ed25519", passphrase=None)
    keys.enrol_key(admin, "bob", new_laptop / personal_keys.PUBLIC_FILE, label="new", replace=True)
    bob = Context.open(database_url=cat.url, user="bob", key_dir=new_laptop)
    try:
        workflow.request_changes(bob, "tiny@1.0.0", comment=TRICKY_COMMENT)
    finally:
        bob.close()
    dave = personal_keys.fingerprint_of(personal_keys.read_public(key_dir("dave")))
    keys.revoke_key(admin, dave, reason="laptop lost")
    users.deactivate(admin, "erin", reason="left the company")
    users.set_role(admin, "victor", role="developer")
    cat.configure(max_waiver_days=90)
    workflow.submit(cat.ctx("alice"), "tiny@1.0.0", comment="fixed")
    export = tmp_path / "export.jsonl"
    audit_service.export_log(admin, export)
    return cat, export


def test_verifier_accepts_govern_audit_export_of_a_real_catalogue(
    catalogue_with_history, tmp_path
) -> None:
    cat, _ = catalogue_with_history
    export = tmp_path / "by-the-cli.jsonl"
    written = run_cli("audit", "export", "-o", str(export), db=cat.url)
    assert written.returncode == 0, written.stderr
    verdict = audit_service.verify_audit(cat.ctx("admin"))
    assert verdict.ok, verdict.problems
    _, events = read_export(export)
    assert {e["action"] for e in events} >= {
        "catalogue.init",
        "user.add",
        "version.register",
        "version.register.refused",
        "version.submit",
        "version.submit.refused",
        "version.request_changes",
        "key.enrol",
        "key.revoke",
        "user.deactivate",
        "user.set_role",
        "settings.apply",
    }
    assert any(TRICKY_COMMENT in json.loads(e["payload"]).get("comment", "") for e in events)
    result = run_verifier(export)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (
        f"Audit log intact: {verdict.events} events, {verdict.signed_events} signed and "
        f"verified, {verdict.unsigned_refusals} unsigned refusals, 0 legacy (hash-only); "
        f"head: event {verdict.head_seq} {verdict.head_hash}\n"
    )


Tampering = Callable[[list[dict[str, Any]], str], int]


def _seq_of(events: list[dict[str, Any]], action: str) -> int:
    return next(e["seq"] for e in events if e["action"] == action)


def _edit_payload(events: list[dict[str, Any]], catalogue_id: str) -> int:
    seq = _seq_of(events, "version.request_changes")
    events[seq - 1]["payload"] = events[seq - 1]["payload"].replace("prüfen", "nicht prüfen")
    return seq


def _resigned_by(owner: str) -> Tampering:
    """Bob's request for changes rewritten, re-hashed and re-signed with ``owner``'s key, and
    the events after it (signed over the old hash) dropped: the chain holds, the key does not."""

    def forge(events: list[dict[str, Any]], catalogue_id: str) -> int:
        forger = personal_keys.load(key_dir(owner), passphrase=None)
        seq = _seq_of(events, "version.request_changes")
        del events[seq:]
        event = events[-1]
        event["payload"] = event["payload"].replace("zweite Zeile", "alles gut")
        event["key"] = forger.fingerprint
        body = govern_body(event, catalogue_id)
        event["hash"] = audit.event_hash(body)
        event["signature"] = base64.b64encode(forger.sign(body)).decode("ascii")
        return seq

    return forge


def _delete_line(events: list[dict[str, Any]], catalogue_id: str) -> int:
    seq = _seq_of(events, "key.revoke")
    del events[seq - 1]
    return seq


def _forge_unsigned_approval(events: list[dict[str, Any]], catalogue_id: str) -> int:
    """An approval with a correct hash and link, but no signature (only refusals have none)."""
    last = events[-1]
    payload = audit.canonical_json({"from_state": "submitted", "to_state": "approved"})
    forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "payload": payload}
    forged.update(actor="carol", action="version.approve", key=None, signature=None)
    forged["hash"] = audit.event_hash(govern_body(forged, catalogue_id))
    events.append(forged)
    return forged["seq"]


TAMPERINGS: dict[str, tuple[Tampering, str]] = {
    "edited payload": (_edit_payload, "was altered"),
    "re-signed with alice's key": (_resigned_by("alice"), "names bob but is signed by alice's"),
    "signed with a key never enrolled": (_resigned_by("mallory"), "key that is not enrolled"),
    "deleted line": (_delete_line, "is missing"),
    "forged unsigned approval": (_forge_unsigned_approval, "approve by carol is not signed"),
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_verifier_rejects_a_tampered_export(
    catalogue_with_history, tmp_path, tampering: str
) -> None:
    _, export = catalogue_with_history
    header, events = read_export(export)
    forge, message = TAMPERINGS[tampering]
    seq = forge(events, header["catalogue_id"])
    result = run_verifier(write_export(tmp_path / "tampered.jsonl", header, events))
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"TAMPERED: event {seq}"), first
    assert message in first


# --- govern audit export -----------------------------------------------------------------------


def test_audit_export_writes_a_header_and_every_event(sqlite_cat, tmp_path) -> None:
    export = tmp_path / "log.jsonl"
    result = invoke_cli("audit", "export", "-o", str(export), db=sqlite_cat.url)
    assert result.returncode == 0, result.stderr
    header, events = read_export(export)
    assert result.stdout.strip() == f"Exported {len(events)} events to {export}."
    catalogue_id = json.loads(events[0]["payload"])["catalogue_id"]
    assert header == {"format": "govern-audit-export/1", "catalogue_id": catalogue_id}
    assert len(events) == audit_service.count_events(sqlite_cat.ctx("admin"))
    assert [list(e) for e in events] == [EXPORT_FIELDS] * len(events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_audit_export_refuses_an_existing_file(sqlite_cat, tmp_path) -> None:
    export = tmp_path / "log.jsonl"
    export.write_text("keep me\n", encoding="utf-8")
    result = invoke_cli("audit", "export", "-o", str(export), db=sqlite_cat.url)
    (message,) = assert_clean_failure(result, 2)
    assert "already exists" in message
    assert export.read_text(encoding="utf-8") == "keep me\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".log.jsonl")] == []
