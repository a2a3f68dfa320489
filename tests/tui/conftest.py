"""Catalogues for the console's tests, built with the real services.

``console_catalogue`` is deterministic: every step runs with the clock frozen (time-machine),
so timestamps, audit hashes and "days waiting" are the same on every run and machine, and
snapshots can compare pixels. Version 1.0.0 is registered without an artifact and evaluated
from a predictions column; 1.1.0 carries its model, so SHAP explanations are real. Nothing
that varies between machines (artifact hashes, temporary paths) reaches a snapshotted screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import shutil
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from govern.config import Settings, load_settings
from govern.services import Context, catalogue, checks, evaluation, keys, users, workflow
from govern.tui.app import GovernApp, make_app
from tests.conftest import CAST, SAMPLE

#: The moment the deterministic catalogue is built, and the day the app is run on.
FROZEN = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
RUN_AT = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@dataclass
class ConsoleCatalogue:
    """A catalogue directory with its URL and home (keys live there)."""

    directory: Path
    home: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory / 'govern.db'}"

    def settings(self, user: str, *, relative: bool = False) -> Settings:
        """Settings for ``user``; ``relative`` names the file as ./govern.db (for snapshots,
        whose header shows the catalogue URL)."""
        url = "sqlite:///govern.db" if relative else self.url
        return load_settings(database_url=url, user=user, home=self.home)

    def ctx(self, user: str) -> Context:
        return Context(self.settings(user))


def _ctx(url: str, home: Path, user: str) -> Context:
    return Context(load_settings(database_url=url, user=user, home=home))


def build_console_catalogue(directory: Path, artifacts: Path) -> ConsoleCatalogue:
    """The sample credit-risk models through evaluation, checks and the workflow."""
    directory.mkdir(parents=True, exist_ok=True)
    made = ConsoleCatalogue(directory, directory / "home")
    url, home = made.url, made.home
    with time_machine.travel(FROZEN, tick=False) as clock:
        admin = _ctx(url, home, "admin")
        catalogue.init_catalogue(admin)
        for name, role in CAST.items():
            users.add_user(admin, name, role=role)
        keys.init_keys(admin.settings, common_name="govern test console", organization="Test")
        alice = _ctx(url, home, "alice")
        catalogue.register_version(alice, SAMPLE / "credit-risk-1.0.0.card.yaml")
        clock.shift(dt.timedelta(minutes=5))
        catalogue.register_version(
            alice,
            SAMPLE / "credit-risk-1.1.0.card.yaml",
            artifact=artifacts / "credit-risk-1.1.0.skops",
        )
        clock.shift(dt.timedelta(hours=1))
        evaluation.evaluate_version(
            alice,
            "credit-risk@1.0.0",
            data=SAMPLE / "credit_holdout_scored.csv",
            target="credit",
            positive="1",
            sensitive=["sex", "age_group"],
            predictions="pred",
            score="score",
            seed=0,
        )
        clock.shift(dt.timedelta(minutes=10))
        evaluation.evaluate_version(
            alice,
            "credit-risk@1.1.0",
            data=SAMPLE / "credit_holdout.csv",
            target="credit",
            positive="1",
            sensitive=["sex", "age_group"],
            model=artifacts / "credit-risk-1.1.0.skops",
            id_column="applicant_id",
            explain=3,
            seed=0,
        )
        clock.shift(dt.timedelta(minutes=10))
        bob = _ctx(url, home, "bob")
        for version in ("1.0.0", "1.1.0"):
            checks.check_version(bob, f"credit-risk@{version}", now=dt.datetime.now(dt.UTC))
        evaluation.drift(
            bob,
            "credit-risk@1.0.0",
            reference=SAMPLE / "credit_train.csv",
            current=SAMPLE / "credit_holdout.csv",
            exclude=["applicant_id", "credit"],
        )
        clock.shift(dt.timedelta(minutes=30))
        workflow.submit(alice, "credit-risk@1.0.0", comment="first production candidate")
        clock.shift(dt.timedelta(minutes=45))
        workflow.approve(_ctx(url, home, "erin"), "credit-risk@1.0.0", comment="validated")
        workflow.approve(_ctx(url, home, "carol"), "credit-risk@1.0.0", comment="agreed")
        clock.shift(dt.timedelta(hours=1))
        workflow.deploy(_ctx(url, home, "carol"), "credit-risk@1.0.0", comment="go live")
        clock.shift(dt.timedelta(hours=3))
        workflow.submit(alice, "credit-risk@1.1.0", comment="gradient boosting challenger")
        for context in (admin, alice, bob):
            context.close()
    return made


@pytest.fixture(scope="session")
def console_template(
    tmp_path_factory: pytest.TempPathFactory, sample_artifacts: Path
) -> ConsoleCatalogue:
    """Built once per test process; tests get copies so they may write."""
    return build_console_catalogue(tmp_path_factory.mktemp("console") / "cat", sample_artifacts)


@pytest.fixture
def console(console_template: ConsoleCatalogue, tmp_path: Path) -> ConsoleCatalogue:
    """A private copy of the deterministic catalogue (database and keys)."""
    target = tmp_path / "console"
    shutil.copytree(console_template.directory, target)
    return ConsoleCatalogue(target, target / "home")


@pytest.fixture
def frozen_day() -> Iterator[None]:
    """Run the app on a fixed day (the clock ticks, so Textual's timers work)."""
    with time_machine.travel(RUN_AT, tick=True):
        yield


def console_app(made: ConsoleCatalogue, user: str, **kwargs: Any) -> GovernApp:
    return make_app(made.settings(user, **kwargs))


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every worker has finished and its messages have been handled."""
    app = pilot.app
    for _ in range(200):
        with contextlib.suppress(WorkerCancelled):  # an exclusive worker replaced by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
    raise AssertionError("workers did not settle")


def synchronous(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio (the suite has no async test plugin)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run
