"""Which policies apply to a version, and onto which of its data's columns their categories map.

The catalogue's governance settings bind policies to versions by risk tier, tags and
regulatory scope (``policy_bindings``); a binding may also map a policy's category names
onto the evaluated columns. Explicit ``--policy`` and ``--category`` options override them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from govern.domain.governance import GovernanceSettings, bound_categories, bound_policy_names
from govern.errors import InputError
from govern.policy.loader import LoadedPolicy, load_policies
from govern.services.context import Context
from govern.storage.tables import ModelVersion


def card_scope(card: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """A card's governance tags and regulatory scope, which bindings match on."""
    governance = card.get("governance") or {}
    return list(governance.get("tags") or []), list(governance.get("regulatory_scope") or [])


def bound_to(rules: GovernanceSettings, version: ModelVersion) -> list[str]:
    """The policies the catalogue's ``policy_bindings`` attach to ``version``."""
    tags, scope = card_scope(version.card)
    return bound_policy_names(
        rules.policy_bindings, risk_tier=version.risk_tier, tags=tags, regulatory_scope=scope
    )


def policies_for(
    ctx: Context, version: ModelVersion, policies: Sequence[str | Path] = ()
) -> list[LoadedPolicy]:
    """The explicit ``policies``, else those bound to ``version``; validated, all or nothing."""
    if policies:
        return load_policies(policies, max_bytes=ctx.settings.max_policy_bytes)
    names = bound_to(ctx.governance, version)
    if not names:
        raise InputError(
            f"no policy is bound to version {version.version} (setting policy_bindings); "
            "give --policy"
        )
    return load_policies(names, max_bytes=ctx.settings.max_policy_bytes)


def with_categories(
    policies: Sequence[LoadedPolicy],
    given: Mapping[str, str] | None = None,
    *,
    rules: GovernanceSettings | None = None,
    risk_tier: str = "",
    tags: Sequence[str] = (),
    regulatory_scope: Sequence[str] = (),
) -> list[LoadedPolicy]:
    """``policies`` with their category names mapped onto the data's columns.

    ``given`` (``--category``) applies to every policy; with ``rules`` (bound policies), so do
    the ``categories`` of the bindings that attach to the version, unless ``given`` maps the
    same category.

    Raises:
        InputError: a mapped category that no rule names, or bindings that map one category
            onto two columns.
    """
    from govern.policy.categories import map_categories

    given = dict(given or {})
    mapped = list(policies)
    if rules is not None:
        try:
            bound = bound_categories(
                rules.policy_bindings,
                risk_tier=risk_tier,
                tags=tags,
                regulatory_scope=regulatory_scope,
            )
        except ValueError as problem:
            raise InputError(str(problem)) from None
        bound = {k: v for k, v in bound.items() if k not in given}
        mapped = map_categories(mapped, bound, where="the policy bindings' categories:")
    return map_categories(mapped, given, where="--category")


def version_categories(
    rules: GovernanceSettings,
    version: ModelVersion,
    policies: Sequence[LoadedPolicy],
    given: Mapping[str, str] | None = None,
) -> list[LoadedPolicy]:
    """:func:`with_categories` for a stored version: ``given``, then its bindings' categories."""
    tags, scope = card_scope(version.card)
    return with_categories(
        policies,
        given,
        rules=rules,
        risk_tier=version.risk_tier,
        tags=tags,
        regulatory_scope=scope,
    )


__all__ = ["bound_to", "card_scope", "policies_for", "version_categories", "with_categories"]
