"""A Prefect home the temporary server cannot use is refused in one line, before the server starts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("imbalance-flows"))


def test_a_prefect_home_that_cannot_be_written_ends_in_one_error_line_before_any_server(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(blocker / "home")  # under a file: no folder can be made there
    result = subprocess.run([CLI, "train", str(ROOT / "tasks" / "bundled" / "hpc.parquet"), "--target", "class",
                             "--store", str(tmp_path / "store")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: the temporary Prefect server keeps its database in PREFECT_HOME: it must be writable: "
        f"'{blocker / 'home'}' is not (Not a directory). Free space there, set PREFECT_HOME to a folder with room, "
        "or set PREFECT_API_URL to a running Prefect server."]
    assert not (tmp_path / "store").exists()
