"""Hostile artifacts for the model-loading tests: they leave a marker file if their code runs."""

from __future__ import annotations

from pathlib import Path


class TouchOnUnpickle:
    """Unpickling this calls ``Path.touch(marker)``: proof that the pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


class TouchOnSetState:
    """Restoring this (skops calls ``__setstate__``) creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __getstate__(self):
        return {"marker": self.marker}

    def __setstate__(self, state):
        Path(state["marker"]).touch()
        self.marker = state["marker"]
