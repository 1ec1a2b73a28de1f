"""Macros of the documentation site (mkdocs-macros): every benchmark figure a page quotes is read here, at build
time, from the results the benchmarks wrote (bench/results/*.json and *.md); none is typed into a page.

In a page:

* ``{{ R.object_storage.ratio.train | f(".2f") }}``: a field of bench/results/object_storage.json. Dictionaries
  and lists are read with ``.name`` or ``["a key"]``; a field that is not there stops the build, naming the file
  and the path (the results changed: the page must follow).
* ``{{ R.large_levers.results.pick(case="...").fit_s }}``: the one element of a list whose fields match.
* filters: ``f(spec)`` formats (Python's format spec), ``gib`` turns bytes into GiB, ``pct`` a share into per
  cent, ``median`` the median of a list, ``thousands`` a count with thousands separators.
* ``{{ results_table("quality", after="Average ranks") }}``: a table of bench/results/quality.md as it is there,
  the first after the heading that contains ``after`` (or the ``index``-th of the file).

tests/unit/test_docs.py fails when a page types a benchmark figure outside these.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


class MissingResult(Exception):
    """A page asks for a figure its results file does not hold."""


def _wrap(value, where: str):
    return Result(value, where) if isinstance(value, (dict, list)) else value


class Result:
    """A part of a results file, read by key or attribute; a missing key stops the build, naming where."""

    def __init__(self, data, where: str):
        self._data, self._where = data, where

    def __getitem__(self, key):
        data = self._data
        if isinstance(data, list):
            if not isinstance(key, int) or not -len(data) <= key < len(data):
                raise MissingResult(f"{self._where} has no element {key!r} (it has {len(data)})")
            return _wrap(data[key], f"{self._where}[{key}]")
        for candidate in (key, str(key)):
            if candidate in data:
                return _wrap(data[candidate], f"{self._where}.{candidate}")
        raise MissingResult(f"{self._where} has no {key!r}; it has {list(data)[:30]}")

    def __getattr__(self, name):
        if name.startswith("_") or name in ("jinja_pass_arg", "jinja_async_variant"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self):
        data = self._data
        return iter([_wrap(v, f"{self._where}[{i}]") for i, v in enumerate(data)] if isinstance(data, list)
                    else list(data))

    def __len__(self):
        return len(self._data)

    def pick(self, **fields):
        """The one element of a list whose fields equal these."""
        found = [i for i, item in enumerate(self._data)
                 if isinstance(item, dict) and all(item.get(k) == v for k, v in fields.items())]
        if len(found) != 1:
            raise MissingResult(f"{self._where}: {len(found)} elements have {fields}, not one")
        return self[found[0]]

    def values(self):
        """The values of a dictionary, or the elements of a list."""
        return [self[k] for k in (range(len(self._data)) if isinstance(self._data, list) else self._data)]

    def raw(self):
        return self._data

    def __repr__(self):
        return f"Result({self._where})"


class Results:
    """bench/results/<name>.json, read on first use."""

    def __init__(self, folder: Path = RESULTS):
        self._folder, self._read = folder, {}

    def __getattr__(self, name):
        if name.startswith("_") or name in ("jinja_pass_arg", "jinja_async_variant"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name):
        if name not in self._read:
            path = self._folder / f"{name}.json"
            if not path.is_file():
                raise MissingResult(f"no results file bench/results/{name}.json")
            self._read[name] = Result(json.loads(path.read_text()), f"bench/results/{name}.json")
        return self._read[name]


def _plain(value):
    if isinstance(value, Result):
        raise MissingResult(f"{value!r} is a table of values, not a figure")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MissingResult(f"not a number: {value!r}")
    return value


def f(value, spec: str = "") -> str:
    """The value formatted with a Python format spec (".2f", ".0f", ",")."""
    return format(_plain(value), spec)


def gib(value, spec: str = ".2f") -> str:
    """Bytes as GiB."""
    return format(_plain(value) / 2**30, spec)


def pct(value, spec: str = ".0f") -> str:
    """A share (0–1) in per cent."""
    return format(_plain(value) * 100, spec)


def median(values):
    return statistics.median(_plain(v) for v in (values.values() if isinstance(values, Result) else values))


def thousands(value) -> str:
    return format(_plain(value), ",")


TABLE_ROW = re.compile(r"^\s*\|")


def results_table(name: str, after: str | None = None, index: int = 0) -> str:
    """A table of bench/results/<name>.md as it stands: the index-th after the first heading containing `after`."""
    path = RESULTS / f"{name}.md"
    if not path.is_file():
        raise MissingResult(f"no results file bench/results/{name}.md")
    lines = path.read_text().splitlines()
    start = 0
    if after is not None:
        headings = [i for i, line in enumerate(lines) if line.startswith("#") and after in line]
        if not headings:
            raise MissingResult(f"bench/results/{name}.md has no heading containing {after!r}")
        start = headings[0] + 1
    tables, current = [], []
    for line in lines[start:]:
        if TABLE_ROW.match(line):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
        if after is not None and line.startswith("#") and tables:
            break
    if current:
        tables.append(current)
    if index >= len(tables):
        raise MissingResult(f"bench/results/{name}.md has no table {index} after {after!r}")
    return "\n".join(tables[index])


def _results_lines(name: str) -> list[str]:
    path = RESULTS / f"{name}.md"
    if not path.is_file():
        raise MissingResult(f"no results file bench/results/{name}.md")
    return path.read_text().splitlines()


def _after(lines: list[str], name: str, after: str) -> int:
    found = [i for i, line in enumerate(lines) if after in line]
    if not found:
        raise MissingResult(f"bench/results/{name}.md has no line containing {after!r}")
    return found[0] + 1


def results_list(name: str, after: str) -> str:
    """The bullet list of bench/results/<name>.md that follows the first line containing `after`."""
    lines = _results_lines(name)
    items = []
    for line in lines[_after(lines, name, after):]:
        if line.startswith(("- ", "* ")):
            items.append(line)
        elif items and not line.startswith(" "):
            break
        elif items:
            items.append(line)
    if not items:
        raise MissingResult(f"bench/results/{name}.md has no list after {after!r}")
    return "\n".join(items)


def results_paragraph(name: str, starts: str) -> str:
    """The paragraph of bench/results/<name>.md that starts with `starts`, as it is there."""
    lines = _results_lines(name)
    for i, line in enumerate(lines):
        if line.startswith(starts):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            return " ".join(lines[i:end])
    raise MissingResult(f"bench/results/{name}.md has no paragraph starting {starts!r}")


def results_section(name: str, heading: str, optional: bool = False, demote: int = 0) -> str:
    """The body of the section of bench/results/<name>.md whose heading contains `heading` (up to the next heading
    of its level or above), its own headings `demote` levels deeper. Optional: a note when the file has none."""
    lines = _results_lines(name)
    found = [i for i, line in enumerate(lines) if line.startswith("#") and heading in line]
    if not found:
        if optional:
            return (f'!!! note "Not measured yet"\n    `bench/results/{name}.md` has no section "{heading}" in '
                    f"this run of the benchmark.")
        raise MissingResult(f"bench/results/{name}.md has no heading containing {heading!r}")
    level = len(lines[found[0]]) - len(lines[found[0]].lstrip("#"))
    body = []
    for line in lines[found[0] + 1:]:
        depth = len(line) - len(line.lstrip("#"))
        if line.startswith("#") and depth <= level:
            break
        body.append("#" * demote + line if line.startswith("#") else line)
    return "\n".join(body).strip()


def largest_gap(rows, by: str, key: str, a: str, b: str, field: str) -> float:
    """The largest |row[field] of key=a − of key=b| over the groups of rows that share `by`."""
    rows = rows.raw() if isinstance(rows, Result) else rows
    gaps = []
    for group in dict.fromkeys(row[by] for row in rows):
        pair = {row[key]: row[field] for row in rows if row[by] == group and row[key] in (a, b)}
        if len(pair) != 2:
            raise MissingResult(f"{group!r} has no {a!r} and {b!r} to compare")
        gaps.append(abs(pair[a] - pair[b]))
    return max(gaps)


def argmax(mapping, field: str | None = None):
    """The key of the largest value (or of the largest `field` of the values)."""
    data = mapping.raw() if isinstance(mapping, Result) else mapping
    return max(data, key=lambda k: data[k] if field is None else data[k][field])


def results_title(name: str) -> str:
    """The first heading of bench/results/<name>.md."""
    for line in (RESULTS / f"{name}.md").read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name


def results_index(prefix: str = "results/") -> str:
    """A list of every results page, linked, with its title."""
    names = sorted(p.stem for p in RESULTS.glob("*.md"))
    return "\n".join(f"- [`{n}.md`]({prefix}{n}.md): {results_title(n)}" for n in names)


def _duration(seconds: float) -> str:
    """A duration as people read it: seconds, minutes, hours or days."""
    if seconds < 0.05:
        return "< 0.05 s"
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} days"


def _rows(n: int | None) -> str:
    if n is None:
        return "–"
    if n >= 1_000_000:
        return f"{n / 1e6:.2g}M"
    return f"{n / 1e3:.0f}k"


# What to use where a strategy is refused (the advice of the refusal, per strategy).
INSTEAD = {"adasyn": "`smote`", "borderline_smote": "`smote`", "tomek": "`random_under`, `class_weight`",
           "enn": "`random_under`, `class_weight`", "cluster_centroids": "`random_under`",
           "smote_tomek": "`smote`, or `random_under` then `smote`",
           "smote_enn": "`smote`, or `random_under` then `smote`"}


def sampler_cost_table() -> str:
    """Each strategy's measured seconds at 100k rows (bench/results/sampler_cost.json), its estimate at 1M and 10M
    rows and the rows above which it is refused, from the cost model the product refuses by
    (`imbalance_flows.tasks.sampling.resample`: its exponents, for tomek, enn and cluster_centroids, measured up
    to the 250k-row sample, bench/results/resamplers.json); 30 features."""
    from imbalance_flows.tasks.sampling import resample

    measured = Results()["sampler_cost"]["results"]
    lines = [("| strategy | 100k rows (measured) | 1M rows (est.) | 10M rows (est.) | growth b | "
              "refused above (30 features) | at that size, use |"),
             "|---|---:|---:|---:|---:|---:|---|"]
    for name in resample.STRATEGIES:
        if name in ("none", "class_weight") or name not in measured._data:
            continue
        entry = measured[name]
        if "error" in entry._data:
            lines.append(f"| `{name}` | failed: {entry.error} | | | | – | |")
            continue
        at_100k = entry.seconds["100000"]
        if resample.STRATEGIES[name].cost is None:
            est = [entry.estimate[str(n)] for n in (1_000_000, 10_000_000)]
            exponent = entry.exponent
        else:
            est = [resample.sampler_seconds(name, n, 30) for n in (1_000_000, 10_000_000)]
            exponent = resample.STRATEGIES[name].cost[1]
        lines.append(f"| `{name}` | {_duration(at_100k)} | {_duration(est[0])} | {_duration(est[1])} | "
                     f"{exponent:g} | {_rows(resample.max_rows(name, 30))} | {INSTEAD.get(name, '')} |")
    return "\n".join(lines)


def slow_limit_minutes() -> str:
    """The estimate above which a sampler is refused, in minutes (the product's constant)."""
    from imbalance_flows.tasks.sampling import resample

    return f"{resample.SLOW_SECONDS / 60:g}"


def gan_gains(learner: str = "hgb", technique: str = "gan (vae)", against: str = "smote") -> list:
    """(data set, balanced accuracy of `technique` minus `against`) per table of bench/results/generative.json,
    the largest gain first."""
    per_set = Results()["generative"]["tables"]["per_set"]
    gains = [(name, per_set[name][learner][technique]["balanced_accuracy"]
              - per_set[name][learner][against]["balanced_accuracy"]) for name in per_set]
    return sorted(gains, key=lambda pair: -pair[1])


def worst_fit_dataset(learner: str) -> str:
    """The data set of bench/results/quality.json on which `learner`'s fit time is the most times
    BalancedRandomForest's."""
    per_dataset = Results()["quality"]["per_dataset"]
    return max(per_dataset, key=lambda d: per_dataset[d]["learners"][learner]["fit_seconds"]
               / per_dataset[d]["learners"]["BalancedRandomForest"]["fit_seconds"])


def quality_best_other(metric: str = "balanced_accuracy", members: bool = True) -> str:
    """The learner of bench/results/quality.json with the best average rank on `metric` other than the default
    ensemble (and other than its members, unless `members`)."""
    ranks = Results()["quality"]["average_ranks"][metric].raw()
    others = [n for n in ranks if n != "default ensemble" and (members or not n.startswith("member "))]
    return min(others, key=lambda n: ranks[n])


def define_env(env):
    env.variables["R"] = Results()
    for name, function in (("f", f), ("gib", gib), ("pct", pct), ("median", median), ("thousands", thousands)):
        env.filter(function, name)
        env.macro(function, name)
    for function in (results_table, results_list, results_paragraph, results_section, results_index, results_title,
                     sampler_cost_table, slow_limit_minutes, gan_gains, largest_gap, argmax, worst_fit_dataset,
                     quality_best_other):
        env.macro(function)
