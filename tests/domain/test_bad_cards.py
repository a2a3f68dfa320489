"""Bad and hostile card files given to a real `govern register`, on SQLite and PostgreSQL.

Each one must exit 2 with one line per problem on stderr naming the file and the line and/or
field, print no traceback, and leave the catalogue exactly as it was.

The catalogue of bad cards runs `govern register` in process (``invoke_cli``: the same ``run``
that ``python -m govern`` exits with); the hostile ones (a Python tag, 50 MB, devices and
pipes, a bad artifact) and a card with several problems run it as a real process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from govern.errors import CardError
from govern.services import catalogue
from tests.conftest import invoke_cli, run_cli
from tests.helpers import CARDS, assert_clean_failure, snapshot

#: fixture file -> fragments its one-line message must contain (besides the file name)
BAD_CARDS = {
    "syntax-error.card.yaml": [":7:", "YAML syntax error"],
    "unknown-key.card.yaml": [":5:3:", "model_details.colour", "unknown field"],
    "wrong-type.card.yaml": [":8:", "metrics.decision_threshold", "valid number"],
    "missing-section.card.yaml": ["governance", "required field is missing"],
    "empty.card.yaml": ["empty"],
    "comment-only.card.yaml": ["empty"],
    "binary.card.yaml": ["binary file"],
    "latin1.card.yaml": [":6:", "not UTF-8", "0xe8"],
    "aliases.card.yaml": [":3:", "anchors and aliases are not allowed"],
    "python-tag.card.yaml": [":6:", "unsupported YAML tag !!python/object/apply:os.mkdir"],
    "duplicate-key.card.yaml": [":10:", "duplicate key 'governance'"],
    "deep-nesting.card.yaml": [":8:", "nesting is too deep"],
    "very-deep-nesting.card.yaml": [":8:", "nesting is too deep"],
    "several-documents.card.yaml": [":10:", "expected one YAML document, found several"],
    "top-level-list.card.yaml": [":1:", "expected a mapping"],
    # Hostile numbers: each was an internal error (exit 3) before.
    "huge-integer.card.yaml": [":9:23:", "number is too large"],
    "nan.card.yaml": [":9:23:", "numbers must be finite"],
    "infinity.card.yaml": [":9:23:", "numbers must be finite"],
    "nan-as-text.card.yaml": [":9:23:", "metrics.decision_threshold", "finite number"],
}


@pytest.fixture
def registered(cat):
    """A catalogue that already holds one version, so "unchanged" means something."""
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    return cat


def register(card: Path, url: str, cwd: Path | None = None, *, process: bool = True):
    """`govern register` as a real process, or in this one (``process=False``)."""
    return (run_cli if process else invoke_cli)(
        "register", str(card), user="alice", db=url, cwd=cwd
    )


def test_minimal_card_is_valid(tmp_path):
    card = catalogue.load_card(CARDS / "minimal.card.yaml", max_bytes=1_000_000)
    assert card.name == "tiny"
    assert card.governance.owner == "alice"


@pytest.mark.parametrize("name", sorted(BAD_CARDS))
def test_bad_card_is_refused_and_nothing_changes(name, registered, tmp_path):
    before = snapshot(registered.url)
    path = CARDS / name
    result = register(path, registered.url, cwd=tmp_path, process=False)
    lines = assert_clean_failure(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}"), lines
    for fragment in BAD_CARDS[name]:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    assert snapshot(registered.url) == before


def test_python_tag_is_never_executed(registered, tmp_path):
    # The tag would call os.mkdir("govern-pwned") in the working directory if constructed.
    result = register(CARDS / "python-tag.card.yaml", registered.url, cwd=tmp_path)
    assert_clean_failure(result)
    assert not (tmp_path / "govern-pwned").exists()


def test_several_problems_give_one_line_each(registered):
    before = snapshot(registered.url)
    path = CARDS / "several-problems.card.yaml"
    lines = assert_clean_failure(register(path, registered.url))
    assert len(lines) == 3, lines
    assert all(line.startswith(f"error: {path}:") for line in lines)
    joined = "\n".join(lines)
    assert "governance: required field is missing" in joined
    assert ":5:3: model_details.colour: unknown field" in joined
    assert ":9:23: metrics.decision_threshold:" in joined
    assert snapshot(registered.url) == before


def test_fifty_megabyte_card_is_refused_without_reading_it(registered, tmp_path):
    before = snapshot(registered.url)
    big = tmp_path / "huge.card.yaml"
    with big.open("w", encoding="utf-8") as handle:
        handle.write((CARDS / "minimal.card.yaml").read_text(encoding="utf-8"))
        handle.write("caveats_and_recommendations:\n")
        chunk = "  - " + "x" * 1020 + "\n"
        for _ in range(50 * 1024):
            handle.write(chunk)
    assert big.stat().st_size >= 50 * 1024 * 1024
    lines = assert_clean_failure(register(big, registered.url))
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {big}:")
    assert "MB" in lines[0] and "limit" in lines[0]
    assert snapshot(registered.url) == before


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_card_or_directory(kind, registered, tmp_path):
    before = snapshot(registered.url)
    path = tmp_path / "nope.yaml"
    if kind == "directory":
        path.mkdir()
    lines = assert_clean_failure(register(path, registered.url))
    assert len(lines) == 1 and str(path) in lines[0]
    assert ("no such" if kind == "missing" else "directory") in lines[0]
    assert snapshot(registered.url) == before


def test_bad_artifact_is_refused_before_anything_is_written(registered, tmp_path):
    before = snapshot(registered.url)
    card = tmp_path / "card.yaml"
    card.write_text(
        (CARDS / "minimal.card.yaml").read_text().replace("1.0.0", "2.0.0"), encoding="utf-8"
    )
    empty = tmp_path / "model.skops"
    empty.write_bytes(b"")
    result = run_cli(
        "register", str(card), "--artifact", str(empty), user="alice", db=registered.url
    )
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "empty" in lines[0]
    assert snapshot(registered.url) == before


# --- the reader itself, in process ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: !!set {x: null}\n", "unsupported YAML tag !!set"),
        ("a: !custom {x: 1}\n", "unsupported YAML tag !custom"),
        ("a: !!omap [x: 1]\n", "unsupported YAML tag !!omap"),
        ("a: !!python/name:os.system x\n", "unsupported YAML value"),
        ("a: !!python/object/new:os.system [x]\n", "unsupported YAML tag !!python/object/new"),
        ("? [a, b]\n: 1\n", "mapping keys must be plain text"),
    ],
)
def test_reader_refuses_tags_and_complex_keys(text, fragment, tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CardError) as caught:
        catalogue.load_card(path, max_bytes=1_000_000)
    assert fragment in caught.value.message
    assert f"{path}:1:" in caught.value.message


def test_reader_accepts_a_utf8_bom(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (CARDS / "minimal.card.yaml").read_bytes())
    assert catalogue.load_card(path, max_bytes=1_000_000).name == "tiny"


@pytest.mark.parametrize("kind", ["device", "fifo"])
@pytest.mark.parametrize("role", ["card", "artifact"])
def test_devices_and_pipes_are_refused_not_read(kind, role, registered, tmp_path):
    """/dev/zero never ends and a named pipe never starts: both must be refused at once."""
    before = snapshot(registered.url)
    if kind == "device":
        special = Path("/dev/zero")
    else:
        special = tmp_path / "pipe.yaml"
        os.mkfifo(special)
    card = tmp_path / "card.yaml"
    card.write_text((CARDS / "minimal.card.yaml").read_text().replace("1.0.0", "3.0.0"))
    args = ["register", str(special)] if role == "card" else ["register", str(card)]
    if role == "artifact":
        args += ["--artifact", str(special)]
    result = run_cli(*args, user="alice", db=registered.url, timeout=60)
    lines = assert_clean_failure(result)
    assert lines == [f"error: {special}: is not a regular file, expected a model {role} file"]
    assert snapshot(registered.url) == before


def test_validator_messages_read_plainly(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text((CARDS / "minimal.card.yaml").read_text().replace("1.0.0", "one"))
    with pytest.raises(CardError) as caught:
        catalogue.load_card(path, max_bytes=1_000_000)
    assert caught.value.message.endswith(
        "model_details.version: 'one' is not a semantic version such as 1.2.0"
    ), caught.value.message


@pytest.mark.parametrize(
    ("value", "fragment"), [("true", "not true/false"), ("2", "Input should be 1")]
)
def test_schema_version_must_be_1(value, fragment, tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(
        (CARDS / "minimal.card.yaml").read_text().replace("schema: 1", f"schema: {value}")
    )
    with pytest.raises(CardError) as caught:
        catalogue.load_card(path, max_bytes=1_000_000)
    assert f"{path}:2:" in caught.value.message and "schema" in caught.value.message
    assert fragment in caught.value.message
