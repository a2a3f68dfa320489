"""Output formats for a :class:`~govern.policy.outcomes.CheckReport`.

``text`` (people in a terminal or a CI log; colour only when asked), ``json`` (machines),
``junit`` (test reports in CI: one testcase per rule and subject, failures carry evidence),
``sarif`` (SARIF 2.1.0 for code-scanning dashboards: rules with help text and the source
clause), ``github`` (workflow-command annotations) and ``markdown`` (a pull-request comment).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from govern import __version__
from govern.policy.outcomes import (
    ERROR,
    FAIL,
    MANUAL,
    NOT_APPLICABLE,
    PASS,
    WAIVED,
    CheckReport,
    RuleOutcome,
)

FORMATS = ("text", "json", "junit", "sarif", "github", "markdown")
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/govern-dev/govern"

_LABEL = {
    PASS: "PASS",
    FAIL: "FAIL",
    WAIVED: "WAIVED",
    NOT_APPLICABLE: "N/A",
    ERROR: "ERROR",
    MANUAL: "MANUAL",
}
_COLOUR = {
    PASS: "\033[32m",
    FAIL: "\033[31m",
    ERROR: "\033[31m",
    WAIVED: "\033[33m",
    NOT_APPLICABLE: "\033[2m",
    MANUAL: "\033[36m",
}
_RESET = "\033[0m"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}

#: C0 and C1 control characters (escape sequences, bells, carriage returns) and DEL. Group
#: labels come from the data being checked, so a CSV could otherwise drive the reader's
#: terminal or the CI log viewer; ``text``, ``github`` and ``markdown`` show them escaped.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters shown as ``\\x1b``-style escapes (newlines kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render(report: CheckReport, fmt: str, *, color: bool = False) -> str:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    renderers: dict[str, Callable[[CheckReport], str]] = {
        "text": lambda r: render_text(r, color=color),
        "json": render_json,
        "junit": render_junit,
        "sarif": render_sarif,
        "github": render_github,
        "markdown": render_markdown,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


# --- text -----------------------------------------------------------------------------------


#: How many subjects or blocking outcomes a report lists one by one in its summary lines
#: (a sweep of the catalogue may have thousands); the rest are counted.
LISTED = 20


def render_text(report: CheckReport, *, color: bool = False) -> str:
    """Each subject's outcomes, rule by rule; then what blocks and the verdict.

    A sweep of more than :data:`LISTED` subjects (``govern check --all``) gives one line per
    subject instead, from the statuses alone: building every outcome's message for 10,000
    versions took 8 s and printed 300,000 lines. The other formats list every outcome.
    """
    lines: list[str] = []
    by_id = {p.id: p for p in report.policies}
    sweep = len(report.subjects) > LISTED
    for subject in report.subjects:
        verdict = subject.outcome.upper()
        lines.append(f"{_printable(subject.subject)}: {verdict} - {subject.summarise()}")
        if sweep:
            continue
        current = None
        width = max((len(o.rule_id) for o in subject.outcomes), default=10)
        for outcome in subject.outcomes:
            if outcome.policy_id != current:
                current = outcome.policy_id
                loaded = by_id.get(current)
                lines.append("")
                if loaded is not None:
                    lines.append(
                        _printable(
                            f"  {loaded.id} {loaded.policy.version}: {loaded.policy.title} "
                            f"({loaded.path})"
                        )
                    )
            label = f"{_LABEL[outcome.status]:<7}"
            if color:
                label = f"{_COLOUR[outcome.status]}{label}{_RESET}"
            message = _printable(outcome.message)
            lines.append(f"    {label} {outcome.severity:<8} {outcome.rule_id:<{width}}  {message}")
            if outcome.status in {FAIL, ERROR, WAIVED}:
                source = _printable(outcome.source)
                lines.append(f"    {'':<7} {'':<8} {'':<{width}}  source: {source}")
        lines.append("")
    if sweep:
        lines += [
            "",
            f"{len(report.subjects)} subjects, one line each: check one by its reference for "
            "its rules' details, or use --format json, junit or sarif for every outcome.",
        ]
    blocking = [s for s in report.subjects if s.blocks]
    if blocking:
        named: list[str] = []
        for subject in blocking:  # only the subjects named are built
            if len(named) >= LISTED:
                break
            named += [f"{o.subject} {o.qualified_id}" for o in subject.blocking]
        named = named[:LISTED]
        more = sum(s.blocking_count() for s in blocking) - len(named)
        tail = f", and {more} more, in {len(blocking)} subjects" if more else ""
        lines.append("Blocking: " + ", ".join(_printable(n) for n in named) + tail)
    lines.append(f"Outcome: {report.outcome} (exit {report.exit_code})")
    return "\n".join(lines) + "\n"


# --- json -----------------------------------------------------------------------------------


def render_json(report: CheckReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str) + "\n"


# --- junit ----------------------------------------------------------------------------------

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return escape(_XML_BAD.sub("\ufffd", text))


def _xml_attr(text: str) -> str:
    return quoteattr(_XML_BAD.sub("\ufffd", text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def render_junit(report: CheckReport) -> str:
    """JUnit XML: a testsuite per subject and policy, a testcase per rule."""
    suites: list[str] = []
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    stamp = report.checked_at.replace(microsecond=0).isoformat()
    for subject in report.subjects:
        by_policy: dict[str, list[RuleOutcome]] = {}
        for outcome in subject.outcomes:
            by_policy.setdefault(outcome.policy_id, []).append(outcome)
        for policy_id, outcomes in by_policy.items():
            counts = {
                "tests": len(outcomes),
                "failures": sum(o.status == FAIL for o in outcomes),
                "errors": sum(o.status == ERROR for o in outcomes),
                "skipped": sum(o.status in {NOT_APPLICABLE, MANUAL, WAIVED} for o in outcomes),
            }
            for key, value in counts.items():
                totals[key] += value
            cases = "".join(_junit_case(o) for o in outcomes)
            suites.append(
                f"  <testsuite name={_xml_attr(f'{subject.subject} {policy_id}')}"
                f' tests="{counts["tests"]}" failures="{counts["failures"]}"'
                f' errors="{counts["errors"]}" skipped="{counts["skipped"]}" time="0"'
                f" timestamp={_xml_attr(stamp)}>\n{cases}  </testsuite>\n"
            )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="govern check" tests="{totals["tests"]}"'
        f' failures="{totals["failures"]}" errors="{totals["errors"]}"'
        f' skipped="{totals["skipped"]}" time="0">\n'
    )
    return head + "".join(suites) + "</testsuites>\n"


def _junit_case(outcome: RuleOutcome) -> str:
    attrs = f'name={_xml_attr(outcome.rule_id)} classname={_xml_attr(outcome.policy_id)} time="0"'
    if outcome.policy_path:
        attrs += f' file={_xml_attr(outcome.policy_path)} line="{outcome.line}"'
    details = json.dumps(
        {"source": outcome.source, "evidence": dict(outcome.evidence), "waiver": outcome.waiver},
        indent=2,
        default=str,
    )
    message = f"[{outcome.severity}] {outcome.title}: {outcome.message}"
    body = ""
    if outcome.status == FAIL:
        body = (
            f"      <failure message={_xml_attr(message)} type={_xml_attr(outcome.severity)}>"
            f"{_xml_text(details)}</failure>\n"
        )
    elif outcome.status == ERROR:
        body = (
            f"      <error message={_xml_attr(message)} type={_xml_attr(outcome.severity)}>"
            f"{_xml_text(details)}</error>\n"
        )
    elif outcome.status in {NOT_APPLICABLE, MANUAL, WAIVED}:
        body = f"      <skipped message={_xml_attr(f'{outcome.status}: {outcome.message}')}/>\n"
    shown = f"{outcome.message}\nsource: {outcome.source}"
    out = f"      <system-out>{_xml_text(shown)}</system-out>\n"
    return f"    <testcase {attrs}>\n{body}{out}    </testcase>\n"


# --- sarif ----------------------------------------------------------------------------------


def _relative(path: str) -> str | None:
    """``path`` relative to the working directory (a repository checkout), if inside it."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    for base in (Path.cwd(), Path.cwd().resolve()):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix()
    return None


def _uri(path: str) -> str:
    """A policy's location: relative when inside the working directory, else a file URI."""
    return _relative(path) or Path(path).resolve().as_uri()


_SARIF_KIND = {
    PASS: "pass",
    FAIL: "fail",
    ERROR: "fail",
    WAIVED: "fail",
    NOT_APPLICABLE: "notApplicable",
    MANUAL: "review",
}
#: Statuses reported as SARIF results: unmet rules, and waived ones (as accepted suppressions).
_SARIF_FINDINGS = frozenset({FAIL, ERROR, WAIVED})


def render_sarif(report: CheckReport) -> str:
    """SARIF 2.1.0: one run, a reportingDescriptor per rule, a result per unmet or waived rule.

    Waived rules carry an accepted external suppression. Passing, not-applicable and manual
    outcomes are counted in ``runs[0].properties.counts`` rather than listed as results.
    """
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for loaded in report.policies:
        items: list[tuple[str, str, str, str, str, str]] = [
            (r.id, r.title, r.description, r.source, r.severity, getattr(r, "kind"))  # noqa: B009
            for r in loaded.policy.rules
        ]
        items += [
            (m.id, m.title, m.description, m.source, m.severity, "manual")
            for m in loaded.policy.manual
        ]
        for rule_id, title, description, source, severity, kind in items:
            qualified = f"{loaded.id}/{rule_id}"
            index[qualified] = len(rules)
            help_text = f"{description or title}\n\nSource: {source}"
            rules.append(
                {
                    "id": qualified,
                    "name": rule_id,
                    "shortDescription": {"text": title},
                    "fullDescription": {"text": description or title},
                    "help": {
                        "text": help_text,
                        "markdown": f"{description or title}\n\n**Source:** {source}",
                    },
                    "defaultConfiguration": {"level": _LEVEL[severity]},
                    "properties": {
                        "policy": loaded.id,
                        "policyVersion": loaded.policy.version,
                        "kind": kind,
                        "severity": severity,
                        "source": source,
                        "tags": ["governance", loaded.id, kind],
                    },
                }
            )
    # Only findings become results. SARIF can also say "pass", "notApplicable" and "review",
    # but GitHub code scanning ignores ``kind`` and turns every result into an alert, so a
    # check with 40 passing rules would open 40 alerts. The counts of every status stay in
    # the run's properties, and --format json has every outcome.
    results = [_sarif_result(o, index) for o in report.outcomes if o.status in _SARIF_FINDINGS]
    log = {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "govern",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "endTimeUtc": report.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "exitCode": report.exit_code,
                    }
                ],
                "results": results,
                "properties": {
                    "outcome": report.outcome,
                    "counts": report.counts(),
                    "policies": [p.describe() for p in report.policies],
                },
            }
        ],
    }
    return json.dumps(log, indent=2, default=str) + "\n"


def _sarif_result(outcome: RuleOutcome, index: dict[str, int]) -> dict[str, Any]:
    kind = _SARIF_KIND[outcome.status]
    level = _LEVEL[outcome.severity] if kind == "fail" else "none"
    location: dict[str, Any] = {
        "logicalLocations": [{"name": outcome.subject, "kind": "module"}],
    }
    if outcome.policy_path:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": _uri(outcome.policy_path)},
            "region": {"startLine": max(outcome.line, 1)},
        }
    result: dict[str, Any] = {
        "ruleId": outcome.qualified_id,
        "ruleIndex": index[outcome.qualified_id],
        "kind": kind,
        "level": level,
        "message": {"text": f"{outcome.subject}: {outcome.message}"},
        "locations": [location],
        "properties": {
            "subject": outcome.subject,
            "status": outcome.status,
            "severity": outcome.severity,
            "blocking": outcome.blocking,
            "evidence": dict(outcome.evidence),
        },
    }
    if outcome.waiver:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"waived by {outcome.waiver['granted_by']} until "
                f"{outcome.waiver['expires_on']}: {outcome.waiver['reason']}",
            }
        ]
    return result


# --- github ---------------------------------------------------------------------------------


def _gh_data(text: str) -> str:
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return _printable(escaped)


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: CheckReport) -> str:
    """GitHub Actions workflow commands: an annotation per unmet or waived rule."""
    lines: list[str] = []
    for outcome in report.outcomes:
        if outcome.status in {FAIL, ERROR}:
            command = {"error": "error", "warning": "warning", "info": "notice"}[outcome.severity]
        elif outcome.status == WAIVED:
            command = "notice"
        else:
            continue
        props = [f"title={_gh_property(f'{outcome.qualified_id}: {outcome.title}')}"]
        # Annotations point into the repository; a shipped pack outside it gets none.
        where = _relative(outcome.policy_path) if outcome.policy_path else None
        if where is not None:
            props[:0] = [f"file={_gh_property(where)}", f"line={max(outcome.line, 1)}"]
        message = f"{outcome.subject}: {outcome.message} (source: {outcome.source})"
        lines.append(f"::{command} {','.join(props)}::{_gh_data(message)}")
    for subject in report.subjects:
        verdict = f"{subject.subject}: {subject.outcome} - {subject.summarise()}"
        lines.append(f"::notice title=govern check::{_gh_data(verdict)}")
    return "\n".join(lines) + "\n"


# --- markdown -------------------------------------------------------------------------------


#: Characters that GitHub-flavoured Markdown would read as formatting: intersections are
#: named ``sex*age_group``, and two of them in a cell would otherwise turn into italics.
_MD_SPECIAL = re.compile(r"([\\`*_~\[\]|])")


def _md(text: str) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ").replace("<", "&lt;")
    return _printable(escaped)


def render_markdown(report: CheckReport) -> str:
    """A pull-request comment: verdict, a table of unmet rules, then the rest folded away."""
    lines = [f"## govern check: {report.outcome.upper()}", ""]
    for subject in report.subjects:
        lines.append(f"**{_md(subject.subject)}**: {subject.summarise()}")
        lines.append("")
        notable = [o for o in subject.outcomes if o.status in {FAIL, ERROR, WAIVED}]
        if notable:
            lines += ["| Result | Severity | Rule | Details | Source |", "|---|---|---|---|---|"]
            lines += [
                f"| **{_LABEL[o.status]}** | {o.severity} | `{o.qualified_id}` {_md(o.title)} "
                f"| {_md(o.message)} | {_md(o.source)} |"
                for o in notable
            ]
            lines.append("")
        manual = [o for o in subject.outcomes if o.status == MANUAL]
        if manual:
            lines += ["<details><summary>Manual review items</summary>", ""]
            lines += [f"- `{o.qualified_id}` {_md(o.title)} ({_md(o.source)})" for o in manual]
            lines += ["", "</details>", ""]
        rest = [o for o in subject.outcomes if o.status in {PASS, NOT_APPLICABLE}]
        if rest:
            lines += ["<details><summary>Passed and not applicable</summary>", ""]
            lines += [f"- {_LABEL[o.status]} `{o.qualified_id}` {_md(o.message)}" for o in rest]
            lines += ["", "</details>", ""]
    lines.append(
        f"Exit code {report.exit_code}; policies: "
        + ", ".join(f"`{p.id}` {p.policy.version}" for p in report.policies)
    )
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "LISTED", "render"]
