"""The package's shape: one import name, layers that point one way (import-linter), and cheap imports."""

import re
import subprocess
import sys
from pathlib import Path

from tests.layers import MAPPED, ROOT, lint_imports


def test_the_import_contracts_hold():
    """cli → deployments → flows → tasks, no Prefect in tasks, the rooms of tasks/ one way, no cycles (pyproject's
    [tool.importlinter]), as `python -m tests.layers` runs them."""
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"Contracts: 6 kept, 0 broken", result.stdout), result.stdout[-2000:]


def test_code_imports_the_package_by_its_one_name():
    """No module imports `tasks`, `flows` or `deployments` as top-level packages: installed, they do not exist."""
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(MAPPED)})(\.|\s|$)", re.MULTILINE)
    offenders = [str(path.relative_to(ROOT)) for folder in (*MAPPED, "imbalance_flows", "tests", "bench")
                 for path in (ROOT / folder).rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


def test_help_and_a_bad_input_answer_without_the_heavy_modules():
    """`--help`, `strategies`, `models`, `report` and input errors load neither scikit-learn, pandas nor Prefect."""
    probe = ("import sys, contextlib, io\n"
             "from imbalance_flows.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
             "    try:\n"
             "        main(sys.argv[1:])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "heavy = sorted(m for m in ('sklearn', 'pandas', 'prefect', 'imblearn', 'tensorflow') if m in sys.modules)\n"
             "print(heavy)\n")
    for argv in (["--help"], ["train", "--help"], ["strategies", "--bogus"], [], ["train", "data.csv"],
                 ["train", "data.csv", "--target", "y", "--member", "bogus:rf"], ["strategies"],
                 ["models", "list", "--store", "no-such-store"], ["report", "no-such-model"]):
        result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert result.stdout.strip().splitlines()[-1] == "[]", (argv, result.stdout, result.stderr)


def test_the_wheel_installs_one_top_level_package_with_its_data(tmp_path):
    """Nothing but imbalance_flows goes to site-packages; the bundled data and prefect.yaml travel inside it."""
    import zipfile

    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"imbalance_flows", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"imbalance_flows/cli.py", "imbalance_flows/tasks/model/ensemble.py", "imbalance_flows/flows/train.py",
            "imbalance_flows/deployments/serve.py", "imbalance_flows/deployments/prefect.yaml",
            "imbalance_flows/tasks/bundled/hpc.parquet", "imbalance_flows/tasks/bundled/churn.parquet"} <= set(names)
    # every module of every room of tasks/ (a sub-package missing from pyproject's list would be left out)
    modules = {f"imbalance_flows/{path.relative_to(ROOT).as_posix()}" for folder in MAPPED
               for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts}
    assert modules <= set(names), sorted(modules - set(names))


def test_version_and_the_deployments_default_data_outside_a_checkout(tmp_path, monkeypatch, capsys):
    """`--version` answers; prefect.yaml's tasks/bundled/... data is found inside the package from any folder."""
    from imbalance_flows.cli import main
    from imbalance_flows.deployments.serve import data_path, definitions

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("imbalance-flows ")
    monkeypatch.chdir(tmp_path)  # not a checkout: the relative path does not exist here
    default = definitions()["train"]["parameters"]["config"]["data"]
    assert default.startswith("tasks/bundled/") and Path(data_path(default)).is_file()
    assert {d["entrypoint"].split(":")[0] for d in definitions().values()} == {
        "imbalance_flows.flows.train", "imbalance_flows.flows.retrain", "imbalance_flows.flows.predict"}

