"""Who decided: re-checking a card's decisions against the signed events the card carries.

Every lifecycle decision is an audit event signed by the person who took it, with their own
key (``govern.personal_keys``; ``docs/audit-log-format.md``). A card lists each decision
with its signed event: the exact text that was signed (``body``), the base64 signature and
the signer's public key. :func:`check_decision` re-checks one of them with nothing but the
card, offline, so an auditor who holds only the PDF can tell that each decision was taken
by the person the card names:

* the signature verifies under the embedded public key, and that key's fingerprint
  (``sha256:`` + hex SHA-256 of its DER SubjectPublicKeyInfo) is the one the body names and
  the card lists;
* the body's actor, action (``version.<action>``), subject (the card's NAME@VERSION) and
  catalogue are those of the decision the card lists, and so are the states, role, comment
  and settings revision in its payload;
* a decision that names the card it relied on (``evidence.card_sha256``) relied on this one.

Decisions recorded before signing began (audit format 1) carry no signature; they are
reported as such, not as failures, as long as no signed decision precedes them (a version's
events are in log order, and signing began at one point of the log).

The same check runs when a card is built (``services.reports``), so what the card says of
each decision is what ``govern verify`` finds again. Nothing here touches the catalogue.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from govern import personal_keys
from govern.errors import SignatureError

#: What a card says of a decision recorded before signing began.
BEFORE_SIGNING = "recorded before signing began (hash-chained only)"
#: What a card says of a decision whose signature and record check out.
VERIFIED = "verified"
SIGNED_FORMAT = 2
_BODY_KEYS = frozenset(
    {
        "action",
        "actor",
        "catalogue",
        "format",
        "key",
        "payload",
        "prev",
        "seq",
        "settings",
        "subject",
        "ts",
    }
)
#: Payload fields that must say what the card lists for the decision.
_PAYLOAD_FIELDS = ("from_state", "to_state", "role", "comment")

DecisionStatus = Literal["verified", "not verified", "before signing"]


class DecisionCheck(BaseModel):
    """What re-checking one decision of a card found."""

    model_config = ConfigDict(frozen=True)

    #: Position in the card's list of decisions, from 1.
    index: int
    action: str
    actor: str
    display_name: str = ""
    role: str = ""
    #: Fingerprint of the key that signed it, as the card lists it.
    key: str | None = None
    #: Sequence number of its audit event.
    seq: int | None = None
    status: DecisionStatus
    problems: list[str] = []

    @property
    def label(self) -> str:
        return f"decision {self.index} ({self.action.replace('_', ' ')} by {self.actor})"


def short_key(fingerprint: str | None, length: int = 16) -> str:
    """``sha256:`` and the first ``length`` hex digits of a key fingerprint, with an ellipsis."""
    if not fingerprint:
        return "–"
    prefix, _, digest = fingerprint.partition(":")
    if not digest:
        return fingerprint[:length] + ("…" if len(fingerprint) > length else "")
    return f"{prefix}:{digest[:length]}" + ("…" if len(digest) > length else "")


def _canonical(value: Any) -> str:
    """The audit log's canonical JSON (sorted keys, no whitespace, UTF-8 as itself)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _quote(value: Any, limit: int = 60) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def check_decision(
    decision: Mapping[str, Any],
    *,
    ref: str,
    catalogue: str,
    card_sha256: str,
) -> list[str]:
    """Problems with one decision's signed event, as the card lists it (empty: it verifies).

    ``decision`` is a decision as the card's JSON holds it (a ``DecisionView`` dumped in JSON
    mode): ``action``, ``actor``, ``role``, ``comment``, ``from_state``, ``to_state``,
    ``key``, ``settings_revision`` and ``signed_event`` (``seq``, ``body``, ``signature``,
    ``public_key``).
    """
    signed = decision.get("signed_event")
    if not isinstance(signed, Mapping):
        return ["the card carries no signed event for it"]
    body_text = signed.get("body")
    if not isinstance(body_text, str):
        return ["its signed event has no signed text"]
    try:
        public = personal_keys.load_public_key(str(signed.get("public_key") or ""))
    except SignatureError:
        return ["its embedded public key cannot be read"]
    problems: list[str] = []
    if not personal_keys.verify(public, body_text.encode("utf-8"), _signature(signed)):
        problems.append("its signature does not verify under the embedded public key")
    body = _signed_body(body_text)
    if body is None:
        return [*problems, "its signed text is not a signed govern audit event"]
    problems += _key_problems(decision, body, personal_keys.fingerprint_of(public))
    problems += _event_problems(decision, body, signed.get("seq"), ref=ref, catalogue=catalogue)
    try:
        payload = json.loads(str(body.get("payload")))
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        return [*problems, "the signed event's payload is not a JSON object"]
    return problems + _payload_problems(decision, payload, card_sha256)


def _signature(signed: Mapping[str, Any]) -> bytes:
    try:
        return base64.b64decode(str(signed.get("signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _signed_body(text: str) -> dict[str, Any] | None:
    """The signed event as data, if ``text`` is exactly a canonical govern event body."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if (
        not isinstance(body, dict)
        or set(body) != _BODY_KEYS
        or _canonical(body) != text
        or body.get("format") != SIGNED_FORMAT
    ):
        return None
    return body


def _key_problems(decision: Mapping[str, Any], body: dict[str, Any], fingerprint: str) -> list[str]:
    problems = []
    if body.get("key") != fingerprint:
        problems.append(
            f"the signed event names the key {short_key(str(body.get('key')))}, not the "
            f"embedded public key ({short_key(fingerprint)})"
        )
    listed_key = decision.get("key")
    if listed_key != body.get("key"):
        problems.append(
            f"the card lists the key {short_key(str(listed_key))}, but the event was signed "
            f"with {short_key(str(body.get('key')))}"
        )
    return problems


def _event_problems(
    decision: Mapping[str, Any],
    body: dict[str, Any],
    seq: Any,
    *,
    ref: str,
    catalogue: str,
) -> list[str]:
    """What the event's own fields say against what the card says of the decision."""
    action = f"version.{decision.get('action')}"
    revision = decision.get("settings_revision")
    expected: list[tuple[str, Any, str]] = [
        ("seq", seq, f"the signed event is number {body.get('seq')}, not {seq}"),
        (
            "actor",
            decision.get("actor"),
            f"the signed event was taken by {_quote(body.get('actor'))}, not by "
            f"{_quote(decision.get('actor'))} as the card says",
        ),
        (
            "action",
            action,
            f"the signed event is {_quote(body.get('action'))}, not {_quote(action)}",
        ),
        ("subject", ref, f"the signed event is about {_quote(body.get('subject'))}, not {ref}"),
    ]
    if catalogue:
        expected.append(
            (
                "catalogue",
                catalogue,
                f"the signed event belongs to catalogue {_quote(body.get('catalogue'))}, not "
                f"to this card's ({catalogue})",
            )
        )
    if revision is not None:
        expected.append(
            (
                "settings",
                revision,
                f"the signed event was taken under settings revision {body.get('settings')}, "
                f"not {revision} as the card says",
            )
        )
    problems = [message for field, want, message in expected if body.get(field) != want]
    if not catalogue:
        problems.append("the card does not name its catalogue, so the event's cannot be checked")
    return problems


def _payload_problems(
    decision: Mapping[str, Any], payload: dict[str, Any], card_sha256: str
) -> list[str]:
    problems = []
    for name in _PAYLOAD_FIELDS:
        shown = decision.get(name, "")
        signed_value = payload.get(name, "")
        if str(shown or "") != str(signed_value or ""):
            problems.append(
                f"the card shows the {name.replace('_', ' ')} {_quote(shown)}, the signed event "
                f"says {_quote(signed_value)}"
            )
    evidence = payload.get("evidence")
    if isinstance(evidence, dict) and "card_sha256" in evidence:
        relied = str(evidence.get("card_sha256") or "")
        if relied != card_sha256:
            problems.append(
                f"it relied on the card with SHA-256 {relied[:16]}…, not on this card "
                f"({card_sha256[:16]}…)"
            )
    return problems


def check_decisions(
    decisions: Sequence[Any], *, ref: str, catalogue: str, card_sha256: str
) -> list[DecisionCheck]:
    """Re-check every decision a card lists (each a JSON-mode mapping, see
    :func:`check_decision`), in order."""
    checks: list[DecisionCheck] = []
    seen_signed = False
    for index, item in enumerate(decisions, start=1):
        if not isinstance(item, Mapping):
            checks.append(
                DecisionCheck(
                    index=index,
                    action="?",
                    actor="?",
                    status="not verified",
                    problems=["the card's record of it is not a decision"],
                )
            )
            continue
        signed = item.get("signed_event")
        seq = signed.get("seq") if isinstance(signed, Mapping) else None
        common: dict[str, Any] = {
            "index": index,
            "action": str(item.get("action") or "?"),
            "actor": str(item.get("actor") or "?"),
            "display_name": str(item.get("display_name") or ""),
            "role": str(item.get("role") or ""),
            "key": None if item.get("key") is None else str(item.get("key")),
            "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        }
        stated = str(item.get("verification") or "")
        if signed is None and item.get("key") is None and stated == BEFORE_SIGNING:
            if seen_signed:
                checks.append(
                    DecisionCheck(
                        **common,
                        status="not verified",
                        problems=[
                            "the card says it was recorded before signing began, but an earlier "
                            "decision was signed"
                        ],
                    )
                )
            else:
                checks.append(DecisionCheck(**common, status="before signing"))
            continue
        seen_signed = True
        problems = check_decision(item, ref=ref, catalogue=catalogue, card_sha256=card_sha256)
        if not problems and stated != VERIFIED:
            problems.append(f"the card itself says it is {_quote(stated or 'not verified')}")
        checks.append(
            DecisionCheck(
                **common,
                status="not verified" if problems else "verified",
                problems=problems,
            )
        )
    return checks


def check_card_document(document: Any) -> tuple[list[DecisionCheck], str | None]:
    """Re-check the decisions of a card's JSON document (``govern-card.json``).

    Returns the checks and a problem when the document holds no readable list of decisions.
    """
    governance = document.get("governance") if isinstance(document, dict) else None
    if not isinstance(governance, dict):
        return [], "the card data hold no governance record, so no decision can be re-checked"
    decisions = governance.get("decisions", [])
    if not isinstance(decisions, list):
        return [], "the card data's decisions are not a list"
    checks = check_decisions(
        decisions,
        ref=str(governance.get("ref") or ""),
        catalogue=str(governance.get("catalogue_id") or ""),
        card_sha256=str(governance.get("card_sha256") or ""),
    )
    return checks, None


def summary(checks: Sequence[DecisionCheck]) -> str:
    """One line: how many decisions were re-checked and whether every signature verified."""
    if not checks:
        return "the card lists no decisions"
    before = [c for c in checks if c.status == "before signing"]
    rechecked = [c for c in checks if c.status != "before signing"]
    failed = [c for c in rechecked if c.status == "not verified"]
    parts = []
    if rechecked:
        noun = "decision" if len(rechecked) == 1 else "decisions"
        if failed:
            which = ", ".join(c.label for c in failed[:3]) + (" …" if len(failed) > 3 else "")
            verb = "does" if len(failed) == 1 else "do"
            parts.append(
                f"{len(rechecked)} {noun} re-checked: {len(failed)} {verb} not verify ({which})"
            )
        else:
            every = "its signature verifies" if len(rechecked) == 1 else "all signatures verify"
            parts.append(f"{len(rechecked)} {noun} re-checked: {every}")
    if before:
        noun = "decision" if len(before) == 1 else "decisions"
        parts.append(
            f"{len(before)} {noun} recorded before signing began (hash-chained only, no "
            "signature to re-check)"
        )
    return "; ".join(parts)


__all__ = [
    "BEFORE_SIGNING",
    "VERIFIED",
    "DecisionCheck",
    "check_card_document",
    "check_decision",
    "check_decisions",
    "short_key",
    "summary",
]
