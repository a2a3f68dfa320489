"""Card exports: JSON close to Model Card Toolkit's schema, and Hugging Face-style Markdown.

The JSON document is also what travels inside the signed PDF (``govern-card.json``); its
SHA-256 is recorded in the catalogue with the report. It follows the Model Card Toolkit
(MCT) schema 0.0.2 layout (``model_details``, ``model_parameters``,
``quantitative_analysis``, ``considerations``) and adds a ``governance`` object for what MCT
has no place for (lifecycle, decisions, policy results, fairness per group, drift, hashes).

The Markdown has YAML front matter with ``model-index`` evaluation results as the Hugging
Face Hub reads them. Card text is escaped for Markdown and HTML, so it shows as text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from govern import formatting
from govern.report.decisions import short_key
from govern.report.view import COUNT_METRICS, Grouping, ReportView

MCT_SCHEMA_VERSION = "0.0.2"
_SPDX_HF = re.compile(r"^[A-Za-z0-9.+-]+$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _metric(
    kind: str,
    value: float | None,
    *,
    slice_: str = "",
    lower: float | None = None,
    upper: float | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "value": "" if value is None else f"{value:.6g}"}
    if slice_:
        item["slice"] = slice_
    if threshold is not None:
        item["threshold"] = f"{threshold:g}"
    if lower is not None and upper is not None:
        item["confidence_interval"] = {
            "lower_bound": f"{lower:.6g}",
            "upper_bound": f"{upper:.6g}",
        }
    return item


def card_document(view: ReportView) -> dict[str, Any]:
    """The card as one JSON-ready document (MCT layout plus ``governance``)."""
    card = view.card
    details = card.model_details
    return {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": details.name,
            "overview": details.description,
            "owners": [{"name": view.model.owner, "contact": details.contact}],
            "version": {
                "name": details.version,
                **({"date": details.date.isoformat()} if details.date else {}),
            },
            "licenses": [{"identifier": details.license}] if details.license else [],
            "references": [{"reference": r} for r in details.references],
            "citations": [{"citation": details.citation}] if details.citation else [],
            "regulatory_requirements": ", ".join(card.governance.regulatory_scope),
        },
        "model_parameters": {
            "model_architecture": details.model_type,
            "data": _datasets(view),
        },
        "quantitative_analysis": {
            "performance_metrics": _performance_metrics(view),
            "graphics": {"description": "Charts are in the PDF and HTML renderings."},
        },
        "considerations": {
            "users": [{"description": u} for u in card.intended_use.primary_users],
            "use_cases": [{"description": u} for u in card.intended_use.primary_uses]
            + [{"description": f"Out of scope: {u}"} for u in card.intended_use.out_of_scope],
            "limitations": [{"description": c} for c in card.caveats_and_recommendations or []],
            "ethical_considerations": [
                {"name": c.risk, "mitigation_strategy": c.mitigation}
                for c in card.ethical_considerations or []
            ],
        },
        "governance": _governance(view),
    }


def _performance_metrics(view: ReportView) -> list[dict[str, Any]]:
    """Overall metrics, then each group's with its interval (MCT ``performance_metrics``)."""
    card = view.card
    results = view.results
    metrics: list[dict[str, Any]] = []
    threshold = card.metrics.decision_threshold if card.metrics else None
    if results is None:
        return metrics
    for name, value in results.performance.overall.items():
        metrics.append(_metric(name, value, threshold=threshold))
    for grouping in results.fairness:
        for group in grouping.groups:
            for name, estimate in group.metrics.items():
                metrics.append(
                    _metric(
                        name,
                        estimate.value,
                        slice_=formatting.group(grouping.name, group.group),
                        lower=estimate.lower,
                        upper=estimate.upper,
                    )
                )
    return metrics


def _datasets(view: ReportView) -> list[dict[str, Any]]:
    """The card's evaluation and training data sets, then the data actually evaluated."""
    card = view.card
    ev = view.evaluation
    datasets = []
    for role, section in (("evaluation", card.evaluation_data), ("training", card.training_data)):
        for ds in section.datasets if section else []:
            datasets.append(
                {
                    "name": ds.name,
                    "description": ds.description,
                    "link": ds.source,
                    "sensitive": {"sensitive_data": list(card.factors.sensitive_features)}
                    if card.factors
                    else {},
                    "role": role,
                    "rows": ds.rows,
                    "sha256": ds.sha256,
                }
            )
    if ev is not None:
        datasets.append(
            {
                "name": ev.dataset_name,
                "role": "evaluated",
                "rows": ev.rows,
                "sha256": ev.dataset_sha256,
                "sensitive": {"sensitive_data": list(ev.sensitive_features)},
            }
        )
    return datasets


def _governance(view: ReportView) -> dict[str, Any]:
    model = view.model
    ev = view.evaluation
    return {
        "format": view.schema_id,
        "ref": model.ref,
        "catalogue_id": view.catalogue_id,
        "generated_at": view.generated_at.isoformat(),
        "generated_by": view.generated_by,
        "govern_version": view.govern_version,
        "state": model.state,
        "risk_tier": model.risk_tier,
        "owner": model.owner,
        "business_owner": model.business_owner,
        "business_unit": model.business_unit,
        "next_validation_due": model.next_validation_due.isoformat()
        if model.next_validation_due
        else None,
        "card": view.card.to_json_dict(),
        "card_sha256": model.card_sha256,
        "artifact": model.artifact.model_dump(mode="json"),
        "evaluation": None
        if ev is None
        else {
            **ev.model_dump(mode="json", exclude={"results"}, by_alias=True),
            "results": ev.results.model_dump(mode="json", by_alias=True) if ev.results else None,
        },
        "local_explanations": [e.model_dump(mode="json") for e in view.local_explanations],
        "policy": None if view.policy is None else view.policy.model_dump(mode="json"),
        "policy_outcome": view.policy_outcome,
        "earlier_policy_packs": [p.model_dump(mode="json") for p in view.earlier_packs],
        "waivers": [w.model_dump(mode="json") for w in view.waivers],
        # Each decision with its signed event in full (body, signature, public key), which
        # `govern verify` re-checks offline.
        "decisions": [d.model_dump(mode="json") for d in view.decisions],
        "decision_signatures": {
            **view.decision_signatures.model_dump(mode="json"),
            "status": view.decision_signatures.status,
            "summary": view.decision_signatures.summary,
        },
        "drift": None if view.drift is None else view.drift.model_dump(mode="json"),
        "monitoring": (
            None if view.monitoring is None else view.monitoring.model_dump(mode="json")
        ),
        "packages": dict(view.packages),
    }


def card_json(view: ReportView) -> bytes:
    """The JSON export (and the PDF's embedded attachment), UTF-8, stable key order."""
    text = json.dumps(card_document(view), indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# --- Markdown ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LINE_START = re.compile(r"^([#>+=-])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")


def md(text: Any, *, starts_line: bool = False) -> str:
    """Card text as inert Markdown: HTML escaped, Markdown punctuation backslash-escaped.

    With ``starts_line`` (a paragraph or a list item's text), punctuation that would begin
    a heading, quote or list is escaped too; ``1\\.`` for an ordered-list marker, since a
    backslash before a digit would be shown literally.
    """
    value = "" if text is None else str(text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    value = " ".join(value.split())
    if not starts_line:
        return value
    value = _MD_ORDERED.sub(r"\1\\\2", value)
    return _MD_LINE_START.sub(r"\\\1", value)


def _count(value: float | None) -> str:
    """A count stored as a float (``300.0``) as ``300``; any other figure as a number."""
    if isinstance(value, float) and value.is_integer():
        return formatting.count(value)
    return formatting.number(value)


def _task_type(task: str) -> str:
    return "tabular-regression" if task == "regression" else "tabular-classification"


def _front_matter(view: ReportView) -> dict[str, Any]:
    card = view.card
    meta: dict[str, Any] = {}
    licence = card.model_details.license
    if licence and _SPDX_HF.match(licence):
        meta["license"] = licence.lower()
    # Hub tags are slugs; anything else in a tag is left out of the metadata.
    meta["tags"] = ["govern", "model-card", *(t for t in card.governance.tags if _TAG.match(t))]
    results = view.results
    ev = view.evaluation
    if results is not None and ev is not None:
        metrics = [
            {"type": name, "value": round(value, 6), "name": name.replace("_", " ")}
            for name, value in results.performance.overall.items()
            if value is not None and name.lower() not in COUNT_METRICS
        ]
        for grouping in results.fairness:
            ratio = grouping.summary.get("min_impact_ratio")
            if ratio is not None:
                metrics.append(
                    {
                        "type": "min_impact_ratio",
                        "value": round(ratio, 6),
                        "name": f"minimum impact ratio ({grouping.name})",
                    }
                )
        meta["model-index"] = [
            {
                "name": card.model_details.name,
                "results": [
                    {
                        "task": {
                            "type": _task_type(results.task),
                            "name": results.task.replace("_", " ") or "classification",
                        },
                        "dataset": {
                            "name": ev.dataset_name,
                            "type": ev.dataset_name,
                            "revision": ev.dataset_sha256,
                        },
                        "metrics": metrics,
                    }
                ],
            }
        ]
    return meta


def card_markdown(view: ReportView) -> str:
    """A Hugging Face-compatible model card (YAML front matter + Markdown sections)."""
    out: list[str] = [
        "---",
        yaml.safe_dump(_front_matter(view), sort_keys=False).rstrip(),
        "---",
        "",
    ]
    _md_details(out, view)
    _md_card_sections(out, view)
    _md_quantitative(out, view)
    card = view.card
    _md_list(
        out,
        "Ethical considerations",
        [
            f"{c.risk} Mitigation: {c.mitigation or 'none stated'}"
            for c in card.ethical_considerations or []
        ],
    )
    _md_list(out, "Caveats and recommendations", list(card.caveats_and_recommendations or []))
    _md_governance(out, view)
    return "\n".join(out).rstrip() + "\n"


def _md_details(out: list[str], view: ReportView) -> None:
    """The title, the version's state and owners, and the card's model details."""
    model = view.model
    details = view.card.model_details
    add = out.append
    add(f"# Model card: {md(model.name)} {md(model.version)}")
    add("")
    owners = f"owner {md(model.owner)}"
    if model.business_owner:
        owners += f", business owner {md(model.business_owner)}"
    if model.business_unit:
        owners += f", business unit {md(model.business_unit)}"
    add(
        f"State **{md(model.state)}**, risk tier **{md(model.risk_tier)}**, "
        f"{owners}. Generated {formatting.moment(view.generated_at)} "
        f"by govern {md(view.govern_version)}."
    )
    add("")
    add("## Model details")
    add("")
    if details.description:
        add(md(details.description, starts_line=True))
        add("")
    for key, value in (
        ("Model type", details.model_type),
        ("Developers", ", ".join(details.developers)),
        ("Date", details.date.isoformat() if details.date else ""),
        ("Licence", details.license),
        ("Contact", details.contact),
        ("Artifact SHA-256", model.artifact.sha256 or ""),
    ):
        add(f"- **{key}:** {md(value) or 'not stated'}")
    add("")


def _md_card_sections(out: list[str], view: ReportView) -> None:
    """The card's intended use, factors, metrics and data, as written in the card."""
    card = view.card
    _md_list(
        out,
        "Intended use",
        [
            *(f"Primary use: {u}" for u in card.intended_use.primary_uses),
            *(f"Primary user: {u}" for u in card.intended_use.primary_users),
            *(f"Out of scope: {u}" for u in card.intended_use.out_of_scope),
        ],
    )
    factors = card.factors
    _md_list(
        out,
        "Factors",
        []
        if factors is None
        else [
            f"Relevant: {', '.join(factors.relevant)}",
            f"Evaluation: {', '.join(factors.evaluation)}",
            f"Sensitive features: {', '.join(factors.sensitive_features)}",
        ],
    )
    metrics = card.metrics
    _md_list(
        out,
        "Metrics",
        []
        if metrics is None
        else [
            f"Performance measures: {', '.join(metrics.performance_measures)}",
            f"Decision threshold: {metrics.decision_threshold}",
            f"Variation approaches: {metrics.variation_approaches}",
        ],
    )
    for title, section in (
        ("Evaluation data", card.evaluation_data),
        ("Training data", card.training_data),
    ):
        items = (
            []
            if section is None
            else [
                f"{d.name}: {d.description} ({d.rows if d.rows is not None else '?'} rows"
                f"{', ' + d.source if d.source else ''})"
                for d in section.datasets
            ]
            + ([f"Preprocessing: {section.preprocessing}"] if section.preprocessing else [])
        )
        _md_list(out, title, items)


def _md_list(out: list[str], title: str, items: list[str]) -> None:
    out.append(f"## {title}")
    out.append("")
    if items:
        out.extend(f"- {md(item, starts_line=True)}" for item in items)
    else:
        out.append("_Not provided in the model card._")
    out.append("")


def _md_table(out: list[str], headers: list[str], rows: list[list[str]]) -> None:
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "|".join("---" for _ in headers) + "|")
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    out.append("")


def _md_grouping(out: list[str], grouping: Grouping) -> None:
    out.append(f"### Fairness by {md(formatting.grouping(grouping.name))}")
    out.append("")
    out.append(
        "Reference group: "
        + md(
            formatting.group(grouping.name, grouping.reference_group)
            if grouping.reference_group is not None
            else formatting.MISSING
        )
        + f" ({md(grouping.reference_why)})."
    )
    out.append("")
    rows = []
    for g in grouping.groups:
        cells = [md(formatting.group(grouping.name, g.group)), formatting.count(g.n)]
        for name in ("selection_rate", "tpr", "fpr"):
            e = g.metrics.get(name)
            if e is None or e.value is None:
                cells.append("undefined" if name in g.undefined else "–")
            elif e.lower is not None and e.upper is not None:
                cells.append(
                    f"{formatting.number(e.value)} {formatting.interval(e.lower, e.upper)}"
                )
            else:
                cells.append(formatting.number(e.value))
        flags = (["ratio < 0.8"] if g.adverse else []) + (["small n"] if g.small else [])
        cells += [formatting.number(g.impact_ratio), ", ".join(flags)]
        rows.append(cells)
    _md_table(
        out,
        [
            "group",
            "n",
            "selection rate [95% CI]",
            "TPR [95% CI]",
            "FPR [95% CI]",
            "impact ratio",
            "flags",
        ],
        rows,
    )


def _md_quantitative(out: list[str], view: ReportView) -> None:
    out.append("## Quantitative analyses")
    out.append("")
    results = view.results
    if view.evaluation is None:
        out += ["_Not evaluated: no evaluation of this version is recorded._", ""]
        return
    if results is None:
        out += [f"_Evaluation cannot be shown: {md(view.evaluation.problem)}_", ""]
        return
    overall = results.performance.overall
    if overall:
        _md_table(
            out,
            [md(k) for k in overall],
            [
                [
                    _count(v) if k.lower() in COUNT_METRICS else formatting.number(v)
                    for k, v in overall.items()
                ]
            ],
        )
    if not results.fairness:
        out += ["_Fairness not evaluated: the evaluation analysed no sensitive features._", ""]
    for grouping in results.fairness:
        _md_grouping(out, grouping)
    out += ["### Explanations", ""]
    explanations = results.explanations
    if explanations is None or not explanations.importances:
        out += ["_Not evaluated: no SHAP explanations are recorded for this version._", ""]
    else:
        out += [
            f"Global importance ({md(explanations.method or 'SHAP')}), mean absolute SHAP value "
            "with bootstrap 95% interval:",
            "",
        ]
        flagged = {f.feature for f in explanations.sensitive_flags}
        _md_table(
            out,
            ["rank", "feature", "mean abs SHAP", "95% CI", "note"],
            [
                [
                    str(i.rank if i.rank is not None else n),
                    md(i.feature),
                    formatting.number(i.mean_abs_shap, 4),
                    formatting.interval(i.lower, i.upper, 4) or formatting.MISSING,
                    "associated with a sensitive feature" if i.feature in flagged else "",
                ]
                for n, i in enumerate(explanations.importances[:15], start=1)
            ],
        )


def _md_governance(out: list[str], view: ReportView) -> None:
    _md_decisions(out, view)
    _md_policy(out, view)
    _md_waivers(out, view)
    _md_drift(out, view)
    _md_monitoring(out, view)
    _md_reproducibility(out, view)


def _md_decisions(out: list[str], view: ReportView) -> None:
    out += ["## Lifecycle and decisions", ""]
    if view.decisions:
        out += [f"**Signatures:** {md(view.decision_signatures.summary)}", ""]
        _md_table(
            out,
            ["when", "decision", "state", "who", "role", "key", "verification", "comment"],
            [
                [
                    formatting.moment(d.created_at),
                    md(d.action),
                    f"{md(d.from_state)} → {md(d.to_state)}",
                    md(d.who),
                    md(d.role),
                    f"`{short_key(d.key)}`" if d.key else "–",
                    md(d.verification) or "–",
                    md(d.comment) or "–",
                ]
                for d in view.decisions
            ],
        )
        out += [
            "Each decision was signed by the person who took it with their own key; the "
            "signed events (and full key fingerprints) are in the JSON export, and "
            "`govern verify` re-checks them in a signed PDF.",
            "",
        ]
    else:
        out += ["_No decisions yet._", ""]


def _md_policy(out: list[str], view: ReportView) -> None:
    out += ["## Policy results", ""]
    if view.policy is None:
        out += ["_No policy run yet._", ""]
    else:
        out += [
            f"Outcome: **{md(view.policy_outcome)}** (the latest result of each pack).",
            "",
        ]
        for pack in view.policy_packs:
            out += [f"### {md(pack.title or pack.id)}: {md(pack.outcome)}", ""]
            if pack.run_id is not None:
                when = f", {formatting.moment(pack.checked_at)}" if pack.checked_at else ""
                out += [f"Pack `{md(pack.id)}`, policy run #{pack.run_id}{when}.", ""]
            _md_table(
                out,
                ["rule", "result", "severity", "finding", "source"],
                [
                    [
                        md(r.rule_id),
                        md(r.status),
                        md(r.severity),
                        md("; ".join(r.findings) if r.truncated and r.findings else r.message)
                        or "–",
                        md(r.source) or "–",
                    ]
                    for r in pack.rules
                ],
            )


def _md_waivers(out: list[str], view: ReportView) -> None:
    out += ["### Waivers", ""]
    if view.waivers:
        _md_table(
            out,
            ["rule", "reason", "granted by", "expires", "status"],
            [
                [
                    md(w.rule_id),
                    md(w.reason),
                    f"{md(w.granted_by)} ({md(w.granted_role)})",
                    w.expires_on.isoformat(),
                    "active" if w.active else "expired",
                ]
                for w in view.waivers
            ],
        )
    else:
        out += ["_No waivers have been granted for this version._", ""]


def _md_drift(out: list[str], view: ReportView) -> None:
    out += ["## Drift", ""]
    drift = view.drift
    if drift is None:
        out += ["_No drift analysis yet._", ""]
    else:
        rows = ([drift.prediction] if drift.prediction else []) + drift.features
        _md_table(
            out,
            ["feature", "PSI", "band"],
            [[md(f.feature), formatting.number(f.psi), md(f.band) or "–"] for f in rows],
        )


def _md_monitoring(out: list[str], view: ReportView) -> None:
    out += ["## Production monitoring", ""]
    monitoring = view.monitoring
    if monitoring is None:
        out += ["_No production monitoring recorded._", ""]
        return
    out += ["### Alerts", ""]
    if monitoring.alerts:
        _md_table(
            out,
            ["window", "group", "figure"],
            [
                [
                    f"{formatting.day(a.start)} to {formatting.day(a.last_day)}",
                    md(a.subject),
                    md(a.message),
                ]
                for a in monitoring.alerts
            ],
        )
    else:
        out += ["No monitoring rule was broken in any window.", ""]
    out += ["### Logs counted", ""]
    _md_table(
        out,
        ["file", "rows", "SHA-256", "counted by"],
        [
            [md(f.name), formatting.number(f.rows), f"`{f.sha256}`", md(f.counted_by)]
            for f in monitoring.files
        ],
    )


def _md_reproducibility(out: list[str], view: ReportView) -> None:
    out += ["## Reproducibility", ""]
    ev = view.evaluation
    out.append(f"- Card SHA-256: `{view.model.card_sha256}`")
    out.append(f"- Artifact SHA-256: `{view.model.artifact.sha256 or 'none'}`")
    if ev is not None:
        out.append(f"- Evaluation data SHA-256: `{ev.dataset_sha256}` ({ev.rows} rows)")
        out.append(
            "- Packages: " + ", ".join(f"{md(k)} {md(v)}" for k, v in sorted(ev.packages.items()))
        )
    out.append("")


__all__ = ["MCT_SCHEMA_VERSION", "card_document", "card_json", "card_markdown", "md"]
