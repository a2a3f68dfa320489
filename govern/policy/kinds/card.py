"""``card``: named card fields are present and have at least a minimum content."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from govern.policy.base import RuleBase, card_field_paths
from govern.policy.judging import Findings, listing
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, PASS


class CardRule(RuleBase):
    """Card fields are present and have at least a minimum content."""

    kind: Literal["card"]
    fields: Annotated[list[str], Field(min_length=1, max_length=200)]
    min_chars: Annotated[int, Field(ge=1)] = 1
    min_items: Annotated[int, Field(ge=1)] = 1

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        known = card_field_paths()
        unknown = [path for path in value if path not in known]
        if unknown:
            raise ValueError(
                f"unknown card field {', '.join(repr(u) for u in unknown)}; fields look like "
                "'intended_use.primary_uses' or 'training_data.datasets[].source'"
            )
        return value


Rule = CardRule


def judge(rule: CardRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    missing: list[str] = []
    short: list[dict[str, str]] = []
    checked = 0
    for path in rule.fields:
        for where, value in card_values(subject.card, path):
            checked += 1
            problem = _shortfall(value, rule.min_chars, rule.min_items)
            if problem == "missing or empty":
                missing.append(where)
            elif problem is not None:
                short.append({"field": where, "problem": problem})
    facts = {"fields": list(rule.fields), "checked": checked, "missing": missing, "short": short}
    return Findings(FAIL if missing or short else PASS, facts)


def describe(rule: CardRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts = findings.facts
    if findings.status == PASS:
        return f"all {facts['checked']} card fields present"
    described = [f"{m} is missing" for m in facts["missing"]] + [
        f"{s['field']} has {s['problem']}" for s in facts["short"]
    ]
    return listing(described)


def card_values(card: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """``(concrete path, value)`` for a field path; ``a.items[].b`` yields one per item."""
    if "[]" not in path:
        # Most paths name one field: walk straight down (this runs for every card rule).
        node: Any = card
        for key in path.split("."):
            node = node.get(key) if type(node) is dict or isinstance(node, Mapping) else None
        yield path, node
        return
    yield from listed_values(card, card_steps(path))


def card_steps(path: str) -> list[tuple[str, bool]]:
    """A field path as ``(key, listed)`` steps: ``a.items[].b`` is a, each of items, b."""
    return [(part[:-2], True) if part.endswith("[]") else (part, False) for part in path.split(".")]


def listed_values(
    card: Mapping[str, Any], steps: Sequence[tuple[str, bool]]
) -> list[tuple[str, Any]]:
    """``(concrete path, value)`` for the steps of a path with lists."""
    nodes: list[tuple[str, Any, bool]] = [("", card, True)]
    for key, listed in steps:
        following: list[tuple[str, Any, bool]] = []
        for where, node, present in nodes:
            if not present:
                following.append((where, None, False))
                continue
            here = f"{where}.{key}" if where else key
            value = node.get(key) if isinstance(node, Mapping) else None
            if not listed:
                following.append((here, value, True))
            elif isinstance(value, list) and value:
                following.extend((f"{here}[{i}]", item, True) for i, item in enumerate(value))
            else:
                following.append((here, None, False))
        nodes = following
    return [(where, value) for where, value, _present in nodes]


def _has_content(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is str:  # most fields: before the slower abstract-class tests
        return bool(value.strip())
    if isinstance(value, Mapping):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return any(_has_content(v) for v in value)
    return True


def _shortfall(value: Any, min_chars: int, min_items: int) -> str | None:
    if type(value) is str:  # most fields: one strip, no abstract-class tests
        stripped = value.strip()
        if not stripped:
            return "missing or empty"
        if len(stripped) < min_chars:
            return f"{len(stripped)} characters, needs at least {min_chars}"
        return None
    if not _has_content(value):
        return "missing or empty"
    if isinstance(value, str) and len(value.strip()) < min_chars:
        return f"{len(value.strip())} characters, needs at least {min_chars}"
    if isinstance(value, list | tuple):
        items = sum(1 for v in value if _has_content(v))
        if items < min_items:
            return f"{items} item{'s' * (items != 1)}, needs at least {min_items}"
    return None
