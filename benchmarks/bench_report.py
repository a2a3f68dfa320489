"""Render and sign the sample model card, against WeasyPrint rendering the same HTML alone.

Builds a throwaway catalogue with the sample gradient-boosting model (evaluated with SHAP,
drift-checked and policy-checked through the services), then times, per run:

* ``weasyprint``: ``HTML(string=...).write_pdf()`` of the card's HTML (the floor);
* ``card``: the whole card: view from the catalogue, charts, templates, PDF/A-3b with the
  attached JSON, and the PAdES signature (``render_card``);
* ``build_report``: the service call, which also writes the file atomically and records it;
* ``verify``: ``verify_pdf`` on the result.

Prints medians and ratios to the WeasyPrint floor measured in the same run. Run with
``.venv/bin/python benchmarks/bench_report.py [RUNS] [--keep DIR]``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from govern.config import load_settings
from govern.locations import sample_data_dir
from govern.services import catalogue, checks, evaluation, keys, reports, users
from govern.services.context import Context

REF = "credit-risk@1.1.0"


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm imports, fonts and caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def setup(directory: Path) -> tuple[str, Path]:
    sample = sample_data_dir()
    artifacts = directory / "artifacts"
    subprocess.run(
        [sys.executable, str(sample / "train_credit_model.py"), str(artifacts)],
        check=True,
        capture_output=True,
    )
    url = f"sqlite:///{directory / 'govern.db'}"
    home = directory / "home"

    def ctx(user: str) -> Context:
        return Context(load_settings(database_url=url, user=user, home=home))

    admin = ctx("admin")
    catalogue.init_catalogue(admin)
    for name, role in (("alice", "developer"), ("bob", "validator"), ("carol", "approver")):
        users.add_user(admin, name, role=role)
    keys.init_keys(admin.settings, common_name="govern benchmark")
    artifact = artifacts / "credit-risk-1.1.0.skops"
    catalogue.register_version(
        ctx("alice"), sample / "credit-risk-1.1.0.card.yaml", artifact=artifact
    )
    evaluation.evaluate_version(
        ctx("bob"),
        REF,
        data=sample / "credit_holdout.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        model=artifact,
        id_column="applicant_id",
        explain=3,
        seed=0,
    )
    evaluation.drift(
        ctx("bob"),
        REF,
        reference=sample / "credit_train.csv",
        current=sample / "credit_holdout.csv",
        model=artifact,
        exclude=["applicant_id", "credit"],
    )
    checks.check_version(ctx("bob"), REF, ["baseline", "eeoc-four-fifths"])
    return url, home


def main() -> None:
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        keep = Path(args[args.index("--keep") + 1])
        del args[args.index("--keep") : args.index("--keep") + 2]
    runs = int(args[0]) if args else 5
    directory = Path(tempfile.mkdtemp(prefix="govern-bench-report-"))
    try:
        import weasyprint

        from govern.report.render import render_card, render_html

        url, home = setup(directory)
        ctx = Context(load_settings(database_url=url, user="carol", home=home))
        identity = keys.load_identity(ctx.settings)
        view = reports.report_view(ctx, REF)
        html, _ = render_html(view, identity=identity, output_format="pdf")
        out = directory / "card.pdf"

        def card() -> object:
            fresh = reports.report_view(ctx, REF)
            return render_card(fresh, "pdf", identity=identity)

        results = {
            "weasyprint write_pdf (floor)": timed(
                lambda: weasyprint.HTML(string=html).write_pdf(), runs
            ),
            "card: view+charts+PDF/A+sign": timed(card, runs),
            "build_report (service)": timed(
                lambda: reports.build_report(ctx, REF, output=out), runs
            ),
            "verify_pdf": timed(lambda: reports.verify_pdf(ctx, out), runs),
        }
        floor = statistics.median(results["weasyprint write_pdf (floor)"])
        pages = len(__import__("pypdf").PdfReader(str(out)).pages)
        print(f"sample card: {pages} pages, {out.stat().st_size / 1024:.0f} KiB, {runs} runs")
        print(f"{'step':<34}{'median s':>10}{'ratio':>8}")
        for name, times in results.items():
            median = statistics.median(times)
            print(f"{name:<34}{median:>10.3f}{median / floor:>8.2f}")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, keep / "credit-risk-1.1.0.pdf")
            print(f"kept {keep / 'credit-risk-1.1.0.pdf'}")
        ctx.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
