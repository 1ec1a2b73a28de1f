"""flows.guard.exit_now: how the command's process ends once its work is done."""

import subprocess
import sys
import textwrap


def test_exit_now_joins_threads_runs_atexit_and_keeps_the_status(tmp_path):
    """Work still queued in a thread pool is finished, `atexit` handlers run and flushed output is kept, as at
    any exit; the status is the command's."""
    script = textwrap.dedent(f"""
        import atexit, time
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path
        from imbalance_flows.flows.guard import exit_now

        folder = Path({str(tmp_path)!r})
        atexit.register(lambda: (folder / "atexit").write_text("ran"))
        pool = ThreadPoolExecutor(1)
        pool.submit(lambda: (time.sleep(0.5), (folder / "pool").write_text("done")))
        print("last line", end="")
        exit_now(3)
        (folder / "after").write_text("not reached")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "last line"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "pool").read_text() == "done"
    assert not (tmp_path / "after").exists()


def test_the_console_script_ends_through_exit_now():
    """`imbalance-flows` and `python -m imbalance_flows` call `cli.entry`, which ends the process with main's
    status (here --version's 0, its line printed)."""
    done = subprocess.run([sys.executable, "-m", "imbalance_flows", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imbalance-flows ")
    from importlib.metadata import entry_points

    (script,) = [point for point in entry_points(group="console_scripts") if point.name == "imbalance-flows"]
    assert script.value == "imbalance_flows.cli:entry"


def test_output_cut_short_by_its_reader_ends_quietly():
    """`imbalance-flows strategies | head -1`: the reader stops early; the command ends without a traceback."""
    process = subprocess.Popen([sys.executable, "-m", "imbalance_flows", "strategies"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline()
    process.stdout.close()  # as `head` does once it has its line
    error = process.stderr.read()
    process.wait(timeout=60)
    assert "Traceback" not in error and "BrokenPipeError" not in error, error
