"""Who decided: each decision in the card with its maker's name, role, key and verification,
and `govern verify` re-checking every decision offline against the signed event it carries.

The decisions of the sample card were signed by their makers' own enrolled keys
(``sample_rows.insert_evidence``, :data:`~tests.report.sample_rows.DECIDERS`). A forged card
is made the way a forger would: the catalogue's view with one signed event edited, rendered
and signed with a new self-signed key.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from govern import personal_keys
from govern.config import load_settings
from govern.report.decisions import check_card_document, check_decision, short_key
from govern.report.render import render_card
from govern.services import reports
from govern.signing import create_identity
from tests.conftest import invoke_cli, run_cli
from tests.report.conftest import REF, embedded_files, pdf_text
from tests.report.sample_rows import DECIDERS, DECISIONS


def card_document(path: Path) -> dict[str, Any]:
    return json.loads(embedded_files(path)["govern-card.json"])


def enrolled_fingerprint(card, user: str) -> str:
    return personal_keys.fingerprint_of(personal_keys.read_public(card.key_dir(user)))


def auditor_desk(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working directory and environment with no catalogue anywhere."""
    desk = tmp_path / "desk"
    desk.mkdir()
    return desk, {"GOVERN_HOME": str(tmp_path / "auditor-home")}


# --- the card ------------------------------------------------------------------------------


def test_pdf_lists_each_decision_with_name_role_key_and_verification(signed_card):
    """Read back by PDFium (pypdfium2, table layout kept) and by pypdf: each decision's row
    shows the person's display name and user name, role, short key and "verified"."""
    from pypdf import PdfReader

    text = pdf_text(signed_card.pdf)
    section = text[text.rindex("12 Lifecycle and decisions") :]
    section = section[: section.index("13 Policy results")]
    flowing = " ".join(section.split())
    pypdf_text = " ".join(
        " ".join(
            page.extract_text() or "" for page in PdfReader(str(signed_card.pdf)).pages
        ).split()
    )
    document = card_document(signed_card.pdf)
    listed = document["governance"]["decisions"]
    assert [d["actor"] for d in listed] == [d[3] for d in DECISIONS]
    assert (
        "Every decision's signature verified. All 5 decisions were signed by the person who "
        "took them, with the personal key enrolled to them, and every signature verified."
    ) in flowing
    lines = section.splitlines()
    at = 0
    for (_, _, _, actor, role, comment), decision in zip(DECISIONS, listed, strict=True):
        fingerprint = enrolled_fingerprint(signed_card, actor)
        assert decision["key"] == fingerprint  # in full in the embedded card data
        shown = short_key(fingerprint)
        assert shown == f"{fingerprint[:23]}…"
        display = DECIDERS[actor][1]
        # The row's first line: name, role, key; its second: user name and verification.
        at = next(i for i in range(at, len(lines)) if display in lines[i] and shown in lines[i])
        first, second = lines[at].split(), lines[at + 1].split()
        assert role in first and comment.split()[0] in first, lines[at]
        assert actor in second and "verified" in second and "not" not in second, lines[at + 1]
        assert display in pypdf_text and fingerprint[:23] in pypdf_text
        at += 2
    assert flowing.count(" verified") >= 6 and "not verified" not in flowing
    assert "Tomás Novák" in section  # a name outside ASCII, as the user record has it
    cover = " ".join(pdf_text(signed_card.pdf, first=1, last=1, layout=False).split())
    assert "last: approve by Henrik Larsen (henrik) · all signatures verified" in cover


def test_how_to_verify_explains_unknown_signers_and_distribution(signed_card):
    """The certificate's fingerprint, why readers say "unknown", and how to distribute it."""
    text = " ".join(pdf_text(signed_card.pdf, layout=False).split())
    section = text[text.rindex("17 How to verify this card") :]
    fingerprint = signed_card.result.signer_fingerprint
    assert fingerprint is not None
    assert fingerprint in section.replace(" ", "")
    assert fingerprint in text[: text.index("Contents")].replace(" ", "")  # the cover's box
    for sentence in (
        "every PDF reader shows a self-signed certificate as “unknown”",
        "govern keys org export -o org-cards.pem",
        "govern verify FILE.pdf --trust org-cards.pem",
        "re-checks every decision",
        "Trusted Certificates",
    ):
        assert sentence in section, sentence


def test_markdown_and_json_exports_carry_the_decisions(sqlite_url, tmp_path):
    from tests.report.conftest import prepare

    cat = prepare(sqlite_url, tmp_path / "home")
    written = {}
    for fmt in ("md", "json"):
        out = tmp_path / f"card.{fmt}"
        reports.build_report(cat.ctx("carol"), REF, format=fmt, output=out)
        written[fmt] = out.read_text(encoding="utf-8")
    document = json.loads(written["json"])
    governance = document["governance"]
    assert governance["decision_signatures"]["status"] == "verified"
    assert governance["decision_signatures"]["verified"] == len(DECISIONS)
    checks, problem = check_card_document(document)
    assert problem is None and [c.status for c in checks] == ["verified"] * len(DECISIONS)
    lines = written["md"].splitlines()
    assert "**Signatures:** All 5 decisions were signed" in written["md"]
    for (_, _, _, actor, role, _), decision in zip(DECISIONS, governance["decisions"], strict=True):
        signed = decision["signed_event"]
        assert json.loads(signed["body"])["actor"] == actor
        assert signed["signature"] and "BEGIN PUBLIC KEY" in signed["public_key"]
        assert decision["display_name"] == DECIDERS[actor][1]
        assert decision["verification"] == "verified"
        row = next(line for line in lines if f"`{short_key(decision['key'])}`" in line)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[3:7] == [
            f"{DECIDERS[actor][1]} ({actor})",
            role,
            f"`{short_key(decision['key'])}`",
            "verified",
        ]
    cat.close()


# --- govern verify re-checks the decisions --------------------------------------------------


def test_verify_rechecks_every_decision_offline(signed_card, tmp_path):
    """No catalogue: the service with Settings only, and the CLI in a directory without one."""
    desk, auditor = auditor_desk(tmp_path)
    verdict = reports.verify_pdf(
        load_settings(home=tmp_path / "auditor-home"), signed_card.pdf, trust=[signed_card.cert]
    )
    assert verdict.ok and verdict.catalogue == "not checked", verdict.problems
    assert [(c.actor, c.status) for c in verdict.decisions] == [
        (d[3], "verified") for d in DECISIONS
    ]
    assert verdict.decisions_summary == "5 decisions re-checked: all signatures verify"
    assert verdict.decisions[3].key == enrolled_fingerprint(signed_card, "grace")

    done = run_cli(
        "verify", str(signed_card.pdf), "--trust", str(signed_card.cert), cwd=desk, env=auditor
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "decisions:" in done.stdout
        and "5 decisions re-checked: all signatures verify" in done.stdout
    )
    grace = short_key(enrolled_fingerprint(signed_card, "grace"))
    assert f"4. approve by Grace Okafor (grace) (approver), key {grace}: verified" in done.stdout
    assert re.search(r"^catalogue: +not checked", done.stdout, re.MULTILINE)
    assert not (desk / "govern.db").exists()
    done = invoke_cli(
        "verify",
        str(signed_card.pdf),
        "--trust",
        str(signed_card.cert),
        "--json",
        cwd=desk,
        env=auditor,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert [d["status"] for d in shown["decisions"]] == ["verified"] * len(DECISIONS)
    assert shown["decisions"][1]["display_name"] == "Tomás Novák"


def test_verify_with_the_catalogue_names_the_organisation_certificate(signed_card):
    code_done = invoke_cli("verify", str(signed_card.pdf), env=signed_card.env)
    assert code_done.returncode == 0, code_done.stderr
    fingerprint = signed_card.result.signer_fingerprint
    assert fingerprint is not None
    assert f"active certificate {fingerprint[:16]}… (CN=govern test instance)" in code_done.stdout


def _forged_view(signed_card, edit_body: bool = True) -> Any:
    """The catalogue's view of the card with the fourth decision's comment changed."""
    view = reports.report_view(signed_card.ctx("carol"), REF)
    decisions = list(view.decisions)
    target = decisions[3]
    assert target.actor == "grace" and target.signed_event is not None
    forged_comment = "Approved without conditions."
    signed = target.signed_event
    if edit_body:
        body = json.loads(signed.body)
        payload = json.loads(body["payload"])
        payload["comment"] = forged_comment
        body["payload"] = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        signed = signed.model_copy(update={"body": text})
    decisions[3] = target.model_copy(update={"comment": forged_comment, "signed_event": signed})
    return view.model_copy(update={"decisions": decisions})


def test_forged_decision_in_a_self_signed_card_fails(signed_card, tmp_path):
    """A forger edits a signed decision and signs the card with a new self-signed key that
    even bears the organisation's name: the signer is not the organisation's certificate,
    and, trusting the forger's certificate anyway, the decision's signature does not
    verify."""
    forger_dir = tmp_path / "forger"
    forger = create_identity(forger_dir, common_name="govern test instance")
    rendered = render_card(_forged_view(signed_card), "pdf", identity=forger)
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(rendered.data)
    assert "Approved without conditions." in pdf_text(forged)

    # With the catalogue: not the organisation's certificate.
    done = invoke_cli("verify", str(forged), "--json", env=signed_card.env)
    assert done.returncode == 1
    verdict = json.loads(done.stdout)
    assert verdict["intact"] and not verdict["trusted"]
    assert verdict["organisation"] == "NOT one of this catalogue's organisation certificates"
    assert any(
        "is not one of this catalogue's organisation certificates: the organisation did not "
        "sign this card" in p
        for p in verdict["problems"]
    )

    # An auditor without a catalogue who (wrongly) trusts the forger's certificate: the
    # signature of the PDF is fine, the decision's is not.
    desk, auditor = auditor_desk(tmp_path)
    cert = forger_dir / "signing-cert.pem"
    done = run_cli("verify", str(forged), "--trust", str(cert), "--json", cwd=desk, env=auditor)
    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["intact"] and verdict["trusted"] and not verdict["ok"]
    [bad] = [d for d in verdict["decisions"] if d["status"] != "verified"]
    assert (bad["index"], bad["actor"]) == (4, "grace")
    assert bad["problems"] == ["its signature does not verify under the embedded public key"]
    assert (
        "decision 4 (approve by grace): its signature does not verify under the embedded "
        "public key" in verdict["problems"]
    )
    assert verdict["decisions_summary"].startswith("5 decisions re-checked: 1 does not verify")
    done = run_cli("verify", str(forged), "--trust", str(cert), cwd=desk, env=auditor)
    assert done.returncode == 1 and "NOT VERIFIED" in done.stdout
    assert "4. approve by Grace Okafor (grace) (approver)" in done.stdout
    assert "problem: decision 4 (approve by grace): its signature does not verify" in done.stderr

    # Without the certificate: the service says the signer is not trusted, and still
    # re-checks the decisions.
    alone = reports.verify_pdf(load_settings(home=tmp_path / "auditor-home"), forged)
    assert not alone.ok and not alone.trusted
    assert any("not trusted" in p and "organisation certificate" in p for p in alone.problems)
    assert [c.status for c in alone.decisions].count("not verified") == 1


def test_a_listing_that_contradicts_its_signed_event_fails(signed_card):
    """The card's listing must say what the signed events say: each kind of lie is named.

    These edit the card data (the document `govern verify` reads out of the PDF) directly:
    the PDF signature over them is checked by the other tests.
    """
    original = card_document(signed_card.pdf)
    governance = original["governance"]

    def problems_after(change) -> list[str]:
        document = copy.deepcopy(original)
        change(document["governance"])
        checks, problem = check_card_document(document)
        assert problem is None
        return [p for c in checks for p in c.problems]

    assert problems_after(lambda g: None) == []

    def claim_another_approver(g: dict[str, Any]) -> None:
        g["decisions"][4]["actor"] = "erin"

    assert problems_after(claim_another_approver) == [
        "the signed event was taken by 'henrik', not by 'erin' as the card says"
    ]

    def soften_the_request(g: dict[str, Any]) -> None:
        g["decisions"][1]["comment"] = "Looks fine."

    assert problems_after(soften_the_request) == [
        "the card shows the comment 'Looks fine.', the signed event says 'Add the age-group "
        "analysis.'"
    ]

    def another_version(g: dict[str, Any]) -> None:
        g["ref"] = "credit-risk@1.1.0"

    assert len(problems_after(another_version)) == len(DECISIONS)
    assert (
        "is about 'credit-risk@1.0.0', not credit-risk@1.1.0" in problems_after(another_version)[0]
    )

    def another_catalogue(g: dict[str, Any]) -> None:
        g["catalogue_id"] = "0" * 32

    assert all("belongs to catalogue" in p for p in problems_after(another_catalogue))

    def another_card(g: dict[str, Any]) -> None:
        g["card_sha256"] = "f" * 64

    assert all(
        p.startswith("it relied on the card with SHA-256") for p in problems_after(another_card)
    )

    def someone_elses_key(g: dict[str, Any]) -> None:
        # The public key of another decider, with the fingerprint listed to match it.
        g["decisions"][3]["signed_event"]["public_key"] = g["decisions"][4]["signed_event"][
            "public_key"
        ]
        g["decisions"][3]["key"] = g["decisions"][4]["key"]

    found = problems_after(someone_elses_key)
    assert "its signature does not verify under the embedded public key" in found
    assert any(p.startswith("the signed event names the key") for p in found)

    def hide_a_decision_as_unsigned(g: dict[str, Any]) -> None:
        g["decisions"][2].update(
            signed_event=None,
            key=None,
            verification="recorded before signing began (hash-chained only)",
        )

    assert problems_after(hide_a_decision_as_unsigned) == [
        "the card says it was recorded before signing began, but an earlier decision was signed"
    ]

    def strip_the_signature(g: dict[str, Any]) -> None:
        g["decisions"][0]["signed_event"] = None

    assert problems_after(strip_the_signature) == ["the card carries no signed event for it"]

    def mangle_the_signature(g: dict[str, Any]) -> None:
        g["decisions"][0]["signed_event"]["signature"] = "not base64!"

    assert problems_after(mangle_the_signature) == [
        "its signature does not verify under the embedded public key"
    ]
    # The summary the catalogue wrote is not trusted: each decision is checked afresh.
    assert governance["decision_signatures"]["status"] == "verified"


def test_decisions_recorded_before_signing_began_are_not_failures(signed_card):
    """A hash-chained-only decision (audit format 1) is reported as such, not as a failure."""
    document = card_document(signed_card.pdf)
    decisions = document["governance"]["decisions"]
    decisions[0].update(
        signed_event=None,
        key=None,
        verification="recorded before signing began (hash-chained only)",
    )
    checks, _ = check_card_document(document)
    assert [c.status for c in checks] == ["before signing", *["verified"] * 4]
    from govern.report.decisions import summary

    assert summary(checks) == (
        "4 decisions re-checked: all signatures verify; 1 decision recorded before signing "
        "began (hash-chained only, no signature to re-check)"
    )
    # check_decision on its own says what is missing
    assert check_decision(decisions[0], ref=REF, catalogue="", card_sha256="") == [
        "the card carries no signed event for it"
    ]


@pytest.mark.parametrize("broken", ["no governance", "decisions not a list"])
def test_unreadable_card_data_is_a_problem_not_a_crash(broken):
    document: Any = {"governance": {"decisions": "oops"}} if broken != "no governance" else []
    checks, problem = check_card_document(document)
    assert checks == [] and problem is not None
