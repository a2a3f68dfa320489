"""Getting around the console: the screen-number keys, the row-id box, the palette's
screenshot. Each test drives the real app with Pilot on the deterministic catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from govern.tui.app import GovernApp
from govern.tui.screens.audit import AuditScreen
from govern.tui.screens.catalogue import CatalogueScreen
from govern.tui.screens.compare import CompareScreen
from govern.tui.screens.governance import GovernanceScreen
from govern.tui.screens.queue import QueueScreen
from govern.tui.screens.version import VersionScreen
from govern.tui.widgets.dialogs import MessageModal
from tests.tui.conftest import ConsoleCatalogue, console_app, settle, synchronous

SIZE = (120, 40)
HOME_SCREENS = {"1": CatalogueScreen, "2": QueueScreen, "3": AuditScreen, "4": GovernanceScreen}


@synchronous
async def test_screen_number_keys_go_where_they_say_from_every_screen(
    console: ConsoleCatalogue,
) -> None:
    """1 from the audit log shows the catalogue, not the comparison opened over it; each
    number key lands on its own screen from a version, a comparison and every home screen."""
    app = console_app(console, "dave")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_compare("", "credit-risk@1.1.0")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, CatalogueScreen)

        for start in ("version", "compare", *HOME_SCREENS):
            for key, expected in HOME_SCREENS.items():
                await _start_on(app, pilot, start)
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, expected), f"{key} from {start}: {app.screen}"


async def _start_on(app: GovernApp, pilot: object, start: str) -> None:
    if start in HOME_SCREENS:
        app.action_go(app.current_mode)  # where the previous key left us, then...
        await pilot.press(start)  # type: ignore[attr-defined]
    elif start == "version":
        app.open_version("credit-risk@1.1.0")
    else:
        app.open_compare("", "credit-risk@1.1.0")
    await settle(pilot)  # type: ignore[arg-type]


@synchronous
async def test_after_an_explanation_error_keys_leave_the_row_id_box(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_version("credit-risk@1.1.0", tab="explanations")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VersionScreen)
        await pilot.press("e", *"no-such-row", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageModal) and "no-such-row" in app.screen.message
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and not isinstance(app.focused, Input)
        await pilot.press("right_square_bracket")
        assert screen.query_one("#row-id", Input).value == "no-such-row"  # no "]" typed in
        assert screen.query_one("#tabs").active == "policies"  # type: ignore[attr-defined]
        await pilot.press("e")  # and e goes back to the box
        assert app.focused is screen.query_one("#row-id", Input)


@synchronous
async def test_screenshot_from_the_palette_writes_an_svg_and_says_where(
    console: ConsoleCatalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_version("credit-risk@1.1.0", tab="evaluation")
        await settle(pilot)
        await pilot.press("ctrl+p", *"screenshot")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        [picture] = list(tmp_path.glob("govern-credit-risk-1.1.0-*.svg"))
        text = picture.read_text(encoding="utf-8")
        assert text.startswith("<svg") and "Evaluation" in text
        notes = [n.message for n in app._notifications]
        assert f"Saved to {picture}" in notes
        # A second picture never replaces the first.
        second = app.save_screenshot_here()
        assert second is not None and second != picture and second.exists()
        # Where nothing can be written, the console says why instead of failing.
        gone = tmp_path / "gone"
        gone.mkdir()
        monkeypatch.chdir(gone)
        gone.rmdir()
        assert app.save_screenshot_here() is None
        await pilot.pause()
        assert app.is_running
        [failed] = [n for n in app._notifications if n.severity == "error"]
        assert failed.message.startswith("Could not save the screenshot: No such file")
