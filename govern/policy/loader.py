"""Loading policy files: every problem at once, each with file:line:column.

``--policy`` arguments may name a file, a directory of ``*.yaml``/``*.yml`` files, or a
shipped pack by its bare name (``nyc-ll144`` is ``policies/nyc-ll144.yaml`` shipped with
govern). Everything is read and checked before any rule is evaluated: a bad policy is an
input error (exit 2), never a half-finished check.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from govern.documents import YamlDocument, parse_yaml, read_text
from govern.errors import PolicyError, Problem
from govern.locations import policies_dir
from govern.policy.schema import (
    POLICY_SCHEMA_VERSION,
    RULE_KINDS,
    RULE_MODELS,
    ChampionMetric,
    ManualItem,
    PolicyFile,
    Selector,
    is_identifier,
)

DEFAULT_MAX_POLICY_BYTES = 1_000_000
POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy file and where it came from."""

    policy: PolicyFile
    path: str
    sha256: str
    lines: Mapping[str, int] = field(default_factory=dict)
    shipped: bool = False
    #: Categories its rules name, mapped onto evaluated columns for this check
    #: (:mod:`govern.policy.categories`); the file itself is unchanged.
    categories: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.policy.id

    def line_of(self, rule_id: str) -> int:
        return self.lines.get(rule_id, 1)

    def describe(self) -> dict[str, Any]:
        """What a policy run records about the policy, enough to find the exact file again."""
        return {
            "id": self.policy.id,
            "title": self.policy.title,
            "version": self.policy.version,
            "path": self.path,
            "sha256": self.sha256,
            "shipped": self.shipped,
            "rules": len(self.policy.rules),
            "manual": len(self.policy.manual),
            **({"categories": dict(self.categories)} if self.categories else {}),
        }


def shipped_pack_path(name: str) -> Path | None:
    """The shipped pack called ``name`` (``baseline``, ``nyc-ll144``, ...), if there is one."""
    if not is_identifier(name):
        return None
    for suffix in POLICY_SUFFIXES:
        candidate = policies_dir() / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def shipped_pack_names() -> list[str]:
    directory = policies_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES)


def resolve_policy_args(
    args: Iterable[str | Path],
) -> tuple[list[tuple[Path, bool]], list[Problem]]:
    """Turn ``--policy`` arguments into files; ``(path, shipped)`` pairs and problems."""
    files: list[tuple[Path, bool]] = []
    problems: list[Problem] = []
    for arg in args:
        text = str(arg)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in POLICY_SUFFIXES)
            if not found:
                problems.append(Problem(text, "directory holds no policy files (*.yaml, *.yml)"))
            files.extend((p, False) for p in found)
        elif path.exists():
            files.append((path, False))
        elif (pack := shipped_pack_path(text)) is not None:
            files.append((pack, True))
        else:
            known = ", ".join(shipped_pack_names()) or "none"
            problems.append(
                Problem(text, f"no such policy file, directory or shipped pack (packs: {known})")
            )
    unique: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for path, shipped in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, shipped))
    return unique, problems


def load_policies(
    args: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_POLICY_BYTES
) -> list[LoadedPolicy]:
    """Load every policy named by ``args``; raise one :class:`PolicyError` listing all problems."""
    if not args:
        raise PolicyError("no policy given: use --policy FILE, DIRECTORY or a shipped pack name")
    files, problems = resolve_policy_args(args)
    loaded: list[LoadedPolicy] = []
    for path, shipped in files:
        policy, found = check_policy_file(path, max_bytes=max_bytes, shipped=shipped)
        problems.extend(found)
        if policy is not None:
            loaded.append(policy)
    first_file: dict[str, str] = {}
    for policy in loaded:
        if policy.id in first_file:
            problems.append(
                Problem(
                    policy.path,
                    f"policy id {policy.id!r} is also used by {first_file[policy.id]}",
                    1,
                    key="id",
                )
            )
        else:
            first_file[policy.id] = policy.path
    if problems:
        raise PolicyError.from_problems(problems)
    return loaded


def load_policy_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_POLICY_BYTES, shipped: bool = False
) -> LoadedPolicy:
    policy, problems = check_policy_file(path, max_bytes=max_bytes, shipped=shipped)
    if problems or policy is None:
        raise PolicyError.from_problems(problems)
    return policy


def check_policy_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_POLICY_BYTES, shipped: bool = False
) -> tuple[LoadedPolicy | None, list[Problem]]:
    """Validate one policy file; returns the policy (if valid) and every problem found."""
    where = str(path)
    try:
        text = read_text(path, kind="policy", max_bytes=max_bytes, error=PolicyError)
        document = parse_yaml(text, where=where, error=PolicyError)
    except PolicyError as exc:
        if exc.problems:
            return None, list(exc.problems)
        return None, [_problem_from_message(where, exc.message)]
    return validate_document(document, text=text, shipped=shipped)


def parse_policy_text(text: str, *, where: str = "<policy>") -> LoadedPolicy:
    """Validate policy YAML given as text (tests, the TUI's editor)."""
    document = parse_yaml(text, where=where, error=PolicyError)
    policy, problems = validate_document(document, text=text)
    if problems or policy is None:
        raise PolicyError.from_problems(problems)
    return policy


def validate_document(
    document: YamlDocument, *, text: str, shipped: bool = False
) -> tuple[LoadedPolicy | None, list[Problem]]:
    where = document.where
    data = document.data
    if not isinstance(data, dict):
        got = type(data).__name__
        return None, [
            Problem(where, f"expected a mapping at the top of the policy, got {got}", 1, 1)
        ]
    problems = _duplicate_ids(document)
    policy: PolicyFile | None = None
    try:
        policy = PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, document))
    problems.sort(key=lambda p: (p.line, p.column))
    if problems or policy is None:
        return None, problems
    lines: dict[str, int] = {}
    for section in ("rules", "manual"):
        for index, item in enumerate(data.get(section) or []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                lines[item["id"]] = document.position((section, index))[0]
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, path=where, sha256=sha256, lines=lines, shipped=shipped), []


def _problem_from_message(where: str, message: str) -> Problem:
    """A Problem from ``read_text``'s ``"FILE: message"`` or ``"FILE:LINE: message"``."""
    rest = message.removeprefix(f"{where}:")
    line = 0
    number, sep, tail = rest.partition(":")
    if sep and number.isdigit():
        line, rest = int(number), tail
    return Problem(where, rest.strip(), line)


def _duplicate_ids(document: YamlDocument) -> list[Problem]:
    """Duplicate rule ids across ``rules`` and ``manual``, found on the raw data."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    data = document.data
    for section in ("rules", "manual"):
        items = data.get(section)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            rule_id = item["id"]
            line, column = document.position((section, index, "id"))
            if rule_id in first:
                problems.append(
                    Problem(
                        document.where,
                        f"duplicate rule id {rule_id!r} (first used on line {first[rule_id]})",
                        line,
                        column,
                        key=f"{section}[{index}].id",
                    )
                )
            else:
                first[rule_id] = line
    return problems


def _clean_loc(loc: Sequence[Any], data: Any, *, kind: str) -> tuple[str | int, ...]:
    """Drop pydantic's union tags (``'fairness'`` in ``rules.0.fairness.min``) from a loc.

    Walks the actual data: a part that is not a key or index there is a tag, except the last
    part of a ``missing`` error, which is by definition absent.
    """
    cleaned: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_mapping = isinstance(current, dict) and isinstance(part, str) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_mapping or in_list:
            cleaned.append(part)
            current = current[part]
        elif last and kind == "missing" and isinstance(part, str):
            cleaned.append(part)
    return tuple(cleaned)


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_EXPECTED_TYPE = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_from_datetime_parsing": "a date such as 2027-03-31",
}


@cache
def _field_names() -> tuple[str, ...]:
    """Every key a policy file may use anywhere, for "did you mean" suggestions."""
    models: list[type[BaseModel]] = [PolicyFile, Selector, ManualItem, ChampionMetric]
    models += list(RULE_MODELS.values())
    return tuple(sorted({f.alias or n for m in models for n, f in m.model_fields.items()}))


#: What one item of a list (or one key of a mapping) is called in a message.
_SINGULAR = {
    "states": "state",
    "roles": "role",
    "required_roles": "role",
    "risk_tiers": "risk tier",
    "allowed_formats": "artifact format",
    "min_approvals_by_tier": "risk tier",
    "max_months_by_tier": "risk tier",
    "risk_tier": "risk tier",
}

_BOUND = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _message(err: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind = err["type"]
    name = next((p for p in reversed(loc) if isinstance(p, str)), "value")
    given = err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, _field_names(), n=1, cutoff=0.8)
        return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"
    if kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag")
        return f"unknown rule kind {tag!r}; known kinds: {', '.join(RULE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"rule has no kind; give one of: {', '.join(RULE_KINDS)}"
    if kind == "literal_error" and loc == ("schema",):
        return (
            f"unsupported policy schema {given!r}; this version of govern reads schema "
            f"{POLICY_SCHEMA_VERSION}"
        )
    if kind in {"literal_error", "enum"}:
        expected = (err.get("ctx") or {}).get("expected", "")
        strings = [p for p in loc if isinstance(p, str)]
        if given == name and len(strings) > 1:  # a mapping's key, such as a tier's name
            name = strings[-2]
        return f"unknown {_SINGULAR.get(name, name)} {given!r}; expected {expected}"
    if kind == "string_pattern_mismatch":
        if name == "id":
            return (
                f"{given!r} is not a valid id: use lower-case letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        if name in {"features", "sensitive", "grouping"} or isinstance(loc[-1], int):
            return (
                f"{given!r} is not a feature name (intersections are not named with '*'; "
                "use `groupings: intersection` or `both`)"
            )
        if name == "dataset_sha256":
            return f"{given!r} is not a SHA-256 hex digest (64 lower-case hex characters)"
    expected = _EXPECTED_TYPE.get(kind)
    if expected is not None:
        return f"expected {expected}, got {given!r}"
    bound = _BOUND.get(kind)
    if bound is not None:
        word, key = bound
        limit = (err.get("ctx") or {}).get(key)
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        return f"must be {word} {shown}, got {given!r}"
    message = str(err["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _problems_from(exc: ValidationError, document: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str | int, ...]] = set()
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = _clean_loc(err["loc"], document.data, kind=kind)
        if kind in {"union_tag_invalid"}:
            loc = (*loc, "kind")
        if loc in seen:
            continue  # the same spot through another branch of a union: say it once
        seen.add(loc)
        if kind == "missing":
            line, column = document.position(loc[:-1])
        else:
            # An unknown field, or a mapping key that is not allowed (a tier's name): point
            # at the key rather than at its value.
            on_key = kind == "extra_forbidden" or (
                bool(loc) and kind in {"literal_error", "enum"} and err.get("input") == loc[-1]
            )
            line, column = document.position(loc, key=on_key)
        problems.append(Problem(document.where, _message(err, loc), line, column, key=_dotted(loc)))
    return problems


__all__ = [
    "LoadedPolicy",
    "check_policy_file",
    "load_policies",
    "load_policy_file",
    "parse_policy_text",
    "resolve_policy_args",
    "shipped_pack_names",
    "shipped_pack_path",
]
