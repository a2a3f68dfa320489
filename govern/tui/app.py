"""The compliance officer's console: the Textual app and its one composition root.

``make_app(settings)`` is the only way the app is built: by ``govern tui``, by the tests and
by the snapshot fixtures. The app reaches the catalogue only through :class:`Backend`, which
calls ``govern.services``; roles and separation of duties are enforced there, and refusals
come back here to be shown, never to crash the console.

Every action the person takes is signed with their own key. When the key has a passphrase,
:meth:`GovernApp.signed` asks for it in a modal before the session's first such action, and
never again in that session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from govern.tui import formatting as fmt
from govern.tui.backend import Backend
from govern.tui.messages import ActionRefused, WorkFailed
from govern.tui.screens.audit import AuditScreen
from govern.tui.screens.base import Console, GovernScreen
from govern.tui.screens.catalogue import CatalogueScreen
from govern.tui.screens.compare import CompareScreen
from govern.tui.screens.governance import GovernanceScreen
from govern.tui.screens.queue import QueueScreen
from govern.tui.screens.version import VersionScreen
from govern.tui.widgets.dialogs import FormDialog, FormField, MessageModal, PassphraseModal

if TYPE_CHECKING:
    from govern.config import Settings

DARK, LIGHT = "textual-dark", "textual-light"
#: From this width the footer has room for the settings key beside the other modes.
SETTINGS_IN_FOOTER = 100


class DaemonExecutor(ThreadPoolExecutor):
    """Runs each thread worker in a daemon thread of its own, and never waits for them.

    Textual runs thread workers in the event loop's default executor, and asyncio joins that
    executor's threads when the loop closes: quitting would wait for whatever a worker was
    doing (a SHAP explanation, a PDF build, a slow query). Workers are cancelled on quit, not
    awaited; what a worker was writing is one database transaction, which either committed or
    is rolled back.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="govern-worker", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to wait for: the workers' threads end with the process."""


class GovernApp(App[None]):
    """Catalogue, review queue and audit log, with a screen per model version."""

    TITLE = "govern"
    CSS_PATH = "govern.tcss"
    MODES: ClassVar[dict[str, Any]] = {
        "catalogue": CatalogueScreen,
        "queue": QueueScreen,
        "audit": AuditScreen,
        "settings": GovernanceScreen,
    }
    DEFAULT_MODE = "catalogue"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (118, "-wide")]  # noqa: RUF012 - Textual's own type
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "go('catalogue')", "Catalogue", tooltip="All model versions"),
        Binding("2", "go('queue')", "Queue", tooltip="What awaits you"),
        Binding("3", "go('audit')", "Audit", tooltip="The audit log"),
        # Shown in the footer when it has the room (see check_action); always bound.
        Binding("4", "featured_settings", "Settings", tooltip="The governance settings in force"),
        Binding(
            "4",
            "go('settings')",
            "Settings",
            tooltip="The governance settings in force",
            show=False,
        ),
        Binding("f2", "toggle_theme", "Light/dark", show=False),
        Binding("f1", "show_help_panel", "Keys", show=False),
        Binding("question_mark", "show_help_panel", "Keys", show=False),
    ]

    def __init__(self, backend: Backend, *, theme: str = DARK) -> None:
        super().__init__()
        self.backend = backend
        self.theme = theme
        self.role: str | None = None
        self.started = time.perf_counter()
        #: Seconds from start to milestones (first paint, rows shown), for the benchmark.
        self.timings: dict[str, float] = {}

    def mark(self, milestone: str) -> None:
        self.timings.setdefault(milestone, time.perf_counter() - self.started)

    def on_load(self) -> None:
        # Before any worker starts: see DaemonExecutor.
        asyncio.get_running_loop().set_default_executor(DaemonExecutor())

    def on_mount(self) -> None:
        self.sub_title = f"{self.backend.actor} · {self.backend.database}"
        self.identify()

    @work(thread=True, exclusive=True, group="whoami")
    def identify(self) -> None:
        from govern.errors import GovernError

        try:
            user = self.backend.whoami()
        except GovernError as error:
            self.call_from_thread(self.show_error, error.title, error.message)
            return
        role = user.role if user is not None and user.active else "not a user"
        self.call_from_thread(self._set_role, role)

    def _set_role(self, role: str) -> None:
        self.role = role
        self.sub_title = f"{self.backend.actor} ({role}) · {self.backend.database}"

    def on_unmount(self) -> None:
        self.backend.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "featured_settings":
            # Hidden (and left to its twin) where the footer is too narrow for it.
            return self.size.width >= SETTINGS_IN_FOOTER
        return True

    def action_featured_settings(self) -> None:
        self.action_go("settings")

    def action_go(self, mode: str) -> None:
        """Show ``mode``'s own screen: key 1 the catalogue, 2 the queue, 3 the audit log and 4
        the settings, from every screen. A version or comparison opened on top of that
        screen is closed, so the key never lands on what was opened there last."""
        self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def on_resize(self) -> None:
        self.refresh_bindings()

    # --- signing: the personal key's passphrase, once per session -----------------------

    def signed(self, then: Callable[[], object], *, doing: str) -> None:
        """Run ``then``, which starts an action the person signs, once their key can sign.

        When the key is passphrase-protected and not yet unlocked this session, a modal asks
        for the passphrase first (unlocking runs in a worker); cancelling it drops the action.
        Whether the person may take the action at all is the service's to say, afterwards.
        """
        if not self.backend.key_locked:
            then()
            return

        def unlocked(ok: bool | None) -> None:
            if ok:
                self.notify(
                    "Your key is unlocked until you quit; actions are signed without asking.",
                    title="Key unlocked",
                    timeout=4,
                )
                then()
            else:
                self.notify(
                    f"Not done: {doing} needs your key's passphrase. Nothing was signed.",
                    title="Cancelled",
                    severity="warning",
                )

        self.push_screen(
            PassphraseModal(
                self.backend.unlock,
                actor=self.backend.actor,
                key=fmt.named_key(self.backend.key_fingerprint()),
                doing=doing,
            ),
            unlocked,
        )

    # --- navigation ---------------------------------------------------------------------

    def open_version(self, ref: str, *, tab: str | None = None) -> None:
        self.push_screen(VersionScreen(ref, tab=tab))

    def open_compare(self, champion: str, challenger: str) -> None:
        self.push_screen(CompareScreen(champion, challenger))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    # --- errors and refusals ------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        self.push_screen(MessageModal(title, message))

    def on_action_refused(self, message: ActionRefused) -> None:
        self.bell()
        self.push_screen(MessageModal(message.title, message.message))

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.modal:
            self.push_screen(MessageModal(message.title, message.message))
        else:
            self.notify(message.message, title=message.title, severity="error")

    # --- command palette: every key binding of the screen, plus navigation --------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot":  # Textual's delivers to a browser or Downloads
                yield SystemCommand(
                    "Screenshot",
                    "Save an SVG picture of this screen in the current directory",
                    self.save_screenshot_here,
                )
            else:
                yield command
        yield SystemCommand(
            "Catalogue", "All models and versions (key 1)", partial(self._mode, "catalogue")
        )
        yield SystemCommand("Review queue", "What awaits you (key 2)", partial(self._mode, "queue"))
        yield SystemCommand(
            "Audit log", "Every change, hash-chained (key 3)", partial(self._mode, "audit")
        )
        yield SystemCommand(
            "Governance settings",
            "The rules in force and their revisions (key 4)",
            partial(self._mode, "settings"),
        )
        yield SystemCommand("Open a version…", "Type NAME@VERSION", self.action_open_ref)
        yield SystemCommand(
            "Compare two versions…",
            "Champion and challenger side by side",
            self.action_pick_compare,
        )
        yield SystemCommand(
            "Light or dark theme", "Switch the colour theme (F2)", self.action_toggle_theme
        )
        # Every key binding of the screen (and of the focused widget), once each.
        skip = {
            "go",
            "featured_settings",
            "toggle_theme",
            "show_help_panel",
            "quit",
            "command_palette",
        }
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            name = binding.action.split("(", 1)[0].removeprefix("app.")
            if not binding.description or name in skip or binding.system:
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            shown = binding.key_display or self.get_key_display(binding)
            help_text = f"{binding.tooltip} (key {shown})" if binding.tooltip else f"Key {shown}"
            yield SystemCommand(
                binding.description,
                help_text,
                partial(self._run, active.node, binding.action),
            )
        if isinstance(screen, GovernScreen):
            yield from screen.palette_commands()

    def save_screenshot_here(self) -> Path | None:
        """Write an SVG picture of the current screen to the working directory (where the
        signed PDFs go too) under a name no earlier picture has, and say where."""
        screen = self.screen
        label = screen.ref if isinstance(screen, VersionScreen) else self.current_mode
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        stem = f"govern-{label.replace('@', '-')}-{stamp}"
        try:
            path, number = Path.cwd() / f"{stem}.svg", 1
            while path.exists():
                number += 1
                path = Path.cwd() / f"{stem}-{number}.svg"
            with path.open("x", encoding="utf-8") as file:
                file.write(self.export_screenshot(title=f"govern: {label}"))
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            self.notify(
                f"Could not save the screenshot: {error.strerror or error}{where}",
                title="Screenshot",
                severity="error",
            )
            return None
        self.notify(f"Saved to {path}", title="Screenshot")
        return path

    def action_open_ref(self) -> None:
        """Ask for NAME@VERSION and open it (a bare NAME opens its latest version)."""

        def chosen(values: dict[str, str] | None) -> None:
            if values and values["ref"].strip():
                self.open_version(values["ref"].strip())

        self.push_screen(
            FormDialog(
                "Open a model version",
                [
                    FormField(
                        "ref", "Version", "NAME@VERSION, or NAME for its latest", required=True
                    )
                ],
                submit="Open",
            ),
            chosen,
        )

    def action_pick_compare(self) -> None:
        def chosen(values: dict[str, str] | None) -> None:
            if values is not None:
                self.open_compare(values["champion"].strip(), values["challenger"].strip())

        self.push_screen(
            FormDialog(
                "Compare two versions",
                [
                    FormField(
                        "champion", "Champion", "NAME@VERSION (empty: the model's deployed one)"
                    ),
                    FormField("challenger", "Challenger", "NAME@VERSION", required=True),
                ],
                submit="Compare",
            ),
            chosen,
        )

    def _mode(self, mode: str) -> None:
        self.action_go(mode)

    def _run(self, node: Any, action: str) -> None:
        self.call_later(self.run_action, action, node)


def make_app(settings: Settings, *, theme: str = DARK) -> GovernApp:
    """Build the console for ``settings`` (catalogue URL, acting user, home).

    The single composition root: the CLI, the tests and the snapshot fixtures all call it.
    """
    return GovernApp(Backend(settings), theme=theme)


def run_and_exit(app: GovernApp) -> NoReturn:
    """Run ``app`` in the terminal, then end the process at once with its return code.

    By the time ``run`` returns the terminal is restored and the catalogue closed (the
    backend closes when the app unmounts), and a worker still running was cancelled: what
    it was writing is one transaction, committed or rolled back. What is left is the
    interpreter tearing down every module the evidence screens imported (numpy, pandas,
    scikit-learn, SHAP, matplotlib, WeasyPrint), which makes quitting feel slow and does
    nothing for the person who asked to quit (``benchmarks/bench_tui.py --quit``).
    """
    try:
        app.run()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(app.return_code or 0)


if TYPE_CHECKING:  # mypy checks that the app gives screens everything Console promises them

    def _is_a_console(app: GovernApp) -> Console:
        return app


__all__ = ["GovernApp", "make_app", "run_and_exit"]
