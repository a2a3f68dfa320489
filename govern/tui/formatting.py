"""What only the console needs to show things: tones, Content markup, bars, key names.

Figures, dates and group names are written by :mod:`govern.formatting`, the one module the
CLI, the exports and the signed card use too; they are re-exported here so a screen imports
one ``fmt``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from govern.formatting import (
    AND,
    MISSING,
    compact,
    count,
    day,
    group,
    grouping,
    interval,
    moment,
    number,
    p_value,
    seconds,
    short_hash,
    signed,
    size,
)
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


def stamp(value: dt.datetime | str | None) -> str:
    """A moment to the minute, for a column whose heading already says it is UTC."""
    return moment(value).removesuffix(" UTC")


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


def bar_scale(values: Iterable[float | None]) -> float:
    """Where the bars of ``values`` end: the largest, rounded up to a round figure (0.05 steps
    up to 0.5, then 0.1), so rates of 0.06 and 0.16 fill a third and most of the width rather
    than a sliver of a 0..1 scale. 1 when there is nothing to draw."""
    top = max((v for v in values if v is not None and math.isfinite(v)), default=0.0)
    if top <= 0:
        return 1.0
    step = 0.05 if top <= 0.5 else 0.1
    return round(math.ceil(round(top / step, 9)) * step, 2) if top <= 1 else top


def scale_label(scale: float, width: int) -> str:
    """A bar column's heading that states its scale: ``0`` at the left, the end at the right."""
    end = compact(scale)
    return "0" + end.rjust(max(width - 1, len(end) + 1))


def short_key(fingerprint: str | None) -> str:
    """A key's fingerprint as shown beside a decision: its first hex digits, as in
    ``govern keys list`` (``sha256:3f9a1c2d…`` reads ``3f9a1c2d…``)."""
    if not fingerprint:
        return MISSING
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


__all__ = [
    "AND",
    "MISSING",
    "bar",
    "bar_scale",
    "compact",
    "count",
    "day",
    "escape",
    "group",
    "grouping",
    "interval",
    "markup",
    "moment",
    "named_key",
    "number",
    "outcome_tone",
    "p_value",
    "scale_label",
    "seconds",
    "short_hash",
    "short_key",
    "signature_tone",
    "signed",
    "size",
    "stamp",
    "state_label",
    "state_tone",
    "tier_tone",
]
