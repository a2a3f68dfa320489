"""What every screen looks like, at 80x24 and 120x40, on the deterministic catalogue.

The catalogue is built with the clock frozen and the app runs on a fixed day, so the
pictures only change when the console's appearance does. Review changed snapshots with
``pytest tests/tui/test_snapshots.py --snapshot-report`` and accept them with
``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from govern.domain.governance import GovernanceSettings
from govern.services import governance
from govern.tui.app import GovernApp
from govern.tui.screens.version import VersionScreen
from govern.tui.widgets.dialogs import PassphraseModal
from tests.tui.conftest import (
    ConsoleCatalogue,
    console_app,
    count_log,
    drifting_log,
    protect_key,
    settle,
)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def here(console: ConsoleCatalogue, monkeypatch: pytest.MonkeyPatch, frozen_day: None) -> None:
    """Run from the catalogue's directory, so the header shows ``sqlite:///govern.db``."""
    monkeypatch.chdir(console.directory)


def app_for(console: ConsoleCatalogue, user: str) -> GovernApp:
    return console_app(console, user, relative=True)


async def still(pilot: Pilot[Any]) -> None:
    """Settle, and stop any text cursor blinking so the picture is stable."""
    await settle(pilot)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


def steps(*keys: str, version: str | None = None, tab: str | None = None) -> Steps:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, GovernApp)
        if version is not None:
            app.open_version(version, tab=tab)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await still(pilot)

    return run


SCREENS: dict[str, tuple[str, Steps]] = {
    "catalogue": ("carol", steps()),
    "catalogue-state-filter": ("carol", steps("s", "s")),
    "card": ("carol", steps(version="credit-risk@1.0.0")),
    "evaluation": ("carol", steps("f", "f", version="credit-risk@1.1.0", tab="evaluation")),
    "explanations": ("carol", steps(version="credit-risk@1.1.0", tab="explanations")),
    "policies": ("carol", steps(version="credit-risk@1.1.0", tab="policies")),
    "workflow": ("carol", steps(version="credit-risk@1.1.0", tab="workflow")),
    "reports": ("carol", steps(version="credit-risk@1.1.0", tab="reports")),
    "drift": ("carol", steps(version="credit-risk@1.0.0", tab="drift")),
    "queue": ("carol", steps("2")),
    "audit": ("dave", steps("3")),
    "compare": ("carol", steps("m")),
    "comment-dialog": ("carol", steps("A", version="credit-risk@1.1.0")),
    "waiver-dialog": ("dave", steps("W", version="credit-risk@1.1.0", tab="policies")),
    "refusal": ("alice", steps("A", "enter", version="credit-risk@1.1.0")),
    "light-theme": ("carol", steps("f2", version="credit-risk@1.1.0", tab="evaluation")),
    "settings": ("dave", steps("4")),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(
    name: str, size: tuple[int, int], console: ConsoleCatalogue, here: None, snap_compare: Any
) -> None:
    user, run_before = SCREENS[name]
    assert snap_compare(app_for(console, user), terminal_size=size, run_before=run_before)


def test_explained_decision(console: ConsoleCatalogue, here: None, snap_compare: Any) -> None:
    """One stored decision explained, at the larger size where the chart has room."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, GovernApp)
        app.open_version("credit-risk@1.1.0", tab="explanations")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VersionScreen)
        row_id = screen.view.local_explanations[0].row_id
        await pilot.press("e", *row_id, "enter")  # Enter explains and leaves the box
        await still(pilot)

    assert snap_compare(app_for(console, "carol"), terminal_size=(120, 40), run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_settings_after_a_revision(
    size: tuple[int, int], console: ConsoleCatalogue, here: None, snap_compare: Any
) -> None:
    """The settings in force after an admin's second revision, and what it changed."""
    admin = console.ctx("admin")
    rules = admin.governance.document()
    rules["approvals_by_tier"] = {**rules["approvals_by_tier"], "critical": 3}
    rules["max_waiver_days"] = 180
    governance.apply(admin, GovernanceSettings.model_validate(rules), source="org.yaml")
    admin.close()
    assert snap_compare(app_for(console, "dave"), terminal_size=size, run_before=steps("4"))


@pytest.mark.parametrize("size", SIZES)
def test_monitoring(
    size: tuple[int, int],
    console: ConsoleCatalogue,
    here: None,
    snap_compare: Any,
    tmp_path: Path,
) -> None:
    """A deployed version's weekly monitoring: the drop in women's selection rate in the last
    two weeks, and those weeks flagged."""
    count_log(console, "credit-risk@1.0.0", drifting_log(), tmp_path)
    run = steps(version="credit-risk@1.0.0", tab="monitoring")
    assert snap_compare(app_for(console, "carol"), terminal_size=size, run_before=run)


PASSPHRASE = b"correct horse battery"


def passphrase_steps(*typed: str) -> Steps:
    """Approve 1.1.0 without a comment, then type each of ``typed`` into the passphrase box."""

    async def run(pilot: Pilot[Any]) -> None:
        await steps("A", "enter", version="credit-risk@1.1.0")(pilot)
        assert isinstance(pilot.app.screen, PassphraseModal)
        for text in typed:
            await pilot.press(*text, "enter")
            await settle(pilot)
        await still(pilot)

    return run


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "typed", [pytest.param((), id="asked"), pytest.param(("wrong",), id="wrong")]
)
def test_passphrase_modal(
    typed: tuple[str, ...],
    size: tuple[int, int],
    console: ConsoleCatalogue,
    here: None,
    snap_compare: Any,
) -> None:
    """carol's key has a passphrase: her first signed action asks for it (and says when the
    passphrase was wrong)."""
    protect_key(console, "carol", PASSPHRASE)
    assert snap_compare(
        app_for(console, "carol"), terminal_size=size, run_before=passphrase_steps(*typed)
    )
