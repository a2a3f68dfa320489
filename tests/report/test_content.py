"""What a reader finds in the card: every pack's latest result, lifecycle, counts, warnings.

The policy runs here are made by the policy service itself (``checks.check_version``) on a
real catalogue, on SQLite and on PostgreSQL; the evaluation is a stored document of the
assessment layer's shape (see ``sample_rows``).
"""

from __future__ import annotations

import json

from govern.services import checks, reports
from tests.conftest import run_cli
from tests.report.conftest import REF, embedded_files, pdf_text, populate, prepare
from tests.report.sample_rows import Evidence, insert_evidence


def test_every_pack_shows_its_latest_result_across_runs(cat, tmp_path):
    """A later run of other packs (a workflow gate, say) must not hide an earlier failure."""
    cat = populate(cat, tmp_path / "home", evidence=False)
    cat.configure(policy_bindings={"*": ["baseline", "eeoc-four-fifths"]})
    insert_evidence(cat, REF, Evidence(policy=False))
    first = checks.check_version(cat.ctx("bob"), REF, ["eeoc-four-fifths"])
    assert first.outcome == "fail"  # under_25's impact ratio is below 0.8
    checks.check_version(cat.ctx("bob"), REF, ["baseline"])

    view = reports.report_view(cat.ctx("carol"), REF)
    assert view.policy is not None and [p.id for p in view.policy.packs] == ["baseline"]
    [earlier] = view.earlier_packs
    assert earlier.id == "eeoc-four-fifths" and earlier.outcome == "fail"
    assert earlier.run_id == first.run_ids[REF] and earlier.checked_by == "bob"
    assert view.policy_outcome == "fail"

    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out)
    tiles = pdf_text(out, first=1, last=1).split("POLICY OUTCOME", 1)[1].split()
    assert tiles[tiles.index("DECISIONS") + 1] == "fail"  # the first tile's value
    text = " ".join(pdf_text(out, layout=False).split())
    assert "1 pack was last checked in an earlier run" in text
    assert "Pack eeoc-four-fifths from eeoc-four-fifths.yaml" in text
    assert f"run #{first.run_ids[REF]}" in text
    assert "impact-ratio-significant" in text  # the failing rule itself is listed
    document = json.loads(embedded_files(out)["govern-card.json"])
    assert document["governance"]["policy_outcome"] == "fail"
    assert [p["id"] for p in document["governance"]["earlier_policy_packs"]] == ["eeoc-four-fifths"]

    # Checking the pack again makes that run its latest result: nothing is "earlier" now.
    checks.check_version(cat.ctx("bob"), REF, ["eeoc-four-fifths", "baseline"])
    view = reports.report_view(cat.ctx("carol"), REF)
    assert view.earlier_packs == []
    assert sorted(p.id for p in view.policy_packs) == ["baseline", "eeoc-four-fifths"]


def test_the_cover_counts_only_the_packs_bound_to_the_version(sqlite_url, tmp_path):
    """A pack checked on request (``govern check --policy``) is shown for the record, but the
    cover's outcome and counts are those of the packs the settings bind (what the gates run)."""
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    insert_evidence(cat, REF, Evidence(policy=False))
    checks.check_version(cat.ctx("bob"), REF, ["eeoc-four-fifths"])  # not bound: fails
    bound = checks.check_version(cat.ctx("bob"), REF, ["baseline"])  # bound to every version
    assert bound.outcome == "pass"

    view = reports.report_view(cat.ctx("carol"), REF)
    [unbound] = view.unbound_packs
    assert unbound.id == "eeoc-four-fifths" and not unbound.bound and unbound.outcome == "fail"
    assert [p.id for p in view.counted_packs] == ["baseline"]
    assert view.policy_outcome == "pass"
    assert sum(view.policy_counts.values()) == len(view.counted_packs[0].rules)

    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out, sign=False)
    cover = " ".join(pdf_text(out, first=1, last=1, layout=False).split())
    passed = view.policy_counts.get("pass", 0)
    assert f"{passed} pass · 0 fail · 0 waived (1 bound pack)" in cover
    text = " ".join(pdf_text(out, layout=False).split())
    assert "over the 1 pack bound to it by the governance settings" in text
    assert "1 pack checked only on request (eeoc-four-fifths) is shown for the record" in text
    assert "not bound to this version, not counted" in text
    assert "impact-ratio-significant" in text  # its failure is still listed
    cat.close()


def test_counts_are_whole_numbers_and_rule_subjects_are_not_repeated(sqlite_url, tmp_path):
    """The assessment layer stores the row count among the overall metrics, as a float."""
    from tests.report.sample_rows import evaluation_document

    doc = evaluation_document()
    doc["performance"]["overall"] = {"n": 300.0, **doc["performance"]["overall"]}
    for groups in doc["performance"]["by_group"].values():
        for metrics in groups.values():
            metrics["n"] = 100.0
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    insert_evidence(cat, REF, results=doc)
    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out, sign=False)
    text = pdf_text(out)
    assert "300.000" not in text and "100.000" not in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["n", "accuracy"])
    overall = next(line for line in lines[header + 1 :] if line.strip())
    accuracy = doc["performance"]["overall"]["accuracy"]
    assert overall.split()[:2] == ["300", f"{accuracy:.3f}"]
    # rule results name their subject only when it is not the card's own version
    flowing = " ".join(pdf_text(out, layout=False).split())
    assert flowing.count(REF) < 10
    markdown = tmp_path / "card.md"
    reports.build_report(cat.ctx("carol"), REF, format="md", output=markdown)
    front, body = markdown.read_text(encoding="utf-8").split("---\n")[1:3]
    assert "| 300 |" in body
    import yaml

    [entry] = yaml.safe_load(front)["model-index"]
    assert "n" not in {m["type"] for m in entry["results"][0]["metrics"]}  # a count, not a metric
    cat.close()


def test_shadow_version_shows_the_shadow_step(sqlite_url, tmp_path):
    from sqlmodel import select

    from govern.storage.tables import ModelVersion

    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    with cat.ctx().db.write() as session:
        version = session.exec(select(ModelVersion)).one()
        version.state = "shadow"
        session.add(version)
    html = tmp_path / "card.html"
    reports.build_report(cat.ctx("carol"), REF, format="html", output=html)
    page = html.read_text(encoding="utf-8")
    start = page.index('class="lifecycle"')
    steps = page[start : page.index("</div>", start)]
    assert '<span class="step current">shadow</span>' in steps
    assert '<span class="step done">approved</span>' in steps
    cat.close()


def test_card_without_evaluation_warns_on_stderr_and_still_renders(sqlite_url, tmp_path):
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home, evidence=False)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url, "GOVERN_USER": "carol"}
    out = tmp_path / "bare.pdf"
    done = run_cli("report", REF, "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert f"warning: {REF} has no evaluation yet" in done.stderr
    assert "govern evaluate" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Not evaluated" in pdf_text(out)
    cat.close()


def test_unknown_version_is_reported_before_the_key_is_needed(sqlite_url, tmp_path):
    """A passphrase-protected organisation key without its passphrase must not mask a typo
    in REF; without the passphrase the card is refused, naming the setting that unlocks it."""
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home, key=False)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url}
    secret = {"GOVERN_ORG_KEY_PASSPHRASE": "correct horse"}
    done = run_cli(
        "keys", "org", "init", "--algorithm", "rsa-3072", env={**env, **secret}, user="admin"
    )
    assert done.returncode == 0 and "RSA-3072" in done.stdout, done.stderr
    assert b"ENCRYPTED" in (home / "keys" / "signing-key.pem").read_bytes()[:64]
    out = tmp_path / "x.pdf"
    done = run_cli("report", "credit-risk@9.9.9", "-o", str(out), env=env, user="carol")
    assert done.returncode == 2 and "no version credit-risk@9.9.9" in done.stderr, done.stderr
    done = run_cli("report", REF, "-o", str(out), env=env, user="carol")
    assert done.returncode == 2 and "set GOVERN_ORG_KEY_PASSPHRASE" in done.stderr, done.stderr
    assert not out.exists()
    done = run_cli("report", REF, "-o", str(out), env={**env, **secret}, user="carol")
    assert done.returncode == 0 and "signed by" in done.stdout, done.stderr
    assert reports.verify_pdf(cat.ctx("victor"), out).ok
    cat.close()


def test_card_shows_each_reference_group_and_why(sqlite_url, tmp_path):
    """The PDF and Markdown cards say which group impact ratios compare with, and why; an
    evaluation stored before reasons were recorded says so."""
    from tests.report.sample_rows import evaluation_document

    doc = evaluation_document()
    [first, second, *_] = doc["fairness"]
    first["reference_choice"] = "explicit"
    first["reference_reason"] = f"set by --reference {first['name']}={first['reference_group']}"
    second.pop("reference_reason", None)
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    insert_evidence(cat, REF, results=doc)
    out = tmp_path / "card.pdf"
    reports.build_report(cat.ctx("carol"), REF, output=out, sign=False)
    flowing = " ".join(pdf_text(out, layout=False).split())
    assert (
        f"Reference group: {first['name']}={first['reference_group']} (set by --reference "
        f"{first['name']}={first['reference_group']})" in flowing
    )
    assert (
        f"Reference group: {second['name']}={second['reference_group']} (the most-selected "
        "group; chosen before reasons were recorded)" in flowing
    )
    assert "neither small nor the missing-value group" in flowing
    markdown = tmp_path / "card.md"
    reports.build_report(cat.ctx("carol"), REF, format="md", output=markdown)
    assert (
        f"Reference group: {first['name']}={first['reference_group']} (set by --reference "
        f"{first['name']}={first['reference_group']})." in markdown.read_text(encoding="utf-8")
    )
    cat.close()
