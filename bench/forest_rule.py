"""The forest rule for large data, measured inside the ensemble: the default-large recipe's forest member
(`random_under:rf`) with and without the rule, and each half of it, beside the same other two members.

The rule as it was measured here (`imbalance_flows.tasks.learners.registry.ROWS_PER_TREE`): a forest fitted on more
than 120,000 rows grows each tree on a bootstrap sample of 120,000 rows, with leaves of at least 5 rows.
(`tree_rows` now gives half the fit rows, at least 30,000 and at most 120,000: at 10M rows the forest's
237,810 rows make trees of 118,905; the committed results are of 120,000.) On the
synthetic tables of `bench/scale.py` (1M and 10M rows, the flow's split), direct calls as the flow
makes them: each member fitted with its out-of-fold probabilities (`fit_out_of_fold`, the size rule's
plan), the ensemble weighed on them (`combine_out_of_fold`) and scored on the test split. The other
two members (`none:hgb`, `class_weight:logreg`) are fitted once per size and shared by every variant.

Printed per variant: the forest member's seconds (fit with its out-of-bag judging, then scoring the
test split) and its balanced accuracy alone at a 0.5 threshold; the ensemble's balanced accuracy.
At 1M rows the forest fits on about 24k under-sampled rows, below the rule's threshold: its variants
there show the rule leaves small forests alone. Run from the repository root, nothing else heavy on
the machine::

    .venv/bin/python -m bench.forest_rule             # 1M and 10M rows (about 15 minutes)
    .venv/bin/python -m bench.forest_rule 1000000     # one size

Results go to `bench/results/forest_rule.json` and `forest_rule.md`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from bench.scale import RESULTS, _split, data_path, stamp, write_markdown

VARIANTS = {
    "the rule (default)": {},
    "every row per tree, leaves of 1 row (before the rule)": {"max_samples": None, "min_samples_leaf": 1},
    "120k rows per tree, leaves of 1 row": {"min_samples_leaf": 1},
    "every row per tree, leaves of 5 rows": {"max_samples": None, "min_samples_leaf": 5},
}
# At this many rows of the table and fewer, the forest fits on fewer rows (about 24k at 1M) than the rule's
# threshold: the rule leaves it as it was, and only the first two variants run.
BELOW_RULE = 1_000_000


def measure(rows: int) -> list[dict]:
    import pandas as pd
    from sklearn.metrics import balanced_accuracy_score
    from threadpoolctl import threadpool_limits

    from imbalance_flows.tasks.cores import available_cores
    from imbalance_flows.tasks.data.schema import coerce, infer_schema
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble
    from imbalance_flows.tasks.model.fitting import (
        encode_labels,
        fit_out_of_fold,
        member_proba,
    )
    from imbalance_flows.tasks.model.sizes import plan_rows
    from imbalance_flows.tasks.model.spec import MemberSpec

    X_train, y_train, X_test, y_test = _split(data_path(rows))
    y = pd.Series(y_train)
    schema = infer_schema(X_train, y)
    X, X_test = coerce(X_train, schema, keep_float32=True), coerce(X_test, schema, keep_float32=True)
    del X_train
    plan = plan_rows(encode_labels(y, schema), 0)
    threads = available_cores()

    def member(spec: MemberSpec) -> dict:
        started = time.perf_counter()
        with threadpool_limits(threads):
            pipeline, _, judged = fit_out_of_fold(spec, X, y, schema, 0, threads, 5, plan=plan)
            tested = member_proba(pipeline, X_test, len(schema.classes))
        return {"pipeline": pipeline, "judged": judged, "tested": tested, "seconds": time.perf_counter() - started}

    others = {text: member(MemberSpec.parse(text)) for text in ("none:hgb", "class_weight:logreg")}
    out = []
    variants = list(VARIANTS.items())[:2] if rows <= BELOW_RULE else VARIANTS.items()
    for name, params in variants:
        forest_spec = MemberSpec(sampler="random_under", learner="rf", learner_params=params)
        forest = member(forest_spec)
        specs = [MemberSpec.parse("none:hgb"), forest_spec, MemberSpec.parse("class_weight:logreg")]
        fitted = [others["none:hgb"], forest, others["class_weight:logreg"]]
        ensemble = VotingEnsemble(members=specs).combine_out_of_fold(
            [m["pipeline"] for m in fitted], specs, schema, y.iloc[plan.judge_rows()], [m["judged"] for m in fitted])
        predicted = ensemble.vote([m["tested"] for m in fitted])
        out.append({"rows": rows, "variant": name, "forest_seconds": round(forest["seconds"], 1),
                    "forest_alone": round(float(balanced_accuracy_score(y_test, forest["tested"].argmax(1))), 4),
                    "ensemble": round(float(balanced_accuracy_score(y_test, predicted)), 4),
                    "weights": [round(float(w), 2) for w in ensemble.weights_]})
        print(out[-1], flush=True)
        del forest, fitted, ensemble
    return out


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    sizes = [int(a) for a in argv] or [1_000_000, 10_000_000]
    path = RESULTS / "forest_rule.json"
    report = json.loads(path.read_text()) if path.exists() else {"results": []}
    report["results"] = [r for r in report["results"] if r["rows"] not in sizes]
    for rows in sizes:
        report["results"] += measure(rows)
    report.update(stamp("bench.forest_rule", argv))
    path.write_text(json.dumps(report, indent=1))
    lines = ["Forest member `random_under:rf` beside `none:hgb` and `class_weight:logreg` (fitted once per size), "
             "direct calls on the flow's split of the synthetic table. Seconds: the forest's fit with its "
             "out-of-bag judging, then scoring the test split.", "",
             "| rows | forest | forest s | forest alone BA | ensemble BA | weights (hgb, forest, logreg) |",
             "|---:|---|---:|---:|---:|---|"]
    for r in sorted(report["results"], key=lambda r: r["rows"]):
        lines.append(f"| {r['rows']:,} | {r['variant']} | {r['forest_seconds']} | {r['forest_alone']} | "
                     f"{r['ensemble']} | {r['weights']} |")
    write_markdown("forest_rule", "The forest rule for large data, inside the ensemble", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
