"""The statuses a rule's outcome can have, and which of them leave a rule unmet.

``pass``            the evidence meets the rule.
``fail``            the evidence breaks the rule.
``waived``          it failed (or errored), but an unexpired waiver covers it; still shown.
``not-applicable``  the rule does not concern this subject (selector, state, no champion).
``error``           the rule could not be decided: the evidence it needs is missing or broken.
``manual``          a requirement only a person can judge; listed, never counted as a pass.

A rule *blocks* (``govern check`` exits 1, approval and deployment are refused) when its
severity is ``error`` and its status is ``fail`` or ``error``.

A module of its own, below everything else in the policy package: the rule kinds decide
statuses, and the outcomes (:mod:`govern.policy.outcomes`) collect them.
"""

from __future__ import annotations

PASS = "pass"  # noqa: S105 - a status, not a password
FAIL = "fail"
WAIVED = "waived"
NOT_APPLICABLE = "not-applicable"
ERROR = "error"
MANUAL = "manual"
STATUSES = (PASS, FAIL, WAIVED, NOT_APPLICABLE, ERROR, MANUAL)
#: Statuses that mean "this rule is not met".
UNMET = frozenset({FAIL, ERROR})

__all__ = ["ERROR", "FAIL", "MANUAL", "NOT_APPLICABLE", "PASS", "STATUSES", "UNMET", "WAIVED"]
