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
import hashlib
import os
import shutil
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from govern import personal_keys
from govern.config import Settings, load_settings
from govern.services import Context, catalogue, checks, evaluation, keys, users, workflow
from govern.tui.app import GovernApp, make_app
from tests.conftest import CAST, SAMPLE

#: The moment the deterministic catalogue is built, and the day the app is run on.
FROZEN = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
RUN_AT = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
#: The order of the P-256 group: a private key is a number below it.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass
class ConsoleCatalogue:
    """A catalogue directory with its URL, home, and each person's key directory.

    ``people/NAME/identity`` holds NAME's personal key. In a test's copy ``people`` is the
    test's own (``GOVERN_TEST_PEOPLE``), so ``tests.conftest.key_dir(NAME)`` names the same
    enrolled key.
    """

    directory: Path
    home: Path
    people: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory / 'govern.db'}"

    def key_dir(self, user: str) -> Path:
        """``user``'s key directory (a new key without passphrase for someone not enrolled)."""
        path = self.people / user / "identity"
        if not personal_keys.exists(path):
            personal_keys.create(path, passphrase=None)
        return path

    def settings(self, user: str, *, relative: bool = False) -> Settings:
        """Settings for ``user``, acting with their own key; ``relative`` names the file as
        ./govern.db (for snapshots, whose header shows the catalogue URL)."""
        url = "sqlite:///govern.db" if relative else self.url
        return load_settings(
            database_url=url, user=user, home=self.home, key_dir=self.key_dir(user)
        )

    def ctx(self, user: str) -> Context:
        return Context(self.settings(user))


def fixed_key(key_dir: Path, seed: str, *, passphrase: bytes | None = None) -> Path:
    """Write an ECDSA P-256 key derived from ``seed`` into ``key_dir`` (replacing any there).

    The screens show key fingerprints, so the snapshot catalogue's people have the same keys
    on every run; ``passphrase`` protects the private key as ``govern keys init`` does.
    """
    number = int.from_bytes(hashlib.sha256(f"govern tui test {seed}".encode()).digest(), "big")
    private = ec.derive_private_key(number % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret, public, _cert = personal_keys.key_files(key_dir)
    secret.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    secret.chmod(0o600)
    public.write_text(personal_keys.public_pem(private.public_key()), encoding="ascii")
    return public


def protect_key(made: ConsoleCatalogue, user: str, passphrase: bytes) -> None:
    """Put a passphrase on ``user``'s enrolled key (the same key: its enrolment holds)."""
    fixed_key(made.key_dir(user), user, passphrase=passphrase)


def add_person(
    made: ConsoleCatalogue, user: str, role: str, *, passphrase: bytes | None = None
) -> Path:
    """A new user with a key of their own (``govern keys init``), added and enrolled by the
    admin; returns their key directory."""
    key_dir = made.people / user / "identity"
    personal_keys.create(key_dir, passphrase=passphrase)
    admin = made.ctx("admin")
    try:
        users.add_user(admin, user, role=role, key=key_dir / personal_keys.PUBLIC_FILE)
    finally:
        admin.close()
    return key_dir


def build_console_catalogue(directory: Path, artifacts: Path) -> ConsoleCatalogue:
    """The sample credit-risk models through evaluation, checks and the workflow."""
    directory.mkdir(parents=True, exist_ok=True)
    made = ConsoleCatalogue(directory, directory / "home", directory.parent / "people")
    for name in ("admin", *CAST):
        fixed_key(made.people / name / "identity", name)
    with time_machine.travel(FROZEN, tick=False) as clock:
        admin = made.ctx("admin")
        catalogue.init_catalogue(admin)
        for name, role in CAST.items():
            public = made.key_dir(name) / personal_keys.PUBLIC_FILE
            users.add_user(admin, name, role=role, key=public)
        keys.org_init(admin, common_name="govern test console", organization="Test")
        alice = made.ctx("alice")
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
        bob = made.ctx("bob")
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
        erin, carol = made.ctx("erin"), made.ctx("carol")
        workflow.approve(erin, "credit-risk@1.0.0", comment="validated")
        workflow.approve(carol, "credit-risk@1.0.0", comment="agreed")
        clock.shift(dt.timedelta(hours=1))
        workflow.deploy(carol, "credit-risk@1.0.0", comment="go live")
        clock.shift(dt.timedelta(hours=3))
        workflow.submit(alice, "credit-risk@1.1.0", comment="gradient boosting challenger")
        for context in (admin, alice, bob, erin, carol):
            context.close()
    return made


@pytest.fixture(scope="session")
def console_template(
    tmp_path_factory: pytest.TempPathFactory, sample_artifacts: Path
) -> ConsoleCatalogue:
    """Built once per test process; tests get copies so they may write."""
    return build_console_catalogue(tmp_path_factory.mktemp("console") / "cat", sample_artifacts)


@pytest.fixture
def console(
    console_template: ConsoleCatalogue, tmp_path: Path, isolated_environment: Path
) -> ConsoleCatalogue:
    """A private copy of the deterministic catalogue (database, org key and people's keys)."""
    target = tmp_path / "console"
    shutil.copytree(console_template.directory, target)
    people = Path(os.environ["GOVERN_TEST_PEOPLE"])
    shutil.copytree(console_template.people, people, dirs_exist_ok=True)
    return ConsoleCatalogue(target, target / "home", people)


@pytest.fixture
def frozen_day() -> Iterator[None]:
    """Run the app on a fixed day (the clock ticks, so Textual's timers work)."""
    with time_machine.travel(RUN_AT, tick=True):
        yield


#: The prediction log of :func:`drifting_log`: four whole ISO weeks from Monday 2026-03-02,
#: in the last two of which (from :data:`LOG_DROP`) women are selected far less often.
LOG_MONDAY = dt.date(2026, 3, 2)
LOG_DROP = dt.date(2026, 3, 16)


def drifting_log() -> pd.DataFrame:
    """8,000 logged decisions over :data:`LOG_MONDAY`'s four weeks (sex, age_group, score,
    prediction, outcome), with women's selection rate dropping from :data:`LOG_DROP`."""
    from tests.monitor.test_aggregate import rows

    frame = rows(8_000, seed=3, days=28)
    frame["timestamp"] += pd.Timedelta(days=1)  # rows() starts on a Sunday
    later = (frame["timestamp"].dt.date >= LOG_DROP) & (frame["sex"] == "female")
    frame.loc[later, "prediction"] = (frame.loc[later, "score"] > 0.85).astype(int)
    return frame


def count_log(made: ConsoleCatalogue, ref: str, frame: pd.DataFrame, directory: Path) -> None:
    """Count ``frame``, written as a Parquet log, into ``ref``'s monitoring (as alice)."""
    from govern.services import monitoring
    from tests.monitor.test_aggregate import COLUMNS, write

    path = write(frame, directory / "predictions.parquet")
    ctx = made.ctx("alice")
    try:
        monitoring.run(ctx, ref, logs=[str(path)], columns=COLUMNS)
    finally:
        ctx.close()


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
