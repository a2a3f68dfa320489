"""Signing a decision: what the personal-key signature costs inside a real service call.

A SQLite catalogue made with the services (an admin, alice the developer and bob the
validator, each with a personal key enrolled; one version registered from the sample card).
The decision is ``workflow.submit`` by alice followed by ``workflow.request_changes`` by bob,
repeated: each call checks roles and the state machine, writes a decision, updates the version
and appends one event signed with the actor's key, which ``Transaction.audit`` checks against
the enrolled key before the transaction commits (WAL, ``synchronous=FULL``).

Measured in the same run:

* the decision call end to end (median and best of PAIRS pairs, after a warm-up);
* the signing work inside it, in place: the functions ``Transaction.audit`` and
  ``Context.authenticate`` call for the signature (``audit.event_body``, ``personal_keys.sign``,
  ``fingerprint_of``, ``crud.get_key``, ``load_public_key``, ``personal_keys.verify``), timed by
  wrappers around them during a second series of calls, with how often each one runs per call;
* the same functions again on the very bodies those calls signed, outside the service, best of
  five, times the calls per decision counted in place;
* the raw primitives: ECDSA P-256 and Ed25519 sign and verify of such a body (cryptography).

Budgets (docs/architecture.md §11, issue #20): signing a decision at most 5 ms, and the call at
most 1.2x the same call without signing, estimated as call / (call - signing work).

Run with ``.venv/bin/python benchmarks/bench_signing.py [PAIRS]`` (default 200; under a
minute).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from govern import personal_keys
from govern.config import load_settings
from govern.services import Context, catalogue, users, workflow
from govern.storage import audit, crud

SIGN_BUDGET_MS = 5.0
RATIO_BUDGET = 1.2
REPO = Path(__file__).resolve().parent.parent
SAMPLE_CARD = REPO / "sample_data" / "credit-risk-1.0.0.card.yaml"
REF = "credit-risk@1.0.0"

#: The functions the signature adds to a decision, where the service looks them up.
SIGNING_FUNCTIONS: tuple[tuple[Any, str, str], ...] = (
    (audit, "event_body", "build the signed body (audit.event_body)"),
    (personal_keys, "sign", "sign it (personal_keys.sign)"),
    (personal_keys, "fingerprint_of", "key fingerprint (fingerprint_of)"),
    (crud, "get_key", "look up the enrolled key (crud.get_key)"),
    (personal_keys, "load_public_key", "parse the enrolled key (load_public_key)"),
    (personal_keys, "verify", "verify against it (personal_keys.verify)"),
)


@dataclass
class InPlace:
    """How long each signing function took at each invocation during some decision calls."""

    durations: dict[str, list[float]] = field(default_factory=dict)
    total: float = 0.0


@contextmanager
def timing_signing_functions() -> Iterator[InPlace]:
    """Wrap each signing function (in its own module, where callers look it up) with a timer."""
    found = InPlace()
    saved = []
    for module, name, _label in SIGNING_FUNCTIONS:
        original = getattr(module, name)
        found.durations[name] = []

        def timed(*args: Any, _f: Any = original, _n: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                found.durations[_n].append(spent)
                found.total += spent

        saved.append((module, name, original))
        setattr(module, name, timed)
    try:
        yield found
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def best(times: int, run: Callable[[], object]) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append(time.perf_counter() - started)
    return min(spent)


def decide(
    alice: Context, bob: Context, pairs: int, in_place: InPlace | None = None
) -> tuple[list[float], list[float], list[float]]:
    """Seconds of each submit and each request_changes call, and of the signing work inside
    each call (when the signing functions are being timed)."""
    submits: list[float] = []
    changes: list[float] = []
    signing: list[float] = []
    calls = (
        (submits, lambda: workflow.submit(alice, REF, comment="ready for validation")),
        (changes, lambda: workflow.request_changes(bob, REF, comment="add the figures")),
    )
    for _ in range(pairs):
        for spent, call in calls:
            before = in_place.total if in_place else 0.0
            started = time.perf_counter()
            call()
            spent.append(time.perf_counter() - started)
            signing.append((in_place.total if in_place else 0.0) - before)
    return submits, changes, signing


def isolated(
    ctx: Context, keys: dict[str, personal_keys.PersonalKey], after: int, times: int
) -> tuple[dict[str, float], bytes]:
    """Seconds per call of each signing function on the bodies the decisions signed, and the
    median-sized body."""
    with ctx.read() as session:
        conn = session.connection()
        catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
        events = [e for e in audit.iter_events(conn, after=after) if e.signature]
        fields = [
            {
                "catalogue": catalogue_id,
                "seq": e.seq,
                "ts": e.ts,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "payload": e.payload,
                "prev": e.prev_hash,
                "key": e.key,
                "settings": e.settings,
            }
            for e in events
        ]
        bodies = [audit.event_body(**f) for f in fields]
        signers = [keys[e.actor] for e in events]
        prints = [k.fingerprint for k in signers]
        pems = [crud.get_key(session=session, fingerprint=p).public_key for p in prints]  # type: ignore[union-attr]
        publics = [personal_keys.load_public_key(p) for p in pems]
        signatures = [base64.b64decode(e.signature or "") for e in events]
        count = len(events)
        publics_of = [k.public for k in signers]

        def each(run: Callable[[], object]) -> float:
            return best(times, run) / count

        sample = sorted(bodies, key=len)[count // 2]
        return {
            "event_body": each(lambda: [audit.event_body(**f) for f in fields]),
            "sign": each(
                lambda: [
                    personal_keys.sign(k.private, b) for k, b in zip(signers, bodies, strict=True)
                ]
            ),
            "fingerprint_of": each(lambda: [personal_keys.fingerprint_of(p) for p in publics_of]),
            "get_key": each(lambda: [crud.get_key(session=session, fingerprint=p) for p in prints]),
            "load_public_key": each(lambda: [personal_keys.load_public_key(p) for p in pems]),
            "verify": each(
                lambda: [
                    personal_keys.verify(p, b, s)
                    for p, b, s in zip(publics, bodies, signatures, strict=True)
                ]
            ),
        }, sample


def primitives(message: bytes, count: int, times: int) -> dict[str, float]:
    """Microseconds per sign and verify with ECDSA P-256 and Ed25519 (cryptography)."""
    ecdsa = ec.ECDSA(hashes.SHA256())
    p256 = ec.generate_private_key(ec.SECP256R1())
    edwards = ed25519.Ed25519PrivateKey.generate()
    p256_sig, ed_sig = p256.sign(message, ecdsa), edwards.sign(message)
    p256_pub, ed_pub = p256.public_key(), edwards.public_key()
    runs = {
        "ecdsa-p256 sign": lambda: [p256.sign(message, ecdsa) for _ in range(count)],
        "ecdsa-p256 verify": lambda: [
            p256_pub.verify(p256_sig, message, ecdsa) for _ in range(count)
        ],
        "ed25519 sign": lambda: [edwards.sign(message) for _ in range(count)],
        "ed25519 verify": lambda: [ed_pub.verify(ed_sig, message) for _ in range(count)],
    }
    return {label: best(times, run) / count * 1e6 for label, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="?", type=int, default=200, help="submit/request pairs")
    parser.add_argument("--raw", type=int, default=2_000, help="signatures per primitive run")
    parser.add_argument("--algorithm", default="ecdsa-p256", choices=personal_keys.ALGORITHMS)
    args = parser.parse_args()
    pairs = args.pairs
    for name in [n for n in os.environ if n.startswith("GOVERN_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["GOVERN_HOME"] = str(root / "home")
        url = f"sqlite:///{root / 'govern.db'}"

        def person(name: str) -> Context:
            key_dir = root / name / "identity"
            if not personal_keys.exists(key_dir):
                personal_keys.create(key_dir, algorithm=args.algorithm, passphrase=None)
            return Context(
                load_settings(database_url=url, user=name, home=root / name, key_dir=key_dir)
            )

        admin = person("admin")
        catalogue.init_catalogue(admin)
        alice, bob = person("alice"), person("bob")
        for name, role in (("alice", "developer"), ("bob", "validator")):
            users.add_user(
                admin, name, role=role, key=root / name / "identity" / "identity.pub.pem"
            )
        catalogue.register_version(alice, SAMPLE_CARD)

        decide(alice, bob, max(3, pairs // 20))  # warm-up: imports, caches, the WAL file
        with alice.read() as session:
            first = audit.head(session.connection())[0]
        submits, changes, _ = decide(alice, bob, pairs)
        with timing_signing_functions() as in_place:
            timed_submits, timed_changes, signing = decide(alice, bob, pairs, in_place)
        keys = {"alice": alice.personal_key(), "bob": bob.personal_key()}
        alone, body = isolated(alice, keys, first, times=5)
        raw = primitives(body, args.raw, times=5)
        for ctx in (admin, alice, bob):
            ctx.close()

    calls = submits + changes
    call_ms = statistics.median(calls) * 1e3
    print(
        f"decision calls on SQLite (WAL, synchronous=FULL), {pairs} submit + {pairs} "
        f"request_changes, keys {args.algorithm}; signed body {len(body)} bytes"
    )
    for label, spent in (("submit", submits), ("request_changes", changes), ("both", calls)):
        print(
            f"  {label:<16} median {statistics.median(spent) * 1e3:7.2f} ms   "
            f"best {min(spent) * 1e3:7.2f} ms"
        )

    in_place_calls = len(signing)
    print(
        f"\nsigning work per decision call: in place (median invocation x invocations per "
        f"call, {pairs} pairs) | alone (best of 5, on the bodies the calls signed)"
    )
    alone_ms = 0.0
    for _module, name, label in SIGNING_FUNCTIONS:
        runs = in_place.durations[name]
        per_call = len(runs) / in_place_calls
        # Cached work (a parsed enrolled key, a key's fingerprint) may not run in a call at all.
        here = statistics.median(runs) * per_call * 1e3 if runs else 0.0
        there = alone[name] * per_call * 1e3
        alone_ms += there
        print(f"  {label:<44} x{per_call:3.1f}  {here:7.3f} ms | {there:7.3f} ms")
    in_place_ms = statistics.median(signing) * 1e3
    total = "total (in place: median over calls)"
    print(f"  {total:<44}       {in_place_ms:7.3f} ms | {alone_ms:7.3f} ms")

    signing_ms = max(in_place_ms, alone_ms)
    timed = timed_submits + timed_changes
    paired = statistics.median(c / (c - s) for c, s in zip(timed, signing, strict=True) if c > s)
    ratio = max(call_ms / (call_ms - signing_ms), paired)
    print(
        f"\nbudget signing a decision: {signing_ms:.3f} ms of {SIGN_BUDGET_MS:.0f} ms "
        f"({signing_ms / SIGN_BUDGET_MS:.3f}x budget; {signing_ms / call_ms:.1%} of the "
        f"{call_ms:.2f} ms call): {'MET' if signing_ms <= SIGN_BUDGET_MS else 'MISSED'}"
    )
    print(
        f"budget call / (call - signing): {call_ms:.2f} / {call_ms - signing_ms:.2f} ms = "
        f"{call_ms / (call_ms - signing_ms):.3f}x; median of the same ratio call by call "
        f"{paired:.3f}x; of {RATIO_BUDGET}x: {'MET' if ratio <= RATIO_BUDGET else 'MISSED'}"
    )

    print(f"\nraw primitives on a {len(body)}-byte body, best of 5 x {args.raw:,}:")
    for label, micros in raw.items():
        print(f"  {label:<20} {micros:7.1f} µs")
    print(
        f"  ratio ed25519 / ecdsa-p256: sign {raw['ed25519 sign'] / raw['ecdsa-p256 sign']:.2f}x,"
        f" verify {raw['ed25519 verify'] / raw['ecdsa-p256 verify']:.2f}x"
    )


if __name__ == "__main__":
    main()
