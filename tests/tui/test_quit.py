"""Quitting never waits for work under way: thread workers are cancelled, not awaited.

``benchmarks/bench_tui.py --quit`` times ctrl+q from every screen against a bare Textual app.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from govern.tui.app import GovernApp
from tests.tui.conftest import ConsoleCatalogue, console_app, settle

#: How long the stuck worker would hold the process if quitting waited for it.
STUCK = 30.0


def test_quitting_does_not_wait_for_a_running_thread_worker(console: ConsoleCatalogue) -> None:
    release = threading.Event()
    seen: dict[str, Any] = {}

    def stuck() -> None:  # stands in for a SHAP explanation or a PDF build
        seen["daemon"] = threading.current_thread().daemon
        release.wait(STUCK)

    async def run(app: GovernApp) -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.open_version("credit-risk@1.1.0")
            await settle(pilot)
            worker = app.screen.run_worker(stuck, thread=True)
            while "daemon" not in seen:
                await pilot.pause(0.01)
            await pilot.press("ctrl+q")
        seen["state"] = worker.state.name

    app = console_app(console, "carol")
    started = time.perf_counter()
    try:
        # asyncio.run closes the loop as the process would, joining its executor's threads.
        asyncio.run(run(app))
        elapsed = time.perf_counter() - started
    finally:
        release.set()
    assert seen["daemon"] is True
    assert seen["state"] == "CANCELLED"
    assert elapsed < STUCK / 2, f"quitting waited {elapsed:.1f} s for the worker"
