"""Policy categories mapped onto the columns an evaluation used.

A pack names the categories it is about by the column names it expects (``nyc-ll144``'s
``sex`` and ``race_ethnicity``); an organisation's data may call them otherwise (``race``).
A mapping ``{race_ethnicity: race}``, from ``--category race_ethnicity=race`` or the
``categories`` of a policy binding, renames the category wherever a rule names a feature
(``features``, ``sensitive``, a champion metric's ``grouping``, the keys of a fairness
``reference``), so every rule then reads the ``race`` grouping of the evaluation. The policy
file, and so its SHA-256, is unchanged; the run records the mapping with the policy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from govern.errors import InputError
from govern.policy.loader import LoadedPolicy
from govern.policy.schema import RuleBase

#: A category or column name (the policy schema's FeatureName: no ``*``, not blank).
_NAME = re.compile(r"^[^*\s=][^*=]{0,199}$")


def parse_category_options(values: Iterable[str]) -> dict[str, str]:
    """``["race_ethnicity=race", ...]`` (``--category``) as ``{"race_ethnicity": "race"}``.

    Raises:
        InputError: an item is not ``CATEGORY=COLUMN``, or names a category twice.
    """
    mapping: dict[str, str] = {}
    for value in values:
        category, sep, column = value.partition("=")
        category, column = category.strip(), column.strip()
        if not sep or not _NAME.match(category) or not _NAME.match(column):
            raise InputError(
                f"--category {value}: give CATEGORY=COLUMN, e.g. --category race_ethnicity=race"
            )
        if category in mapping and mapping[category] != column:
            raise InputError(
                f"--category {category} is given twice ({mapping[category]} and {column})"
            )
        mapping[category] = column
    return mapping


def named_categories(policies: Sequence[LoadedPolicy]) -> list[str]:
    """Every feature some rule of ``policies`` names, in order of first mention."""
    seen: dict[str, None] = {}
    for loaded in policies:
        for rule in loaded.policy.rules:
            for name in _rule_features(rule):
                seen.setdefault(name, None)
    return list(seen)


def map_categories(
    policies: Sequence[LoadedPolicy], mapping: Mapping[str, str], *, where: str = "--category"
) -> list[LoadedPolicy]:
    """``policies`` with each category of ``mapping`` renamed to its column.

    Args:
        where: what to blame for a category no rule names (``--category`` or a binding).

    Raises:
        InputError: a category of ``mapping`` that no rule of ``policies`` names.
    """
    if not mapping:
        return list(policies)
    known = named_categories(policies)
    unknown = [name for name in mapping if name not in known]
    if unknown:
        ids = ", ".join(p.id for p in policies)
        raise InputError(
            f"{where} {unknown[0]}={mapping[unknown[0]]}: no rule of {ids} names a category "
            f"{unknown[0]!r} (they name {', '.join(known) or 'none'})"
        )
    mapped: list[LoadedPolicy] = []
    for loaded in policies:
        used = {
            name: column
            for name, column in mapping.items()
            if any(name in _rule_features(r) for r in loaded.policy.rules)
        }
        if not used:
            mapped.append(loaded)
            continue
        rules = [_renamed(rule, used) for rule in loaded.policy.rules]
        policy = loaded.policy.model_copy(update={"rules": rules})
        mapped.append(dataclasses.replace(loaded, policy=policy, categories=dict(used)))
    return mapped


def _rule_features(rule: RuleBase) -> Iterator[str]:
    for key in ("features", "sensitive"):
        names = getattr(rule, key, None)
        if names:
            yield from names
    reference = getattr(rule, "reference", None)
    if isinstance(reference, Mapping):
        yield from reference
    for metric in getattr(rule, "metrics", None) or ():
        grouping = getattr(metric, "grouping", None)
        if grouping:
            yield grouping


def _renamed(rule: RuleBase, mapping: Mapping[str, str]) -> RuleBase:
    update: dict[str, Any] = {}
    for key in ("features", "sensitive"):
        names = getattr(rule, key, None)
        if names:
            update[key] = [mapping.get(name, name) for name in names]
    reference = getattr(rule, "reference", None)
    if isinstance(reference, Mapping):
        update["reference"] = {mapping.get(k, k): v for k, v in reference.items()}
    metrics = getattr(rule, "metrics", None)
    if metrics:
        update["metrics"] = [
            m.model_copy(update={"grouping": mapping.get(m.grouping, m.grouping)})
            if getattr(m, "grouping", None)
            else m
            for m in metrics
        ]
    return rule.model_copy(update=update) if update else rule


__all__ = ["map_categories", "named_categories", "parse_category_options"]
