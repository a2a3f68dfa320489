"""The organisation's card-signing key over its lifetime, and what a signed card refuses.

Rotation keeps old cards verifying (naming the retired certificate that signed them) while new
cards use the new key; revocation fails the cards of the revoked certificate. `govern report`
signs only with the catalogue's active certificate: a key made elsewhere, replaced files or
an old key brought back are refused (exit 2). A card is never signed over records that fail
verification (exit 1). And a card shows its version's own owner, whatever a later
registration wrote.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from govern.services import catalogue, keys, reports
from govern.signing import create_identity
from tests.conftest import invoke_cli, make_catalogue, run_cli
from tests.helpers import CARDS, raw_connection
from tests.report.conftest import REF, embedded_files, pdf_text, populate, prepare
from tests.report.sample_rows import events, report_rows


def _verify(
    path: Path, env: dict[str, str], *extra: str, cwd: Path | None = None
) -> tuple[int, dict]:
    done = invoke_cli("verify", str(path), "--json", *extra, env=env, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_rotation_keeps_old_cards_verifying_and_revocation_fails_them(sqlite_url, tmp_path):
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url}
    old_card = tmp_path / "before-rotation.pdf"
    before = reports.build_report(cat.ctx("carol"), REF, output=old_card)
    old = before.signer_fingerprint
    assert old is not None

    done = run_cli("keys", "org", "rotate", "--common-name", "govern cards 2027", env=env)
    assert done.returncode == 0, done.stderr
    new_card = tmp_path / "after-rotation.pdf"
    after = reports.build_report(cat.ctx("carol"), REF, output=new_card)
    new = after.signer_fingerprint
    assert new is not None and new != old and after.signer == "CN=govern cards 2027"
    assert (home / "keys" / "retired" / old[:16] / "signing-key.pem").is_file()

    # With the catalogue: both verify, each naming the certificate that signed it.
    code, verdict = _verify(old_card, env)
    assert code == 0, verdict["problems"]
    assert verdict["org_certificate"]["fingerprint"] == old
    assert verdict["org_certificate"]["status"] == "retired"
    assert verdict["organisation"] == (
        f"retired certificate {old[:16]}… (CN=govern test instance; rotated to {new})"
    )
    assert verdict["decisions_summary"] == "5 decisions re-checked: all signatures verify"
    code, verdict = _verify(new_card, env)
    assert code == 0, verdict["problems"]
    assert verdict["org_certificate"]["fingerprint"] == new
    assert verdict["organisation"].startswith(f"active certificate {new[:16]}…")

    # An auditor with the exported certificates (both, one file) and no catalogue.
    bundle = tmp_path / "org-cards.pem"
    done = run_cli("keys", "org", "export", "-o", str(bundle), env=env)
    assert done.returncode == 0 and "2 certificate(s)" in done.stdout, done.stderr
    desk = tmp_path / "desk"
    desk.mkdir()
    auditor = {"GOVERN_HOME": str(tmp_path / "auditor")}
    for card in (old_card, new_card):
        code, verdict = _verify(card, auditor, "--trust", str(bundle), cwd=desk)
        assert code == 0 and verdict["catalogue"] == "not checked", verdict["problems"]

    # The retired key brought back to sign with is refused: it is not the active one.
    folder = tmp_path / "out"
    folder.mkdir()
    active = home / "keys"
    shutil.move(active, tmp_path / "active-key")
    shutil.copytree(tmp_path / "active-key" / "retired" / old[:16], active)
    done = invoke_cli("report", REF, "-o", str(folder / "c.pdf"), env=env, user="carol")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"({old[:16]}…) is not this catalogue's card-signing key ({new[:16]}…)" in line
    assert line.endswith("it was retired")
    assert list(folder.iterdir()) == []
    shutil.rmtree(active)
    shutil.move(tmp_path / "active-key", active)

    # Revoking the old certificate fails the cards it signed, and only those.
    done = run_cli("keys", "org", "revoke", old[:20], "--reason", "key leaked", env=env)
    assert done.returncode == 0, done.stderr
    code, verdict = _verify(old_card, env)
    assert code == 1 and verdict["org_certificate"]["status"] == "revoked"
    assert verdict["organisation"].startswith(f"REVOKED certificate {old[:16]}…")
    assert any("which was revoked (key leaked)" in p for p in verdict["problems"])
    code, verdict = _verify(new_card, env)
    assert code == 0, verdict["problems"]
    done = invoke_cli("verify", str(old_card), env=env)
    assert done.returncode == 1 and "REVOKED certificate" in done.stdout
    assert "which was revoked (key leaked)" in done.stderr
    # ...and leaves it out of what auditors are given from now on.
    fresh = tmp_path / "org-cards-now.pem"
    done = run_cli("keys", "org", "export", "-o", str(fresh), env=env)
    assert done.returncode == 0 and "1 certificate(s)" in done.stdout
    code, verdict = _verify(old_card, auditor, "--trust", str(fresh), cwd=desk)
    assert code == 1 and not verdict["trusted"]
    # GOVERN_TRUSTED_CERTIFICATES reads the whole bundle too, not its first certificate.
    code, verdict = _verify(
        new_card, {**auditor, "GOVERN_TRUSTED_CERTIFICATES": str(bundle)}, cwd=desk
    )
    assert code == 0, verdict["problems"]

    # New cards are still signed after a revocation (the revocation is itself recorded).
    later = reports.build_report(cat.ctx("carol"), REF, output=tmp_path / "after-revoke.pdf")
    assert later.signer_fingerprint == new
    assert invoke_cli("audit", "verify", env=env).returncode == 0

    cat.close()


def test_foreign_or_replaced_organisation_key_is_refused(sqlite_url, tmp_path):
    """Someone ran `keys org init` against another catalogue and points this machine at it,
    or replaced the files of the organisation key: `govern report` refuses, exit 2."""
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url}
    folder = tmp_path / "out"
    folder.mkdir()
    active = keys.org_certificates(cat.ctx())[0].fingerprint

    elsewhere = tmp_path / "elsewhere"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    made = make_catalogue(other)
    done = run_cli(
        "keys",
        "org",
        "init",
        env={"GOVERN_DATABASE_URL": other, "GOVERN_ORG_KEY_DIR": str(elsewhere)},
    )
    assert done.returncode == 0, done.stderr
    made.close()
    done = invoke_cli(
        "report",
        REF,
        "-o",
        str(folder / "card.pdf"),
        env={**env, "GOVERN_ORG_KEY_DIR": str(elsewhere)},
        user="carol",
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"the organisation key in {elsewhere}" in line
    assert f"is not this catalogue's card-signing key ({active[:16]}…)" in line
    assert "the catalogue does not know it" in line

    # A look-alike in the organisation's own key directory: same name, another key.
    create_identity(home / "keys", common_name="govern test instance", force=True)
    done = invoke_cli("report", REF, "-o", str(folder / "card.pdf"), env=env, user="carol")
    assert done.returncode == 2
    assert "is not this catalogue's card-signing key" in done.stderr
    assert "the catalogue does not know it" in done.stderr
    assert list(folder.iterdir()) == [] and report_rows(cat.ctx()) == []
    # ...and an unsigned draft still needs no key at all.
    done = invoke_cli(
        "report", REF, "--no-sign", "-o", str(folder / "draft.pdf"), env=env, user="carol"
    )
    assert done.returncode == 0 and "not signed" in done.stdout
    cat.close()


def test_no_card_is_signed_over_an_edited_decision(cat, tmp_path):
    """A decision row changed with the database's own client: the records fail verification,
    so `govern report` exits 1 and writes nothing; an unsigned draft says "not verified"."""
    home = tmp_path / "home"
    cat = populate(cat, home)
    with raw_connection(cat.url) as conn:
        conn.cursor().execute(
            "UPDATE decision SET comment = 'Approved unconditionally.' "
            "WHERE comment = 'Fairness within policy after waiver.'"
        )
        conn.commit()
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": cat.url}
    folder = tmp_path / "out"
    folder.mkdir()
    done = invoke_cli("report", REF, "-o", str(folder / "card.pdf"), env=env, user="carol")
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"refusing to sign a card for {REF}: its records fail verification: decision" in line
    assert "comment" in line and "govern audit verify" in line
    assert list(folder.iterdir()) == []
    assert report_rows(cat.ctx()) == [] and list(events(cat.ctx(), "report.build")) == []

    draft = folder / "draft.html"
    done = invoke_cli("report", REF, "-o", str(draft), env=env, user="carol")
    assert done.returncode == 0, done.stderr
    page = " ".join(draft.read_text(encoding="utf-8").split())
    assert "Not every decision verified." in page
    assert (
        "not verified: the card shows the comment &#39;Approved unconditionally.&#39;, the "
        "signed event says &#39;Fairness within policy after waiver.&#39;" in page
    )
    assert "5 of 5 decisions could NOT be verified" in page
    cat.close()


def test_no_card_is_signed_over_a_decision_no_signed_event_records(sqlite_url, tmp_path):
    """A decision row inserted with sqlite3 for a version that has no decision events: the
    card would list a decision nobody signed, so it is not signed (exit 1, nothing written);
    an unsigned draft lists it as not verified."""
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home, evidence=False)
    with raw_connection(sqlite_url) as conn:
        [(version_id,)] = conn.execute("SELECT id FROM model_version").fetchall()
        conn.execute(
            "INSERT INTO decision (version_id, action, from_state, to_state, actor, role, "
            "comment, created_at) VALUES (?, 'approve', 'submitted', 'approved', 'carol', "
            "'approver', 'Looks good.', '2026-12-01 10:00:00')",
            (version_id,),
        )
        conn.commit()
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url}
    folder = tmp_path / "out"
    folder.mkdir()
    done = invoke_cli("report", REF, "-o", str(folder / "card.pdf"), env=env, user="carol")
    assert done.returncode == 1, done.stderr
    assert (
        f"refusing to sign a card for {REF}: its records fail verification: decision #1 "
        f"({REF}, approve): is in the table but no event in the log created it" in done.stderr
    )
    assert list(folder.iterdir()) == [] and report_rows(cat.ctx()) == []
    markdown = folder / "draft.md"
    done = invoke_cli("report", REF, "-o", str(markdown), env=env, user="carol")
    assert done.returncode == 0, done.stderr
    text = markdown.read_text(encoding="utf-8")
    assert "**Signatures:** 1 of 1 decision could NOT be verified" in text
    assert "| not verified: no audit event records this decision |" in text
    cat.close()


def _card(path: Path, version: str, owner: str, unit: str, description: str) -> Path:
    card = yaml.safe_load((CARDS / "minimal.card.yaml").read_text(encoding="utf-8"))
    card["model_details"].update(version=version, description=description)
    card["governance"].update(owner=owner, business_owner=f"{owner} senior", business_unit=unit)
    path.write_text(yaml.safe_dump(card), encoding="utf-8")
    return path


def test_an_older_version_shows_its_own_owner_after_a_later_registration(sqlite_url, tmp_path):
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home, evidence=False)
    first = _card(tmp_path / "v1.yaml", "1.0.0", "alice", "Retail Lending", "The first tiny model.")
    later = _card(tmp_path / "v2.yaml", "2.0.0", "erin", "Wholesale Banking", "Its successor.")
    catalogue.register_version(cat.ctx("alice"), first)
    catalogue.register_version(cat.ctx("alice"), later)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url}

    done = invoke_cli("show", "tiny@1.0.0", "--json", env=env, user="victor")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["owner"], shown["business_owner"], shown["business_unit"]) == (
        "alice",
        "alice senior",
        "Retail Lending",
    )
    assert shown["description"] == "The first tiny model."

    written = {}
    for fmt in ("pdf", "html", "md", "json"):
        out = tmp_path / f"tiny-1.0.0.{fmt}"
        reports.build_report(cat.ctx("carol"), "tiny@1.0.0", format=fmt, output=out)
        written[fmt] = out
    texts = {
        "pdf": " ".join(pdf_text(written["pdf"], layout=False).split()),
        "html": written["html"].read_text(encoding="utf-8"),
        "md": written["md"].read_text(encoding="utf-8"),
    }
    for fmt, text in texts.items():
        assert "Retail Lending" in text and "alice senior" in text, fmt
        assert "The first tiny model." in text, fmt
        for later_fact in ("Wholesale Banking", "Its successor.", "erin senior"):
            assert later_fact not in text, (fmt, later_fact)
    assert "owner alice, business owner alice senior, business unit Retail Lending." in texts["md"]
    assert "Owner alice Business owner alice senior Business unit Retail Lending" in texts["pdf"]
    for document in (
        json.loads(written["json"].read_text(encoding="utf-8")),
        json.loads(embedded_files(written["pdf"])["govern-card.json"]),
    ):
        governance = document["governance"]
        assert (governance["owner"], governance["business_owner"], governance["business_unit"]) == (
            "alice",
            "alice senior",
            "Retail Lending",
        )
        assert document["model_details"]["overview"] == "The first tiny model."
        assert document["model_details"]["owners"][0]["name"] == "alice"
    cat.close()
