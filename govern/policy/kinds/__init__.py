"""The rule kinds: one module per kind, each the only place its rules are decided.

A kind's module holds:

* ``Rule``: its pydantic model (a :class:`~govern.policy.base.RuleBase` with a
  ``kind: Literal["<name>"]`` field), which :mod:`govern.policy.schema` puts in the policy
  file's model;
* ``judge(rule, subject, now) -> Findings``: the one function that decides, from which the
  status follows (:class:`~govern.policy.judging.Findings`);
* ``describe(rule, subject, findings) -> str``: the outcome's message, worded from the
  findings when the outcome is read; the findings' facts are its evidence.

:data:`NAMES` lists the kinds in the order policies and documentation present them; adding a
kind is a module here and its name in that list (``docs/adding-a-rule-kind.md``).
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any, Protocol

from govern.policy.base import RuleBase
from govern.policy.judging import Findings
from govern.policy.snapshot import SubjectSnapshot

#: Every rule kind, each a module of this package of the same name.
NAMES: tuple[str, ...] = (
    "card",
    "performance",
    "fairness",
    "explanation",
    "drift",
    "freshness",
    "approvals",
    "validation_due",
    "artifact",
    "champion",
    "disclosure",
    "monitoring",
)


class Kind(Protocol):
    """What a rule kind's module provides."""

    Rule: type[RuleBase]

    def judge(self, rule: Any, subject: SubjectSnapshot, now: dt.datetime) -> Findings: ...

    def describe(self, rule: Any, subject: SubjectSnapshot, findings: Findings) -> str: ...


#: kind name -> its module, in :data:`NAMES` order.
KINDS: dict[str, Kind] = {}


def register(name: str, module: str | None = None) -> Kind:
    """Add the kind ``name`` from ``module`` (default: this package's module of that name).

    Kinds are registered when this package is first imported, before the policy schema is
    built from them; a kind registered later is not in the schema.
    """
    if name in KINDS:
        raise ValueError(f"rule kind {name!r} registered twice")
    found: Any = importlib.import_module(module or f"{__name__}.{name}")
    for part in ("Rule", "judge", "describe"):
        if not hasattr(found, part):
            raise TypeError(f"rule kind module {found.__name__} has no {part}")
    declared = found.Rule.model_fields["kind"].annotation.__args__
    if declared != (name,):
        raise TypeError(f"{found.__name__}.Rule has kind {declared}, not {name!r}")
    KINDS[name] = found
    return found  # type: ignore[no-any-return]


for _name in NAMES:
    register(_name)

__all__ = ["KINDS", "NAMES", "Kind", "register"]
