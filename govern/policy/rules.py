"""Kept for callers outside the policy package while they move to :mod:`govern.policy.kinds`
(each rule kind's module holds its rules now)."""

from govern.policy.kinds.freshness import card_dataset_hashes

__all__ = ["card_dataset_hashes"]
