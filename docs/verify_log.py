"""Check a govern audit export without govern: ``python docs/verify_log.py export.jsonl``.

It applies docs/audit-log-format.md with the standard library and ``cryptography`` only, so an
auditor need not trust govern's code: each event's hash and link, format 1 only before format 2,
and each signature against the key enrolled to the event's actor at that point of the log. Not
checked: roles and the catalogue's tables (``govern audit verify`` does), and a log cut short at
its end (compare the head printed here with a checkpoint's ``seq`` and ``head_hash``).
Exit 0: intact; 1: a finding (the first problems are printed); 2: the file cannot be read.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

TEXT, NUMBER, NULL = (str,), (int,), type(None)  # JSON types; type() tells bool from int
FIELDS = {"seq": NUMBER, "ts": TEXT, "actor": TEXT, "action": TEXT, "subject": TEXT,
          "payload": TEXT, "prev_hash": TEXT, "hash": TEXT, "format": NUMBER,
          "key": (str, NULL), "settings": (int, NULL), "signature": (str, NULL)}
SPKI_DER = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
BOOTSTRAP = ("catalogue.init", "catalogue.upgrade")


def read_export(path):
    lines = Path(path).read_text(encoding="utf-8").split("\n")  # not splitlines(): see U+2028
    header = json.loads(lines[0]) if lines else None
    if not isinstance(header, dict) or header.get("format") != "govern-audit-export/1":
        raise ValueError("its first line does not name the format govern-audit-export/1")
    events = [json.loads(line) for line in lines[1:] if line.strip()]
    for number, e in enumerate(events, 2):
        if not isinstance(e, dict) or any(type(e.get(n, ...)) not in t for n, t in FIELDS.items()):
            raise ValueError(f"line {number} is not an event with the fields of an export")
        json.dumps(e, ensure_ascii=False).encode()  # a lone surrogate ("\ud800") is no text
    return str(header.get("catalogue_id")), events


def hashed_bytes(catalogue, e):
    """Format 2: the body, which is also what is signed; format 1: prev_hash + legacy body."""
    if e["format"] == 1:
        action, actor, subject, ts = (json.dumps(e[n], ensure_ascii=False)
                                      for n in ("action", "actor", "subject", "ts"))
        return (f'{e["prev_hash"]}{{"action":{action},"actor":{actor},"payload":{e["payload"]},'
                f'"seq":{e["seq"]},"subject":{subject},"ts":{ts}}}').encode()
    names = ("action", "actor", "key", "payload", "seq", "settings", "subject", "ts")
    body = {n: e[n] for n in names} | {"catalogue": catalogue, "format": 2, "prev": e["prev_hash"]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_verifies(pem, fingerprint, body, signature):
    """The key must be the one the fingerprint names (an enrolment records both)."""
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
        value = base64.b64decode(signature, validate=True)
        if "sha256:" + hashlib.sha256(key.public_bytes(*SPKI_DER)).hexdigest() != fingerprint:
            return False
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(value, body)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            key.verify(value, body, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
            key.verify(value, body, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (ValueError, UnsupportedAlgorithm, InvalidSignature):  # binascii.Error is a ValueError
        return False
    return True


def update_registry(keys, action, data):
    """Replay one key event (docs/audit-log-format.md, "Who may sign what")."""
    revoked = []
    if action == "key.enrol":
        revoked = data.get("replaces") or []
    elif action == "user.deactivate":
        revoked = data.get("revoked_keys") or []
    elif action == "key.revoke":
        revoked = [data["fingerprint"]]
    for fingerprint in revoked:
        keys.get(fingerprint, {})["active"] = False
    enrolled = data if action == "key.enrol" else data.get("key")
    if action in ("key.enrol", "user.add", *BOOTSTRAP) and isinstance(enrolled, dict):
        user, public_key = enrolled["user"], enrolled["public_key"]
        keys[enrolled["fingerprint"]] = {"user": user, "public_key": public_key, "active": True}


def signing_problem(catalogue, keys, e, data):
    """Why a signed event's signature does not stand, or None when it does."""
    bootstrap = data.get("key") if e["action"] in BOOTSTRAP and not keys else None
    if isinstance(bootstrap, dict) and bootstrap.get("fingerprint") == e["key"]:
        update_registry(keys, e["action"], data)  # the one event its own key may sign
    key = keys.get(e["key"])
    if key is None:
        return f"signed by a key that is not enrolled ({e['key']})"
    if key["user"] != e["actor"]:
        return f"{e['action']} names {e['actor']} but is signed by {key['user']}'s key"
    if not key["active"]:
        return f"signed by {e['actor']}'s key after it was revoked"
    body = hashed_bytes(catalogue, e)
    if not signature_verifies(key["public_key"], e["key"], body, e["signature"]):
        return f"its signature does not verify under {e['actor']}'s key"
    return None


def verify(catalogue, events):
    """(problems, counts): nothing after a broken link is known; other findings accumulate."""
    keys, problems, prev = {}, [], "0" * 64
    count = {"events": len(events), "signed": 0, "refusals": 0, "legacy": 0}
    for seq, e in enumerate(events, 1):
        where, digest = f"event {seq}", hashlib.sha256(hashed_bytes(catalogue, e)).hexdigest()
        if e["seq"] != seq:
            return [*problems, f"{where} is missing (event {e['seq']} is in its place)"], count
        if e["prev_hash"] != prev:
            return [*problems, f"{where} does not follow event {seq - 1} (broken link)"], count
        if e["format"] not in (1, 2) or e["hash"] != digest:
            return [*problems, f"{where} was altered (its content does not match its hash)"], count
        prev, refusal, problem = e["hash"], e["action"].endswith(".refused"), None
        try:
            data = json.loads(e["payload"])
        except (ValueError, RecursionError):
            data = None  # not what govern writes, yet its hash and signature are checked
        data = data if isinstance(data, dict) else {}
        try:
            if e["format"] == 1:
                count["legacy"] += 1
                if count["signed"] or count["refusals"]:
                    problem = "a hash-only event (format 1) after signed events began"
            elif e["signature"] is None or e["key"] is None:
                count["refusals"] += refusal
                problem = None if refusal else f"{e['action']} by {e['actor']} is not signed"
            else:
                count["signed"] += 1
                problem = signing_problem(catalogue, keys, e, data)
            if not refusal:
                update_registry(keys, e["action"], data)
        except (KeyError, TypeError, AttributeError):
            problem = problem or f"its {e['action']} payload is not what govern writes"
        if problem:
            problems.append(f"{where}: {problem}")
    return problems or ([] if events else ["the export holds no events"]), count


if __name__ == "__main__":
    try:
        if len(sys.argv) != 2:
            raise ValueError("give one file: python verify_log.py EXPORT.jsonl")
        catalogue_id, log = read_export(sys.argv[1])
    except (OSError, ValueError, RecursionError) as exc:  # a JSON error is a ValueError
        print(f"verify_log.py: cannot read the export: {exc}", file=sys.stderr)
        sys.exit(2)
    found, n = verify(catalogue_id, log)
    for problem in found[:10]:
        print(f"TAMPERED: {problem}")
    if len(found) > 10:
        print(f"... and {len(found) - 10} more problems")
    if not found:
        print(f"Audit log intact: {n['events']} events, {n['signed']} signed and verified, "
              f"{n['refusals']} unsigned refusals, {n['legacy']} legacy (hash-only); "
              f"head: event {log[-1]['seq']} {log[-1]['hash']}")
    sys.exit(1 if found else 0)
