"""Building cards: the signed PDF read back, the catalogue record, and the exports."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections import Counter

import pytest
import yaml

from govern.services import reports
from tests.conftest import require_tool
from tests.report.conftest import (
    REF,
    embedded_files,
    page_count,
    page_image,
    pdf_text,
    pdfsig,
    poppler_image,
    poppler_text,
    populate,
    prepare,
)
from tests.report.sample_rows import evaluation_document, events, report_rows

SECTIONS = [
    "1 Model details",
    "2 Intended use",
    "3 Factors",
    "4 Metrics",
    "5 Evaluation data",
    "6 Training data",
    "7 Quantitative analyses",
    "8 Ethical considerations",
    "9 Caveats and recommendations",
    "10 Fairness by group",
    "11 Explanations",
    "12 Lifecycle and decisions",
    "13 Policy results",
    "14 Drift",
    "15 Production monitoring",
    "16 Reproducibility",
    "17 How to verify this card",
]


def test_signed_card_is_recorded_and_verifies_on_each_backend(cat, tmp_path):
    """One transaction: the file, a Report row with the embedded JSON's hash, an audit event."""
    cat = populate(cat, tmp_path / "home")
    out = tmp_path / "card.pdf"
    result = reports.build_report(cat.ctx("carol"), REF, output=out)

    data = out.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    attached = embedded_files(out)["govern-card.json"]
    assert result.card_sha256 == hashlib.sha256(attached).hexdigest()
    [row] = report_rows(cat.ctx())
    assert (row.format, row.sha256, row.card_sha256) == ("pdf", result.sha256, result.card_sha256)
    assert row.path == str(out.resolve()) and row.created_by == "carol"
    assert row.signer == "CN=govern test instance"
    [event] = events(cat.ctx(), "report.build")
    assert event.subject == REF
    assert event.payload["card_sha256"] == result.card_sha256
    assert event.payload["signer_fingerprint"] == result.signer_fingerprint

    verdict = reports.verify_pdf(cat.ctx("victor"), out)
    assert verdict.ok, verdict.problems
    assert verdict.catalogue == "match"
    assert f"report #{row.id}" in verdict.catalogue_detail
    assert "Signature is Valid." in pdfsig(out)


def test_pdf_has_every_section_header_and_page_numbers(signed_card):
    text = pdf_text(signed_card.pdf)
    for title in SECTIONS:
        assert title in text, title
    pages = page_count(signed_card.pdf)
    assert f"Page {pages} of {pages}" in text
    second = pdf_text(signed_card.pdf, first=2, last=2)
    assert "credit-risk 1.0.0" in second and "APPROVED" in second  # running header
    assert "Digitally signed by CN=govern test instance" in second


def test_pdf_figures_match_the_stored_evaluation(signed_card):
    """Fairness tables show the stored figures, flag ratios < 0.8 and small groups."""
    text = pdf_text(signed_card.pdf)
    doc = evaluation_document()
    age = next(g for g in doc["fairness"] if g["name"] == "age_group")
    young = next(g for g in age["groups"] if g["group"] == "under_25")
    assert young["impact_ratio"] < 0.8
    row = next(
        line
        for line in text.splitlines()
        if line.strip().startswith("age_group=under_25") and f" {young['n']} " in line
    )
    assert f"{young['impact_ratio']:.3f}" in row
    assert f"{young['metrics']['selection_rate']['value']:.3f}" in row
    assert "RATIO < 0.8" in row
    lower, upper = (
        young["metrics"]["selection_rate"]["lower"],
        young["metrics"]["selection_rate"]["upper"],
    )
    assert f"[{lower:.2f}, {upper:.2f}]" in text
    intersection = next(g for g in doc["fairness"] if g["kind"] == "intersection")
    assert any(g["small"] for g in intersection["groups"])
    assert "SMALL N" in text
    accuracy = doc["performance"]["overall"]["accuracy"]
    assert f"{accuracy:.3f}" in text
    # charts are vector SVG with real text: their titles and axis labels are in the PDF
    for caption in (
        "Rates by sex",
        "Rates by age_group",
        "Rates by sex ∧ age_group",
        "Impact ratio",
        "Global feature importance (tree)",
        "four-fifths line (0.8)",
        "Decision 2: model score",
    ):
        assert caption in text, caption


def test_pdf_governance_sections_show_decisions_policy_and_drift(signed_card):
    text = pdf_text(signed_card.pdf)
    for comment in ("Add the age-group analysis.", "Second approval."):
        assert comment in text
    flowing = " ".join(pdf_text(signed_card.pdf, layout=False).split())
    assert "submitted → changes requested" in flowing
    assert "29 CFR 1607.4(D)" in text  # rule source
    assert "WAIVED" in text and "FAIL" in text and "PASS" in text
    assert "EEOC four-fifths rule" in text and "Baseline documentation" in text
    assert "ACTIVE" in text  # the waiver, unexpired
    assert "significant" in text and "0.310" in text  # drift band and PSI of `month`
    assert hashlib.sha256(b"eeoc").hexdigest() in text.replace("\n", "")  # policy hash
    assert signed_card.result.card_sha256 in text.replace(" ", "").replace("\n", "")


def test_pdf_metadata_attachment_and_pdfa_identification(signed_card):
    from pypdf import PdfReader

    reader = PdfReader(str(signed_card.pdf))
    assert reader.metadata.title == "Model card: credit-risk 1.0.0"
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    assert names is None or "/JavaScript" not in names.get_object()  # no document scripts
    assert "/OpenAction" not in root and "/AA" not in root
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    # PDF/A-3b identification survives pyHanko's incremental update (attribute form)...
    assert re.search(r'pdfaid:part(="|>)3', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp)
    # ...and the Info dictionary agrees with the XMP on the producer, as PDF/A requires
    producer = re.search(r'pdf:Producer="([^"]*)"', xmp)
    assert producer and reader.metadata["/Producer"] == producer.group(1)
    document = json.loads(embedded_files(signed_card.pdf)["govern-card.json"])
    assert document["governance"]["ref"] == REF
    assert document["model_details"]["name"] == "credit-risk"


def test_signed_card_keeps_what_pdf_a_3b_requires(signed_card):
    """What can be checked without veraPDF (a Java tool outside the registries used here).

    PDF/A-3 is PDF 1.7: an ECDSA P-256 signature must not raise the version to 2.0 (pyHanko
    would, to declare ISO 32002). Fonts embedded, an sRGB output intent, the card data as
    an associated file listed once, signature widget printable, no JavaScript, no
    encryption, XMP identification (checked above).
    """
    from pypdf import PdfReader

    data = signed_card.pdf.read_bytes()
    assert data.startswith(b"%PDF-1.7")
    reader = PdfReader(str(signed_card.pdf))
    root = reader.trailer["/Root"]
    assert str(root.get("/Version", "/1.7")) == "/1.7"
    extensions = root["/Extensions"]
    assert "/ESIC" in extensions and "/ISO_" not in extensions  # PAdES, nothing from PDF 2.0
    [intent] = root["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    [associated] = root["/AF"]
    spec = associated.get_object()
    assert spec["/AFRelationship"] == "/Data" and spec["/UF"] == "govern-card.json"
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/application/json" and "/ModDate" in stream["/Params"]
    [field] = root["/AcroForm"]["/Fields"]
    widget = field.get_object()
    assert widget["/F"] & 4 and not widget["/F"] & (1 | 2 | 32)  # Print; not hidden/invisible
    assert "/Encrypt" not in reader.trailer


def test_poppler_reads_the_metadata_and_every_font_is_embedded(signed_card):
    require_tool("pdfinfo", "pdffonts")
    info = subprocess.run(["pdfinfo", str(signed_card.pdf)], capture_output=True, text=True).stdout
    assert "Model card: credit-risk 1.0.0" in info
    assert "JavaScript:      no" in info
    fonts = subprocess.run(
        ["pdffonts", str(signed_card.pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)  # every font embedded


def test_card_without_evidence_still_renders_and_says_so(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    out = tmp_path / "bare.pdf"
    reports.build_report(cat.ctx("alice"), REF, output=out, sign=False)
    text = " ".join(pdf_text(out).split())
    for sentence in (
        "Not evaluated: no evaluation of this version is recorded",
        "No policy run yet",
        "No decisions yet",
        "No drift analysis yet",
        "Not evaluated: no SHAP explanations are recorded",
        "This copy is not signed",
    ):
        assert sentence in text, sentence
    for title in SECTIONS:
        assert title in text
    assert "Signature" not in pdfsig(out) or "does not contain any signatures" in pdfsig(out)
    cat.close()


def test_exports_html_markdown_and_json(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home")
    ctx = cat.ctx("carol")
    html = tmp_path / "card.html"
    md = tmp_path / "card.md"
    js = tmp_path / "card.json"
    for fmt, out in (("html", html), ("md", md), ("json", js)):
        result = reports.build_report(ctx, REF, format=fmt, output=out)
        assert not result.signed and result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()

    page = html.read_text(encoding="utf-8")
    for anchor in ("model-details", "fairness", "policy", "verify"):
        assert f'id="{anchor}"' in page
    # self-contained: styles inline, charts as data: URIs, nothing fetched from elsewhere
    sources = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)

    text = md.read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "apache-2.0"
    [entry] = front["model-index"]
    [result] = entry["results"]
    assert entry["name"] == "credit-risk"
    assert result["task"]["type"] == "tabular-classification"
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    accuracy = evaluation_document()["performance"]["overall"]["accuracy"]
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert "## Intended use" in text and "## Policy results" in text

    document = json.loads(js.read_text(encoding="utf-8"))
    assert document["schema_version"] == "0.0.2"
    assert set(document) >= {
        "model_details",
        "model_parameters",
        "quantitative_analysis",
        "considerations",
        "governance",
    }
    slices = {m.get("slice") for m in document["quantitative_analysis"]["performance_metrics"]}
    assert "age_group=under_25" in slices
    [row] = [r for r in report_rows(ctx) if r.format == "json"]
    assert row.card_sha256 == hashlib.sha256(js.read_bytes()).hexdigest()
    cat.close()


def test_letter_paper(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    out = tmp_path / "letter.pdf"
    reports.build_report(cat.ctx("alice"), REF, output=out, sign=False, paper="Letter")
    from pypdf import PdfReader

    box = PdfReader(str(out)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    cat.close()


def _page_with(pdf, text: str) -> int:
    for page in range(1, page_count(pdf) + 1):
        if text in pdf_text(pdf, first=page, last=page):
            return page
    raise AssertionError(f"no page shows {text!r}")


def _share(image, colour: tuple[int, int, int], tolerance: int = 24) -> float:
    """Share of the page's pixels within ``tolerance`` of ``colour``."""
    import numpy as np

    pixels = np.asarray(image, dtype=np.int16).reshape(-1, 3)
    near = (np.abs(pixels - np.array(colour, dtype=np.int16)) <= tolerance).all(axis=1)
    return float(near.mean())


def test_rendered_pages_draw_the_charts(signed_card):
    """Pages as PDFium draws them: the fairness chart's bars, the adverse bar in red, SHAP bars."""
    page = _page_with(signed_card.pdf, "Rates by age_group")
    image = page_image(signed_card.pdf, page)
    selection, tpr, fpr = (47, 111, 159), (76, 154, 106), (201, 138, 43)
    adverse = (179, 38, 30)
    for colour in (selection, tpr, fpr):
        assert _share(image, colour) > 0.003, colour  # bars of each rate are drawn
    assert _share(image, adverse) > 0.0005  # under_25's impact ratio bar is red
    importance = page_image(signed_card.pdf, _page_with(signed_card.pdf, "mean |SHAP"))
    assert _share(importance, selection) > 0.005
    cover = page_image(signed_card.pdf, 1)
    assert _share(cover, (255, 255, 255), tolerance=3) < 0.97  # the cover is not blank


def test_unevaluated_sections_do_not_take_a_page_each(sqlite_url, tmp_path):
    cat = prepare(sqlite_url, tmp_path / "home", evidence=False)
    out = tmp_path / "bare.pdf"
    reports.build_report(cat.ctx("alice"), REF, output=out, sign=False)
    pages = page_count(out)
    assert pages <= 6  # cover, contents, then the sections flow (8 when each began a page)
    for page in range(3, pages + 1):
        image = page_image(out, page)
        assert _share(image, (255, 255, 255), tolerance=3) < 0.985, page  # no near-empty page
    cat.close()


@pytest.mark.cross_check("pdftotext", "pdftoppm")
def test_poppler_reads_and_draws_the_card_as_pdfium_does(signed_card, tmp_path):
    """The tests read text and pages through PDFium; poppler, a second reader, agrees."""
    import numpy as np

    ours, theirs = pdf_text(signed_card.pdf), poppler_text(signed_card.pdf)
    # the same glyphs, and the same words: a word PDFium reads letter-spaced
    # ("G O V E R N") is one word to poppler
    assert Counter("".join(ours.split())) == Counter("".join(theirs.split()))
    words = set(ours.split())
    assert {w for w in theirs.split() if w not in words and " ".join(w) not in ours} == set()
    for phrase in (
        "age_group=under_25 55 18.3% 0.636",
        "RATIO < 0.8",
        "17 How to verify this card",
    ):
        assert phrase in " ".join(ours.split()) and phrase in " ".join(theirs.split()), phrase
    # the same table row on one line in both readings
    row = next(ln for ln in ours.splitlines() if ln.startswith("age_group=under_25 55"))
    twin = next(ln for ln in theirs.splitlines() if ln.strip().startswith("age_group=under_25 "))
    assert row.split() == twin.split()
    page = _page_with(signed_card.pdf, "Rates by age_group")
    drawn = np.asarray(page_image(signed_card.pdf, page), dtype=np.int16)
    poppler = np.asarray(poppler_image(signed_card.pdf, page, tmp_path), dtype=np.int16)
    assert drawn.shape == poppler.shape
    ink = float(np.abs(drawn - 255).mean())  # how far the page is from blank
    assert float(np.abs(drawn - poppler).mean()) < min(8.0, ink / 3)  # up to anti-aliasing
