"""SHAP throughput: rows explained per second, through govern and through shap directly.

    python benchmarks/bench_shap.py

* the sample models (``credit-risk-1.0.0`` logistic regression, ``credit-risk-1.1.0``
  gradient boosting of depth 3), trained by ``sample_data/train_credit_model.py`` into a
  temporary directory, explained on the 300-row hold-out;
* a deep random forest (100 trees, unbounded depth) on 20 synthetic features, the case that
  makes global importance run on a sample: measured here at a few dozen rows per second.

For each it prints govern's rows/s and the ratio to calling ``shap`` directly on the same
model (both include the pipeline's transform; govern adds chunking for progress, orienting
values to the positive label and summing one-hot columns back to input features).
Prints, asserts nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def rate(function, rows: int) -> float:
    start = time.perf_counter()
    function()
    return rows / (time.perf_counter() - start)


def sample_models(out: Path) -> None:
    import shap

    from govern.assess.explain import build_explainer, explain_frame
    from govern.assess.models import load_model
    from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES

    subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "train_credit_model.py"), str(out)],
        check=True,
        capture_output=True,
    )
    frame = pd.read_csv(ROOT / "sample_data" / "credit_holdout.csv")
    for version in ("1.0.0", "1.1.0"):
        model = load_model(
            out / f"credit-risk-{version}.skops", trusted_types=DEFAULT_SKOPS_TRUSTED_TYPES
        )
        background = frame.sample(100, random_state=0)
        explainer = build_explainer(model, background, positive="1", seed=0)
        explain_frame(explainer, frame.head(10))  # warm up
        ours = rate(lambda e=explainer: explain_frame(e, frame), len(frame))
        pipeline = model.estimator
        final = pipeline[-1]
        if explainer.method == "tree":
            direct_explainer = shap.TreeExplainer(final)
        else:
            direct_explainer = shap.LinearExplainer(
                final,
                shap.maskers.Independent(pipeline[:-1].transform(background[model.feature_names])),
            )
        # the direct call gets the same pipeline transform, so the ratio is govern's own cost
        pre, columns = pipeline[:-1], model.feature_names
        direct = rate(
            lambda d=direct_explainer, p=pre, c=columns: d.shap_values(p.transform(frame[c])),
            len(frame),
        )
        print(
            f"  credit-risk {version} ({explainer.method:6}): govern {ours:10,.0f} rows/s   "
            f"shap directly {direct:10,.0f} rows/s   ratio {direct / ours:5.2f}x"
        )


def deep_forest() -> None:
    import shap
    from sklearn.ensemble import RandomForestClassifier

    from govern.assess.artifacts import ArtifactInfo
    from govern.assess.explain import build_explainer, explain_frame
    from govern.assess.models import LoadedModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5000, 20)), columns=[f"x{i}" for i in range(20)])
    target = (frame["x0"] + frame["x1"] * frame["x2"] + rng.normal(size=5000) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=100, max_depth=None, random_state=0, n_jobs=1)
    forest.fit(frame, target)
    model = LoadedModel(
        info=ArtifactInfo(path=Path("forest"), sha256="", size=0, format="skops"),
        feature_names=list(frame.columns),
        classes=["0", "1"],
        estimator=forest,
    )
    explainer = build_explainer(model, frame.head(100), positive="1", seed=0)
    rows = frame.head(20)
    ours = rate(lambda: explain_frame(explainer, rows), len(rows))
    direct_explainer = shap.TreeExplainer(forest)
    direct = rate(lambda: direct_explainer.shap_values(rows.to_numpy()), len(rows))
    print(
        f"  random forest, 100 trees, unbounded depth ({explainer.method}): govern {ours:8,.1f} "
        f"rows/s   shap directly {direct:8,.1f} rows/s   ratio {direct / ours:5.2f}x"
    )
    print(
        f"  -> a 1,000-row global sample takes about {1000 / ours:,.0f} s on this model; "
        f"10,000 rows would take {10000 / ours / 60:,.1f} min"
    )


def main() -> None:
    warnings.simplefilter("ignore")
    print("SHAP rows per second (higher is better; ratio = shap directly / govern)")
    with tempfile.TemporaryDirectory() as tmp:
        sample_models(Path(tmp))
    deep_forest()


if __name__ == "__main__":
    main()
