"""Accountable decisions in the console: the passphrase asked once per session, the key and
verdict of each decision, and the governance settings in force with their history."""

from __future__ import annotations

import io
import sqlite3
from typing import Any

from rich.console import Console
from textual.widgets import Input

from govern import personal_keys
from govern.services import audit, catalogue, governance
from govern.tui.app import GovernApp, make_app
from govern.tui.screens.catalogue import CatalogueScreen
from govern.tui.screens.governance import GovernanceScreen, SettingsValues
from govern.tui.widgets.dialogs import MessageModal, PassphraseModal
from govern.tui.widgets.evidence import HistoryTable
from govern.tui.widgets.table import VirtualTable
from tests.conftest import Catalogue, key_dir
from tests.tui.conftest import ConsoleCatalogue, add_person, console_app, settle, synchronous
from tests.tui.test_console import events, open_version, type_text

SIZE = (120, 40)
PASSPHRASE = "correct horse battery staple"


def asking(app: GovernApp) -> PassphraseModal:
    screen = app.screen
    assert isinstance(screen, PassphraseModal), f"expected the passphrase, got {screen!r}"
    return screen


def shown(widget: Any) -> str:
    return str(widget.render())


def decisions_by(made: ConsoleCatalogue, actor: str) -> list[Any]:
    detail = catalogue.show_version(made.ctx("admin"), "credit-risk@1.1.0")
    return [d for d in detail.decisions if d.actor == actor]


# --- the passphrase, once per session ---------------------------------------------------------


@synchronous
async def test_the_first_signed_action_asks_the_passphrase_once(console: ConsoleCatalogue) -> None:
    add_person(console, "paula", "approver", passphrase=PASSPHRASE.encode())
    logged = audit.count_events(console.ctx("admin"))
    app = console_app(console, "paula")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.backend.key_locked
        screen = await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("A")
        await type_text(pilot, "validated independently")
        await pilot.press("enter")
        await settle(pilot)
        modal = asking(app)
        box = modal.query_one("#passphrase", Input)
        assert box.password and box.has_focus  # typed blind, straight away
        note = shown(modal.query_one(".form-note"))
        assert "approve credit-risk@1.1.0" in note and "paula" in note
        fingerprint = personal_keys.fingerprint_of(personal_keys.read_public(key_dir("paula")))
        assert fingerprint[:23] in note

        await type_text(pilot, "not my passphrase")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is modal, "a wrong passphrase asks again"
        assert "Wrong passphrase" in shown(modal.query_one("#unlock-error"))
        assert box.value == "" and box.has_focus and not box.disabled
        assert app.backend.key_locked
        # Nothing changed and nothing was recorded: the action has not run.
        assert audit.count_events(console.ctx("admin")) == logged
        assert decisions_by(console, "paula") == []

        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert not app.backend.key_locked
        history = screen.query_one("#history", HistoryTable)
        assert (history.entries[-1].action, history.entries[-1].actor) == ("approve", "paula")
        assert history.signatures[history.entries[-1].seq].key == fingerprint

        # The rest of the session signs without asking: run the checks, then reject.
        runs = len(screen.detail.policy_runs)
        await pilot.press("k")
        await settle(pilot)
        assert app.screen is screen
        assert len(screen.detail.policy_runs) == runs + 1
        await pilot.press("C")
        await type_text(pilot, "explain the age_group gap")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.detail.state == "changes_requested"

    approve, changes = decisions_by(console, "paula")
    assert (approve.action, approve.comment) == ("approve", "validated independently")
    assert changes.action == "request_changes"
    assert events(console, action="policy.check")[0].actor == "paula"
    assert not events(console, action="version.approve.refused")


@synchronous
async def test_cancelling_the_passphrase_drops_the_action(console: ConsoleCatalogue) -> None:
    add_person(console, "paula", "approver", passphrase=PASSPHRASE.encode())
    logged = audit.count_events(console.ctx("admin"))
    app = console_app(console, "paula")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("A")
        await type_text(pilot, "looks fine")
        await pilot.press("enter")
        await settle(pilot)
        asking(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert any("Nothing was signed" in n.message for n in app._notifications)
        assert audit.count_events(console.ctx("admin")) == logged
        assert app.backend.key_locked

        # An empty passphrase is not tried; the next action asks again.
        await pilot.press("k")
        modal = asking(app)
        await pilot.press("enter")
        assert "Type the passphrase" in shown(modal.query_one("#unlock-error"))
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
    assert decisions_by(console, "paula") == []
    assert events(console, action="policy.check")[0].actor == "paula"


@synchronous
async def test_a_key_without_passphrase_is_never_asked_for(console: ConsoleCatalogue) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.backend.key_locked
        screen = await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("A")
        await type_text(pilot, "ok")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
    assert decisions_by(console, "carol")[-1].action == "approve"


# --- who signed each decision, with which key -------------------------------------------------


def fingerprint(user: str) -> str:
    return personal_keys.fingerprint_of(personal_keys.read_public(key_dir(user)))


@synchronous
async def test_each_decision_shows_its_signer_key_and_verdict(console: ConsoleCatalogue) -> None:
    app = console_app(console, "victor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.0.0", tab="workflow")
        history = screen.query_one("#history", HistoryTable)
        decided = [e for e in history.entries if e.action != "register"]
        assert [e.action for e in decided] == ["submit", "approve", "approve", "deploy"]
        for entry in decided:
            signed = history.signatures[entry.seq]
            assert signed.key == fingerprint(entry.actor), entry
            assert signed.verification == "verified"
        text = plain(history.draw())
        for actor in ("alice", "erin", "carol"):
            short = fingerprint(actor).removeprefix("sha256:")[:8]
            assert f"✔ {short}…" in text
        assert "✘" not in text


@synchronous
async def test_a_decision_changed_behind_the_log_shows_as_not_verified(
    console: ConsoleCatalogue,
) -> None:
    with sqlite3.connect(console.directory / "govern.db") as db:
        db.execute("UPDATE decision SET comment = 'rewritten' WHERE comment = 'agreed'")
    app = console_app(console, "victor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_version(pilot, "credit-risk@1.0.0", tab="workflow")
        history = screen.query_one("#history", HistoryTable)
        verdicts = {d.verification for d in history.signatures.values()}
        assert verdicts and all(v.startswith("not verified") for v in verdicts)
        text = plain(history.draw())
        assert "✘" in text and "not verified" in text and "✔" not in text


# --- the governance settings ------------------------------------------------------------------


def plain(renderable: Any) -> str:
    """What a rich renderable reads as, without colour."""
    console = Console(width=120, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


@synchronous
async def test_settings_show_the_revision_in_force_and_what_changed(cat: Catalogue) -> None:
    cat.configure(approvals_by_tier={"high": 3})
    current = governance.show_settings(cat.ctx("admin"))
    app = make_app(cat.ctx("dave").settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "4" in {k for k, b in app.screen.active_bindings.items() if b.binding.show}
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GovernanceScreen)
        summary = shown(screen.query_one("#settings-summary"))
        assert "Revision 2 in force" in summary and "by admin" in summary
        assert current.sha256 in summary and "changed approvals_by_tier" in summary

        values = screen.query_one("#settings-table", SettingsValues)
        assert values.changed == {"approvals_by_tier"}
        text = plain(values.draw())
        assert "low 1 · medium 1 · high 3 · critical 2" in text
        assert "● approvals_by_tier" in text and "● max_waiver_days" not in text

        table = screen.query_one("#revisions", VirtualTable)
        assert [r.revision for r in table.rows] == [2, 1]
        assert table.rows[0].changed == ["approvals_by_tier"]
        await pilot.press("enter")  # what revision 2 changed
        modal = app.screen
        assert isinstance(modal, MessageModal)
        assert "approvals_by_tier.high: 2 → 3" in modal.message
        assert current.sha256 in modal.message
        await pilot.press("escape")
        await pilot.press("down", "enter")  # the first revision: everything as created
        modal = app.screen
        assert isinstance(modal, MessageModal)
        assert "The first revision" in modal.message and "approvals_by_tier" in modal.message
        await pilot.press("escape")

        # A revision applied meanwhile shows when the screen is refreshed.
        cat.configure(max_waiver_days=90)
        await pilot.press("f5")
        await settle(pilot)
        assert "Revision 3 in force" in shown(screen.query_one("#settings-summary"))
        assert screen.query_one("#settings-table", SettingsValues).changed == {"max_waiver_days"}

        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, CatalogueScreen)
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Governance settings"
        )
        command.callback()
        await settle(pilot)
        assert app.screen is screen


@synchronous
async def test_settings_key_works_everywhere_and_shows_where_the_footer_has_room(
    console: ConsoleCatalogue,
) -> None:
    app = console_app(console, "carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = {k for k, b in app.screen.active_bindings.items() if b.binding.show}
        assert "4" not in footer  # no room at 80 columns...
        await open_version(pilot, "credit-risk@1.1.0")
        await pilot.press("4")  # ...yet the key works, from a version's screen too
        await settle(pilot)
        assert isinstance(app.screen, GovernanceScreen)
        assert "Revision 1 in force" in shown(app.screen.query_one("#settings-summary"))
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, GovernanceScreen)
