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


def touch_then(marker: str, value: object) -> object:
    """Create ``marker``, then hand back ``value``: code that runs as a pickle is loaded."""
    Path(marker).touch()
    return value


class TouchingModel:
    """Pickles to a working model that also creates a marker file when it is unpickled."""

    def __init__(self, marker: Path, model: object) -> None:
        self.marker = marker
        self.model = model

    def __reduce__(self):
        return (touch_then, (str(self.marker), self.model))
