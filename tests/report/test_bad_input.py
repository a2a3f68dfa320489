"""Bad input to `govern report`: one line naming the problem, exit 2, nothing written.

A signed card, the default output name and a missing key run `govern report` as a real
process; the other cases run it in process (``invoke_cli``: the same ``run`` that
``python -m govern`` exits with), sparing each a fresh interpreter's imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from govern.services import reports
from tests.conftest import invoke_cli, key_dir, run_cli
from tests.report.conftest import REF, pdf_text, prepare
from tests.report.sample_rows import events, report_rows


@pytest.fixture
def keyed(sqlite_url: str, tmp_path: Path):
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home)
    yield cat, {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url, "GOVERN_USER": "carol"}
    cat.close()


def assert_nothing_written(cat, folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before  # no file, no temporary left behind
    assert report_rows(cat.ctx()) == []
    assert list(events(cat.ctx(), "report.build")) == []


def out_dir(tmp_path: Path) -> tuple[Path, set[str]]:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder, set()


def test_cli_writes_a_signed_card_and_reports_it(keyed, tmp_path):
    cat, env = keyed
    folder, _ = out_dir(tmp_path)
    done = run_cli("report", REF, "-o", str(folder / "card.pdf"), env=env)
    assert done.returncode == 0, done.stderr
    assert "signed by CN=govern test instance" in done.stdout
    [row] = report_rows(cat.ctx())
    assert row.path == str((folder / "card.pdf").resolve())
    assert [p.name for p in folder.iterdir()] == ["card.pdf"]


def test_default_output_name_in_working_directory(keyed, tmp_path):
    _, env = keyed
    folder, _ = out_dir(tmp_path)
    done = run_cli("report", "credit-risk", "--format", "md", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert (folder / "credit-risk-1.0.0.md").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["credit-risk@9.9.9"], "no version credit-risk@9.9.9"),
        (["nobody@1.0.0"], "no model named 'nobody'"),
        ([REF, "--format", "docx"], "unknown --format 'docx'"),
        ([REF, "--paper", "A3"], "unknown --paper 'A3'"),
    ],
)
def test_bad_arguments(keyed, tmp_path, args, message):
    cat, env = keyed
    folder, before = out_dir(tmp_path)
    done = invoke_cli("report", *args, cwd=folder, env=env)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert_nothing_written(cat, folder, before)


def test_missing_key_names_keys_org_init(sqlite_url, tmp_path):
    home = tmp_path / "home"
    cat = prepare(sqlite_url, home, key=False)
    folder, before = out_dir(tmp_path)
    env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": sqlite_url, "GOVERN_USER": "carol"}
    done = run_cli("report", REF, "-o", str(folder / "card.pdf"), env=env)
    assert done.returncode == 2
    assert "govern keys org init" in done.stderr
    assert_nothing_written(cat, folder, before)
    # an unsigned draft needs no key
    done = run_cli("report", REF, "--no-sign", "-o", str(folder / "draft.pdf"), env=env)
    assert done.returncode == 0 and "not signed" in done.stdout
    cat.close()


@pytest.mark.parametrize("where", ["missing-dir", "file-parent", "directory", "proc"])
def test_unwritable_output(keyed, tmp_path, where):
    cat, env = keyed
    folder, before = out_dir(tmp_path)
    (folder / "plain.txt").write_text("x")
    before = {"plain.txt"}
    target = {
        "missing-dir": folder / "nope" / "card.pdf",
        "file-parent": folder / "plain.txt" / "card.pdf",
        "directory": folder,
        "proc": Path("/proc/govern-card.pdf"),
    }[where]
    done = invoke_cli("report", REF, "-o", str(target), env=env)
    assert done.returncode == 2, done.stderr
    assert str(target) in done.stderr and "Traceback" not in done.stderr
    assert_nothing_written(cat, folder, before)


def test_broken_user_template_names_file_and_line(keyed, tmp_path):
    cat, env = keyed
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "card.html.j2").write_text(
        '{% extends "govern/card.html.j2" %}\n{% block logo %}\n'
        "<b>{{ oops( }}</b>\n{% endblock %}\n"
    )
    folder, before = out_dir(tmp_path)
    done = invoke_cli(
        "report",
        REF,
        "-o",
        str(folder / "c.pdf"),
        env={**env, "GOVERN_TEMPLATE_DIR": str(templates)},
    )
    assert done.returncode == 2
    assert f"{templates / 'card.html.j2'}:3: template syntax error" in done.stderr
    assert_nothing_written(cat, folder, before)


def test_user_template_with_undefined_name_names_file_and_line(keyed, tmp_path):
    cat, env = keyed
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "card.html.j2").write_text(
        '{% extends "govern/card.html.j2" %}\n\n{% block logo %}{{ model.colour }}{% endblock %}\n'
    )
    folder, before = out_dir(tmp_path)
    done = invoke_cli(
        "report",
        REF,
        "--format",
        "html",
        "-o",
        str(folder / "c.html"),
        env={**env, "GOVERN_TEMPLATE_DIR": str(templates)},
    )
    assert done.returncode == 2
    assert f"{templates / 'card.html.j2'}:3: template error" in done.stderr
    assert "colour" in done.stderr
    assert_nothing_written(cat, folder, before)


def test_missing_template_directory(keyed, tmp_path):
    cat, env = keyed
    folder, before = out_dir(tmp_path)
    done = invoke_cli(
        "report",
        REF,
        "--format",
        "html",
        "-o",
        str(folder / "c.html"),
        env={**env, "GOVERN_TEMPLATE_DIR": str(tmp_path / "nowhere")},
    )
    assert done.returncode == 2 and "template directory" in done.stderr
    assert_nothing_written(cat, folder, before)


def test_user_template_overrides_blocks_only(keyed, tmp_path):
    """An organisation changes the logo and adds a section without copying the template."""
    cat, _ = keyed
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "card.html.j2").write_text(
        '{% extends "govern/card.html.j2" %}\n'
        "{% block logo %}<strong>ACME Bank model risk</strong>{% endblock %}\n"
        "{% block extra_styles %}h2 { border-bottom-color: #7a1f5c; }{% endblock %}\n"
        '{% block extra_sections %}<section id="acme"><h2>17 ACME sign-off</h2>'
        "<p>Reviewed under policy MR-7 for {{ model.ref }}.</p></section>{% endblock %}\n"
    )
    from govern.services import Context

    ctx = Context.open(
        database_url=cat.url,
        user="carol",
        home=tmp_path / "home",
        key_dir=key_dir("carol"),
        template_dir=templates,
    )
    out = tmp_path / "acme.pdf"
    reports.build_report(ctx, REF, output=out)
    text = " ".join(pdf_text(out).split())
    assert "ACME Bank model risk" in text
    assert f"Reviewed under policy MR-7 for {REF}." in text
    assert "17 How to verify this card" in text  # the bundled sections are all still there
    assert reports.verify_pdf(ctx, out).ok
    ctx.close()


def test_viewer_can_generate_but_strangers_cannot(keyed, tmp_path):
    cat, env = keyed
    folder, before = out_dir(tmp_path)
    done = invoke_cli(
        "report",
        REF,
        "--format",
        "json",
        "-o",
        str(folder / "c.json"),
        env={**env, "GOVERN_USER": "mallory"},
    )
    assert done.returncode == 2 and "not a user of this catalogue" in done.stderr
    assert_nothing_written(cat, folder, before)
    [refusal] = events(cat.ctx(), "report.build.refused")
    assert refusal.actor == "mallory" and refusal.subject == REF
    done = invoke_cli(
        "report",
        REF,
        "--format",
        "json",
        "-o",
        str(folder / "c.json"),
        env={**env, "GOVERN_USER": "victor"},
    )
    assert done.returncode == 0


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            '{% extends "govern/card.html.j2" %}\n{% block logo %}{{ 1 / 0 }}{% endblock %}\n',
            "card.html.j2:2: template error: ZeroDivisionError: division by zero",
        ),
        (
            '{% extends "govern/card.html.j2" %}\n\n{% block logo %}{{ model.name + 1 }}'
            "{% endblock %}\n",
            "card.html.j2:3: template error: TypeError",
        ),
        (
            '{% extends "govern/card.html.j2" %}\n{% block logo %}{{ range(10**9) | list }}'
            "{% endblock %}\n",
            "card.html.j2:2: template error: OverflowError",
        ),
        ('{% extends "card.html.j2" %}\n', "card.html.j2: templates extend or include each other"),
        (b"{% block logo %}\xff{% endblock %}\n", "card.html.j2: a template must be UTF-8 text"),
        (
            '{% extends "govern/card.html.j2" %}\n{% block logo %}{{ "".__class__ }}'
            "{% endblock %}\n",
            "card.html.j2:2: template error: access to attribute '__class__'",
        ),
    ],
    ids=["zero-division", "type-error", "sandbox-range", "extends-itself", "not-utf8", "unsafe"],
)
def test_user_template_runtime_errors_are_input_errors(keyed, tmp_path, source, message):
    """Errors of the organisation's template code are its author's: exit 2, file and line."""
    cat, env = keyed
    templates = tmp_path / "templates"
    templates.mkdir()
    target = templates / "card.html.j2"
    if isinstance(source, bytes):
        target.write_bytes(source)
    else:
        target.write_text(source, encoding="utf-8")
    folder, before = out_dir(tmp_path)
    done = invoke_cli(
        "report",
        REF,
        "-o",
        str(folder / "c.pdf"),
        env={**env, "GOVERN_TEMPLATE_DIR": str(templates)},
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {templates}/") and message in line, line
    assert_nothing_written(cat, folder, before)


def test_format_follows_the_output_extension_unless_given(keyed, tmp_path):
    cat, env = keyed
    folder, _ = out_dir(tmp_path)
    for name, kind in (("c.md", "MD"), ("c.html", "HTML"), ("c.json", "JSON"), ("c.pdf", "PDF")):
        done = invoke_cli("report", REF, "-o", str(folder / name), env=env)
        assert done.returncode == 0 and f"Wrote {kind} card" in done.stdout, done.stderr
    assert (folder / "c.md").read_text(encoding="utf-8").startswith("---\n")
    assert (folder / "c.pdf").read_bytes().startswith(b"%PDF-")
    done = invoke_cli("report", REF, "--format", "json", "-o", str(folder / "data.md"), env=env)
    assert done.returncode == 0 and "Wrote JSON card" in done.stdout  # an explicit choice wins
    assert [r.format for r in report_rows(cat.ctx())] == ["md", "html", "json", "pdf", "json"]
