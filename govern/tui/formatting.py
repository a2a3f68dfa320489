"""How figures, dates and states read on screen: one place, so every screen agrees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from govern.tui.widgets.table import Tone

STATE_TONES: dict[str, Tone] = {
    "draft": "muted",
    "submitted": "accent",
    "changes_requested": "warn",
    "approved": "good",
    "shadow": "accent",
    "deployed": "good",
    "rejected": "bad",
    "retired": "muted",
}
OUTCOME_TONES: dict[str, Tone] = {
    "pass": "good",
    "passed": "good",
    "fail": "bad",
    "failed": "bad",
    "error": "bad",
    "waived": "warn",
    "warn": "warn",
    "warning": "warn",
    "not-applicable": "muted",
}
TIER_TONES: dict[str, Tone] = {"low": "muted", "medium": "plain", "high": "warn", "critical": "bad"}
TONE_VARIABLES = {
    "good": "$text-success",
    "bad": "$text-error",
    "warn": "$text-warning",
    "accent": "$text-primary",
    "muted": "$text-muted",
    "plain": "$foreground",
}


def state_label(state: str) -> str:
    return state.replace("_", " ")


def state_tone(state: str) -> Tone:
    return STATE_TONES.get(state, "plain")


def outcome_tone(outcome: str | None) -> Tone:
    return OUTCOME_TONES.get((outcome or "").lower(), "muted")


def tier_tone(tier: str) -> Tone:
    return TIER_TONES.get(tier, "plain")


def markup(text: str, tone: Tone) -> str:
    """Content markup for ``text`` in a tone's theme colour (escape ``text`` first)."""
    return f"[{TONE_VARIABLES[tone]}]{escape(text)}[/]"


def escape(text: str) -> str:
    """Escape Content markup in user text (card fields, comments, names)."""
    return text.replace("[", r"\[")


def day(value: dt.date | dt.datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d")
    return value.isoformat()


def moment(value: dt.datetime | str | None) -> str:
    """A timestamp to the minute, in UTC (what the audit log stores)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def signed(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}f}"


def interval(lower: float | None, upper: float | None, digits: int = 2) -> str:
    if lower is None or upper is None:
        return ""
    return f"[{lower:.{digits}f}, {upper:.{digits}f}]"


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(
    value: float | None,
    *,
    width: int,
    lower: float | None = None,
    upper: float | None = None,
    scale: float = 1.0,
) -> str:
    """A horizontal bar for ``value`` on 0..scale, with its interval drawn around the tip.

    ``█`` up to the interval's lower end, ``▓`` from there to the estimate and ``░`` on to
    the upper end, so the point and its uncertainty read in one line.
    """
    if value is None or width <= 0 or scale <= 0:
        return " " * max(width, 0)

    def cells(x: float) -> float:
        return max(0.0, min(float(width), x / scale * width))

    tip = cells(value)
    if lower is None or upper is None:
        full = int(tip)
        remainder = int((tip - full) * 8)
        text = "█" * full + (_EIGHTHS[remainder] if remainder and full < width else "")
        return text.ljust(width)
    low, high = cells(lower), cells(upper)
    out = []
    for i in range(width):
        centre = i + 0.5
        if centre <= low:
            out.append("█")
        elif centre <= tip:
            out.append("▓")
        elif centre <= high:
            out.append("░")
        else:
            out.append(" ")
    return "".join(out)


def short_key(fingerprint: str | None) -> str:
    """A key's fingerprint as shown beside a decision: its first hex digits, as in
    ``govern keys list`` (``sha256:3f9a1c2d…`` reads ``3f9a1c2d…``)."""
    if not fingerprint:
        return "—"
    return fingerprint.removeprefix("sha256:")[:8] + "…"


def named_key(fingerprint: str | None) -> str | None:
    """A key named in a sentence: ``sha256:3f9a1c2d04b7e5f1…``, as ``govern keys list``
    prints it (enough to tell keys apart); None stays None."""
    return fingerprint[:23] + "…" if fingerprint else None


def signature_tone(verification: str | None) -> Tone:
    """``verified`` is good; a decision from before signing began is muted; else bad."""
    if verification == "verified":
        return "good"
    if not verification or verification.startswith("recorded before signing"):
        return "muted"
    return "bad"
