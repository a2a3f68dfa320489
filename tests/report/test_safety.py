"""Hostile card text cannot read local files, reach the network or run script.

Every free-text field of the card (and every comment, message and reason in the catalogue
rows) holds markup that would load ``file:///etc/hostname``, a CSS ``url(file:///...)``,
and resources from a real HTTP server started here; and a ``<script>``. The rendered card
must show that text literally, and the server must receive nothing.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from govern.report.exports import card_json
from govern.report.pdf import render_pdf
from govern.services import catalogue, keys, reports
from tests.conftest import SAMPLE, Catalogue, make_catalogue
from tests.report.conftest import pdf_text
from tests.report.sample_rows import insert_evidence

#: Card fields that must keep their shape (identifiers, enums, dates, hashes, numbers).
STRUCTURAL = {
    "schema",
    "name",
    "version",
    "risk_tier",
    "date",
    "next_validation_due",
    "sha256",
    "rows",
    "decision_threshold",
}


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.requests
    httpd.shutdown()
    httpd.server_close()


SECRET = "ZQX-secret-7f3a"


def payload(base: str, secret: Path) -> str:
    return (
        f'<img src="file:///etc/hostname"><img src="{secret.as_uri()}"><img src="{base}/img.png">'
        f'<link rel="stylesheet" href="{base}/style.css">'
        "<style>body{background:url(file:///etc/passwd)} "
        f"p{{background:url({base}/css.png)}}</style>"
        f'<div style="background-image:url({base}/inline.png)">x</div>'
        '<script>document.write("pwned")</script>'
    )


def hostile(value: Any, text: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: hostile(v, text, k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v, text, key) for v in value]
    if isinstance(value, str) and key not in STRUCTURAL:
        return text
    return value


@pytest.fixture
def hostile_cat(
    sqlite_url: str, tmp_path: Path, server
) -> Iterator[tuple[Catalogue, str, list[str]]]:
    base, requests = server
    secret = tmp_path / "secret.svg"
    secret.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text>{SECRET}</text></svg>')
    text = payload(base, secret)
    card = yaml.safe_load((SAMPLE / "credit-risk-1.0.0.card.yaml").read_text())
    card = hostile(card, text)
    card["governance"]["owner"] = "alice"
    path = tmp_path / "hostile.card.yaml"
    path.write_text(yaml.safe_dump(card), encoding="utf-8")
    cat = make_catalogue(sqlite_url)
    catalogue.register_version(cat.ctx("alice"), path)
    insert_evidence(cat, "credit-risk@1.0.0", text=text)
    keys.org_init(cat.ctx("admin"))
    yield cat, text, requests
    cat.close()


def test_hostile_text_is_shown_escaped_and_nothing_is_fetched(hostile_cat, tmp_path):
    cat, text, requests = hostile_cat
    pdf = tmp_path / "card.pdf"
    result = reports.build_report(cat.ctx("carol"), "credit-risk@1.0.0", output=pdf)
    assert result.warnings == []  # no element was created, so nothing was even refused
    html = tmp_path / "card.html"
    reports.build_report(cat.ctx("carol"), "credit-risk@1.0.0", format="html", output=html)
    md = tmp_path / "card.md"
    reports.build_report(cat.ctx("carol"), "credit-risk@1.0.0", format="md", output=md)

    assert requests == []
    page = html.read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert 'src="file:' not in page and "<link" not in page
    assert page.count("&lt;img src=&#34;file:///etc/hostname&#34;&gt;") >= 20
    words = " ".join(pdf_text(pdf, layout=False).split())
    assert '<script>document.write("pwned")</script>' in words  # shown as text
    assert "pwned" not in words.replace('document.write("pwned")', "")
    assert SECRET not in words  # the local file was not read into the card
    info = " ".join(pdf_text(pdf).split())
    assert "file:///etc/hostname" in info
    markdown = md.read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown and "&lt;script&gt;" in markdown
    front = yaml.safe_load(markdown.split("---\n")[1])
    assert "license" not in front  # not an SPDX-like identifier, so left out
    document = json.loads(card_json(reports.report_view(cat.ctx("carol"), "credit-risk@1.0.0")))
    assert document["model_details"]["overview"] == text  # data keep the exact text


def test_fetcher_refuses_everything_but_bundled_assets_and_data_uris(server, tmp_path):
    """Second wall: even raw markup (a broken user template) fetches nothing outside."""
    base, requests = server
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    html = (
        "<html><head>"
        f'<link rel="stylesheet" href="{secret.as_uri()}">'
        f'<link rel="stylesheet" href="{base}/a.css">'
        f"<style>p {{ background: url({base}/b.png) }} "
        "h1 { background: url(file:///etc/passwd) }</style>"
        "</head><body><h1>t</h1><p>p</p>"
        f'<img src="file:///etc/hostname"><img src="{base}/c.png"><img src="../../etc/hostname">'
        '<img src="data:image/svg+xml;base64,'
        'PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=">'
        "<script>alert(1)</script></body></html>"
    )
    pdf, log = render_pdf(html, variant=None)
    assert pdf.startswith(b"%PDF-")
    assert requests == []
    refused = " ".join(log.refused)
    for url in (
        secret.as_uri(),  # <link> to a local stylesheet
        f"{base}/a.css",  # <link> to a stylesheet on a server
        f"{base}/b.png",  # CSS url() on a server
        "file:///etc/passwd",  # CSS url() of a local file
        f"{base}/c.png",  # <img> on a server
        "file:///etc/hostname",  # <img> of a local file
    ):
        assert url in refused, url
    assert any(s.startswith("data:image/svg+xml") for s in log.served)
    assert b"/JavaScript" not in pdf and b"/JS " not in pdf


def test_fetcher_serves_bundled_assets(tmp_path):
    from govern.report.pdf import assets_dir

    css = assets_dir() / "card.css"
    _, log = render_pdf(
        f'<html><head><link rel="stylesheet" href="{css.as_uri()}"></head><body>x</body></html>',
        variant=None,
    )
    assert log.served == [css.as_uri()] and log.refused == []
    # a path that leaves the assets directory through ".." is refused
    sneaky = css.parent.as_uri() + "/../card.html.j2"
    _, log = render_pdf(f'<html><body><img src="{sneaky}"></body></html>', variant=None)
    assert log.refused and not log.served


def test_group_labels_from_data_are_text_in_charts(sqlite_url, tmp_path):
    """Labels such as $\\alpha$ or <b> in the data stay literal in the SVG charts."""
    from tests.report.sample_rows import evaluation_document

    doc = evaluation_document()
    doc["fairness"][0]["groups"][0]["group"] = "$\\alpha$ <b>&"
    cat = make_catalogue(sqlite_url)
    catalogue.register_version(cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    insert_evidence(cat, "credit-risk@1.0.0", results=doc)
    html = tmp_path / "card.html"
    reports.build_report(cat.ctx("carol"), "credit-risk@1.0.0", format="html", output=html)
    page = html.read_text(encoding="utf-8")
    assert "$\\alpha$ &lt;b&gt;&amp;" in page
    import base64

    svgs = [base64.b64decode(m).decode() for m in re.findall(r"base64,([A-Za-z0-9+/=]+)", page)]
    assert any("$\\alpha$ &lt;b&gt;&amp;" in svg for svg in svgs)
    cat.close()
