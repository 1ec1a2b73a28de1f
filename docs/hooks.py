"""MkDocs hooks of the documentation site (mkdocs.yml, `hooks:`).

* The API reference (docs/reference.md) is read by mkdocstrings from the docstrings, with griffe, which walks
  folders. In a checkout `imbalance_flows.tasks` is the folder `tasks/` (setuptools' `package-dir` maps it), so
  the build lays out a temporary folder as the wheel does, of links to the checkout (the same as
  tests/layers.py does for import-linter), and points the Python handler at it.
* The benchmark results (bench/results/*.md and their plots) and the UI's screenshots (deployments/screenshots/)
  live outside docs/: they are added to the site as they are, under results/ and screenshots/, so that the
  pages link to them and the results pages keep their own relative links.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

# mkdocs is imported only where a build needs it: tests/unit/test_docs.py reads added_files() without it.

ROOT = Path(__file__).resolve().parents[1]

# site folder -> (repository folder, the files of it that go to the site)
ADDED = {
    "results": (ROOT / "bench" / "results", ("*.md", "*.png", "traffic_lights/*.png")),
    "screenshots": (ROOT / "deployments" / "screenshots", ("*.png",)),
}


def added_files() -> dict[str, Path]:
    """Every file the hooks add to the site: its path in the site (as a page links it) -> the file."""
    found = {}
    for site, (folder, patterns) in ADDED.items():
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                found[f"{site}/{path.relative_to(folder).as_posix()}"] = path
    return found


def package_layout(folder: Path) -> Path:
    """imbalance_flows/ as the wheel lays it out, of links to the checkout (tests/layers.py's layout)."""
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.layers import installed_layout

    return installed_layout(folder)


def on_config(config):
    folder = Path(tempfile.mkdtemp(prefix="imbalance-flows-docs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    python = config.plugins["mkdocstrings"].config["handlers"].setdefault("python", {})
    python["paths"] = [str(package_layout(folder))]
    return config


on_config.mkdocs_priority = 100  # mkdocs.plugins.event_priority(100): before mkdocstrings reads its options


def on_files(files, config):
    from mkdocs.structure.files import File

    for uri, path in added_files().items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
