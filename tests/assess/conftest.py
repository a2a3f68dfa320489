"""Fixtures shared by the assessment tests."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLE, invoke_cli


@pytest.fixture
def catalogue_url(sqlite_cat, sample_artifacts):
    """A SQLite catalogue holding credit-risk@1.1.0, registered by alice with its skops model."""
    result = invoke_cli(
        "register",
        str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
        "--artifact",
        str(sample_artifacts / "credit-risk-1.1.0.skops"),
        user="alice",
        db=sqlite_cat.url,
    )
    assert result.returncode == 0, result.stderr
    return sqlite_cat.url
