"""docs/architecture.md stays true to the repository: the paths it names exist, it explains
every import contract pyproject.toml enforces, every `docs/architecture.md §N` cited in the
repository names one of its sections, and nothing cites the design document that was never
in the repository."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from tests.conftest import REPO

ARCHITECTURE = REPO / "docs" / "architecture.md"
#: The outside design document this file replaced; spelt in two parts so this test does not
#: cite it.
MISSING_DOCUMENT = "DESIGN" + ".md"
#: Where a path the document names may start.
TOP_LEVEL = ("govern/", "tests/", "benchmarks/", "docs/", "policies/", "report_templates/")


def _text() -> str:
    return ARCHITECTURE.read_text(encoding="utf-8")


def _repository_files() -> list[Path]:
    """Every file of the repository that git tracks or would track (new files included)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def _named_paths(text: str) -> set[str]:
    """Paths in backticks, and relative links to other documents in docs/."""
    quoted = {
        token
        for token in re.findall(r"`([^`\s]+)`", text)
        if token.startswith(TOP_LEVEL) and "<" not in token and "*" not in token
    }
    linked = {f"docs/{name}" for name in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", text)}
    return quoted | linked


def test_every_path_the_architecture_names_exists() -> None:
    named = _named_paths(_text())
    assert len(named) > 40  # the document names modules, not just packages
    missing = sorted(path for path in named if not (REPO / path.rstrip("/")).exists())
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def _contracts() -> list[dict[str, object]]:
    with (REPO / "pyproject.toml").open("rb") as file:
        contracts: list[dict[str, object]] = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_import_contract_is_described() -> None:
    """Each contract is quoted by name, and its paragraph names every module it constrains."""
    text = _text()
    undescribed = []
    for contract in _contracts():
        name = str(contract["name"])
        start = text.find(f'**"{name}"**')
        if start < 0:
            undescribed.append(f"{name}: not quoted")
            continue
        paragraph = re.split(r"\n\d+\. |\n#", text[start:], maxsplit=1)[0]
        modules = [*contract.get("source_modules", []), *contract.get("forbidden_modules", [])]  # type: ignore[misc]
        unnamed = [m for m in modules if f"`{m}`" not in paragraph]
        if unnamed:
            undescribed.append(f"{name}: does not name {unnamed}")
    assert len(_contracts()) >= 5
    assert undescribed == [], undescribed


def _sections(text: str) -> set[str]:
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, flags=re.MULTILINE))


def test_every_cited_section_exists() -> None:
    """`docs/architecture.md §N` anywhere in the repository, and `§N` in the document itself,
    name a section that exists."""
    sections = _sections(_text())
    assert {"1", "2", "2.1", "9", "11"} <= sections
    cited = [("docs/architecture.md", n) for n in re.findall(r"§(\d+(?:\.\d+)?)", _text())]
    for path in _repository_files():
        if path.suffix in {".py", ".md", ".yaml", ".yml", ".j2", ".toml"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            where = str(path.relative_to(REPO))
            cited += [
                (where, n) for n in re.findall(r"architecture\.md`{0,2} §(\d+(?:\.\d+)?)", text)
            ]
    assert len(cited) > 10
    wrong = [f"{where}: §{number}" for where, number in cited if number not in sections]
    assert wrong == [], f"citations of sections that do not exist: {wrong}"


def test_no_file_cites_the_missing_design_document() -> None:
    citing = []
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # data files (PDF fixtures, parquet) cite nothing
            continue
        citing += [
            f"{path.relative_to(REPO)}:{number}"
            for number, line in enumerate(text.splitlines(), start=1)
            if MISSING_DOCUMENT in line
        ]
    assert citing == [], (
        f"these cite {MISSING_DOCUMENT}, which is not in the repository "
        f"(cite docs/architecture.md instead): {citing}"
    )
