"""Run the import contracts (pyproject's [tool.importlinter]) on a checkout, editable install or not:

    .venv/bin/python -m tests.layers

import-linter walks the package's folders, and in a checkout `imbalance_flows.tasks` is the folder
`tasks/` (mapped by setuptools, not nested): the contracts run on a temporary layout of links that
nests the folders as the wheel does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
MAPPED = ("tasks", "flows", "deployments")  # the repository's folders, imbalance_flows.<folder> when installed


def installed_layout(folder: Path) -> Path:
    """imbalance_flows/ as the wheel lays it out, of links to the checkout (grimp walks folders, not finders)."""
    package = folder / "imbalance_flows"
    package.mkdir()
    for module in (ROOT / "imbalance_flows").glob("*.py"):
        (package / module.name).symlink_to(module)
    for name in MAPPED:
        (package / name).symlink_to(ROOT / name, target_is_directory=True)
    return folder


def lint_imports() -> subprocess.CompletedProcess:
    """lint-imports on the checkout, as if installed; its output and exit status."""
    with tempfile.TemporaryDirectory(prefix="imbalance-flows-layout-") as folder:
        env = {**os.environ, "PYTHONPATH": str(installed_layout(Path(folder)))}
        return subprocess.run([str(LINT), str(ROOT / "pyproject.toml"), "--no-cache"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=300)


if __name__ == "__main__":
    done = lint_imports()
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    sys.exit(done.returncode)
