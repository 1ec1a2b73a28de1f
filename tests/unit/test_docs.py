"""The documentation: the site builds, its links resolve, the README stays a quick start, and no page types a
benchmark figure by hand.

The rule for figures. A *figure* is a number with a unit of time, size or ratio (``12 s``, ``3 min``,
``1.44 GiB``, ``2.34×``, ``88.8 %``), a score written to three decimals or more (``0.8114``), or a count of
data sets won (``13 of 16 datasets``). On the pages under docs/, a figure may appear only

1. inside a macro expression, ``{{ … }}`` or ``{% … %}``: docs/macros.py reads it from bench/results/ when the
   site is built (a field of a results JSON, or a table or paragraph of a results .md);
2. inside code (a fenced block or an inline span): a command, a setting, or what a program printed;
3. in a phrase of ``ALLOWED`` below, each with its reason: a constant of the product or of a benchmark's
   set-up, a fact of a data set, an illustration, or a dated hand measurement of a command no benchmark times.

Anything else is a benchmark figure typed by hand, and the test names its page and line: read it from the
results instead (docs/macros.py), or, if it is none, add the phrase to ``ALLOWED`` with its reason.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"

UNIT = r"(?:×|%|ms|min|minutes?|seconds?|hours?|days?|GiB|MiB|GB|MB|(?<=\s)[sh])"  # "s", "h" after a space: not "9s"
FIGURES = [
    # a number and a unit; "×" between two numbers is a dimension (8×8, 100k × 30), not a ratio
    re.compile(rf"(?<![\w.−+-])[−+-]?\d[\d,]*(?:\.\d+)?\s?{UNIT}(?!\w)(?!\s?\d)"),
    re.compile(r"(?<![\w.])[−+-]?\d+\.\d{3,}(?![\d.])"),  # a score to three decimals or more
    re.compile(r"\b\d+ of (?:the )?\d+ (?:data ?sets|tables)\b"),  # data sets won
]

# Phrases with a figure that is no benchmark result: phrase -> why it may be typed.
ALLOWED = {
    # constants of the product
    "least 90 % of the rows that judged": "LOPSIDED_SHARE, when a lopsided decision is told (tasks/model/ensemble.py)",
    "on 10 % of each class held out": "keras_mlp's early-stopping share (tasks/learners/keras_members.py)",
    "holds out 20 % of": "validation_size's default (flows/config.py, VotingEnsemble)",
    "(20 % of each class, never resampled or augmented)": "test_size's default",
    "every 20 s": "the store's lease renewal period (tasks/store/lease.py)",
    "120 s, its holder is gone": "the store's lease expiry (tasks/store/lease.py)",
    "not renewed for 120 s": "when a workspace mark is stale (tasks/store/activity.py)",
    "once every 2 s": "how often serve-model reads the champion pointer (FOLLOW_S, tasks/serving/online.py)",
    "than 64 MiB free": "HOME_ROOM_MIB, the room a temporary Prefect server needs (flows/guard.py)",
    "significance of 0.001 for the whole batch": "ALPHA of the drift verdict (tasks/monitoring/drift.py)",
    "missing in 92 % of": "an illustration: the case the unit test of the drift rule builds (tests/unit/test_drift.py)",
    "then 8 seconds": "the retry delays (flows/steps.py)",
    "1 s steps: up to 1 s": "Prefect's heartbeat thread sleeps in 1 s steps (Prefect's code)",
    # goals the benchmarks test against (their thresholds, not their results)
    "3×": "the fit-time goal of bench/quality.py and bench/out_of_fold.py: within 3× BalancedRandomForest's",
    "the 0.50 × goal": "the 10M-row time goal of bench/scale.py",
    "within 1.10 × the direct calls": "the flow's time goal of bench/scale.py",
    # facts of a data set or of a benchmark's set-up
    "20 % validation split": "bench/recipe_search.py's set-up (members judged on a held-out 20 %)",
    "1 % minority": "bench/sampler_cost.py's synthetic data",
    "1.5 % rare": "bench/scale.py's synthetic data",
    "the rarest\n1.4 %": "the military table's class shares",
    "enlisted 83.7 %, officer 15.0 %, warrant officer 1.4 %": "the military table's class shares",
    "(3 % of lights)": "the class shares tasks/bundled/make_traffic_lights.py simulates",
    "red 56 %, yellow 3 %, green 41 %": "the class shares tasks/bundled/make_traffic_lights.py simulates",
    "84/14.5/1.5 %": "the class shares of test_vote.py's small case",
    "under 20 % of the rare class": "test_vote.py's assertion",
    "(1.52 GiB of float32 features)": "tests/e2e/test_dask.py's data",
    "limited to 1.5 GiB each": "the Dask workers' memory limit in tests/e2e/test_dask.py",
    "the signal sent 3 s into their fits": "bench/stop.py's set-up, not a result",
    "TensorFlow (1.3 GB of the environment)": "the size of the keras extra's install",
    # illustrations of a rule
    "says 50 % where the real rate\nis 2 %": "an illustration of calibration",
    "says 50 % where the real rate": "an illustration of calibration",
    "is 2 %": "an illustration of calibration",
    "14 % → above 21 % or below 7 %": "an illustration of drift_share_limit",
    "from 5 % to 60 %": "an illustration of the one-value bin",
    "(14 % in training)": "the churn data's class share, in a test of the EM estimate",
    "95 %": "the confidence of the reports' intervals",
    # dated hand measurements of commands no benchmark times
    "pay its 5 s import": "TensorFlow's import, measured by hand",
    "About 30 s on 2 cores": "the digits example's training, measured by hand",
}

def keep_lines(match: re.Match) -> str:
    """The matched text blanked, its line breaks kept."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _code_and_macros_blanked(text: str) -> str:
    """The page with fenced code, macro expressions, inline code and link targets blanked, lines kept."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", keep_lines, text, flags=re.M | re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", keep_lines, text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", keep_lines, text)
    return re.sub(r"\]\([^)\n]*\)", keep_lines, text)


def _allowed(phrase: str) -> str:
    """The phrase as a pattern that does not match inside a longer number or word ("3×" is not in "2.3×")."""
    return ((r"(?<![\w.])" if phrase[0].isalnum() else "") + re.escape(phrase)
            + (r"(?!\w)" if phrase[-1].isalnum() else ""))


def hand_typed_figures(text: str) -> list[tuple[int, str]]:
    """(line number, figure) of every figure outside macros, code and the allowed phrases."""
    text = _code_and_macros_blanked(text)
    for phrase in sorted(ALLOWED, key=len, reverse=True):
        text = re.sub(_allowed(phrase), keep_lines, text)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        matches = sorted((match.start(), match.group(0).strip())
                         for pattern in FIGURES for match in pattern.finditer(line))
        found += [(number, figure) for _, figure in matches]
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def test_no_page_types_a_benchmark_figure_by_hand():
    typed = [f"{page.relative_to(ROOT)}:{line}: {figure!r}"
             for page in pages() for line, figure in hand_typed_figures(page.read_text())]

    assert not typed, ("benchmark figures typed by hand (read them from bench/results/ in docs/macros.py, or add "
                       "the phrase to ALLOWED with its reason):\n" + "\n".join(typed))


def test_the_figure_rule_catches_what_it_should_and_only_that():
    hand = ("Training took 31.2 s (bench/results/object_storage.md), 1.30 × the time on disk, peak 1.44 GiB;\n"
            "the ensemble reached 0.8114 on 13 of 16 datasets, 88.8 % accuracy, in 7 min.\n")
    assert [figure for _, figure in hand_typed_figures(hand)] == [
        "31.2 s", "1.30 ×", "1.44 GiB", "0.8114", "13 of 16 datasets", "88.8 %", "7 min"]

    read = ('Training took {{ R.object_storage.medians.bucket.train | f(".1f") }} s, '
            "{{ R.object_storage.ratio.train }} × the time on disk;\n"
            "```\n| ensemble | 0.792 | 12.5 s |\n```\n"
            "`--chunk-rows 200000` or `0.25`; 8×8 digits, 100k × 30 features, 24×24 RGB; default 0.2.\n"
            "every 20 s; [the results](results/quality.md#fit-time-3-of-lights)\n")
    assert hand_typed_figures(read) == []


def test_every_allowed_phrase_is_used():
    text = "\n".join(_code_and_macros_blanked(page.read_text()) for page in pages())
    unused = [phrase for phrase in ALLOWED if not re.search(_allowed(phrase), text)]

    assert not unused, f"ALLOWED phrases no page holds any more (remove them): {unused}"


def test_the_readme_is_a_quick_start():
    lines = README.read_text().splitlines()

    assert len(lines) <= 260, f"README.md has {len(lines)} lines: move the detail to docs/"
    assert "## Two commands" in lines


LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_the_readme_quotes_the_test_lanes_as_measured():
    import json

    lanes = json.loads((RESULTS / "test_lanes.json").read_text())["lanes"]
    quoted = " ".join(README.read_text().split())
    assert (f"the quick lane took {lanes['quick']['duration']} and the full run {lanes['full']['duration']}"
            in quoted), "README.md: quote bench/results/test_lanes.json's durations"
    assert f"a clean clone installs them in {lanes['install']['duration']}." in quoted, \
        "README.md: quote bench/results/test_lanes.json's install time"


def relative_links(text: str) -> list[str]:
    """The relative targets of the Markdown links and images outside code and macros."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t.split("#")[0] for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def _added_files() -> dict[str, Path]:
    """The files docs/hooks.py adds to the site (results, screenshots), by their path in the site."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks.added_files()


def test_every_relative_link_of_the_readme_and_the_pages_points_to_a_file():
    added = _added_files()
    broken = [f"README.md: {target}" for target in relative_links(README.read_text())
              if target and not (ROOT / target).exists()]
    for page in pages():
        for target in relative_links(page.read_text()):
            if not target:
                continue
            path = (page.parent / target).resolve()
            in_site = path.relative_to(DOCS.resolve()).as_posix() if path.is_relative_to(DOCS.resolve()) else None
            if not path.exists() and in_site not in added:
                broken.append(f"{page.relative_to(ROOT)}: {target}")

    assert not broken, "links to nothing:\n" + "\n".join(broken)


def _needs_the_docs_extra():
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
                                 "mkdocs_macros", "pymdownx") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)}): pip install -e \".[docs]\"")


def test_the_site_builds_strictly_with_the_figures_of_the_results(tmp_path):
    _needs_the_docs_extra()
    site = tmp_path / "site"

    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
                           "--config-file", str(ROOT / "mkdocs.yml")], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})

    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    html = {path: path.read_text() for path in site.rglob("*.html")}
    assert not [p for p, text in html.items() if "{{" in text and "R." in text], "a macro was left unrendered"
    # The API reference is read from the docstrings.
    reference = (site / "reference" / "index.html").read_text()
    for name in ("VotingEnsemble", "default_ensemble", "MemberSpec", "AugmentSpec", "load_model", "InputError"):
        assert name in reference
    assert "Members trained on the same rows" in reference and "threshold_objective" in reference
    # A figure on a page is the one its results file holds.
    import json

    storage = json.loads((RESULTS / "object_storage.json").read_text())
    production = (site / "production" / "index.html").read_text()
    assert f"{storage['ratio']['train']:.2f} ×" in production
    assert f"{storage['medians']['bucket']['train']:.1f} s against {storage['medians']['disk']['train']:.1f} s" in (
        re.sub(r"\s+", " ", production))
    # The results pages are part of the site, with their plots.
    assert (site / "results" / "quality" / "index.html").is_file() and (site / "results" / "quality.png").is_file()
