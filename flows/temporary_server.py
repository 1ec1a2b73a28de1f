"""Prefect's temporary server, started as soon as a command's inputs are checked.

Without a Prefect API to report to, Prefect starts a temporary server (its API app under uvicorn, in
a process of its own) at a run's first request: after the command has imported the flow, Prefect,
pandas and scikit-learn, so its start-up (about 3.5 s) comes on top of theirs. Started here, before
those imports, the server starts on another core while this process imports. It is Prefect's own
temporary server, as Prefect starts it (the same app, settings and database in PREFECT_HOME, no UI);
only the moment differs. It stops when the command ends (`atexit`, as Prefect's does).

Nothing is started where Prefect would not start one: an API named by PREFECT_API_URL or by the
active Prefect profile, or temporary servers turned off (PREFECT_SERVER_ALLOW_EPHEMERAL_MODE).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTUP_TIMEOUT_S = 20  # Prefect's own default (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)
_server: dict = {}  # "process", "url": the one this command started


def url() -> str | None:
    """The API URL of the temporary server this command started, if it did."""
    return _server.get("url")


def start() -> None:
    """Start the temporary server in the background, where Prefect would start one, and point this process's
    Prefect at it (PREFECT_API_URL). Call before Prefect is imported; `wait` before the first run."""
    if _server or "prefect" in sys.modules or not _prefect_would_start_one():
        return
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(list(spec.submodule_search_locations)[0]).parent),
         "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"], env=env, stdin=subprocess.DEVNULL)
    _server.update(process=process, url=f"http://127.0.0.1:{port}/api")
    os.environ["PREFECT_API_URL"] = _server["url"]
    os.environ.setdefault("PREFECT_UI_URL", "")  # no UI: no "View at" link to a page that is not there
    atexit.register(stop)


def wait() -> None:
    """Return once the server started by `start` answers; a server that died or never answered is a
    RuntimeError that names it, as Prefect's own start-up failure is."""
    if not _server:
        return
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                                                       STARTUP_TIMEOUT_S))
    while time.monotonic() < deadline:
        code = _server["process"].poll()
        if code is not None:
            raise RuntimeError(f"Timed out while attempting to connect to ephemeral Prefect API server. "
                               f"Ephemeral server process exited with code {code}.")
        try:
            with urllib.request.urlopen(_server["url"] + "/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")


def stop() -> None:
    """Stop the server `start` started (at exit)."""
    process = _server.get("process")
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prefect_would_start_one() -> bool:
    """Whether Prefect would start a temporary server: no API named in the environment, in the active profile or
    in a settings file of the working folder, and temporary servers allowed."""
    if os.environ.get("PREFECT_API_URL") or _off(os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")):
        return False
    if any(Path(name).is_file() for name in ("prefect.toml", ".env")):
        return False  # Prefect reads settings from these: left to Prefect
    try:
        text = Path("pyproject.toml").read_text() if Path("pyproject.toml").is_file() else ""
    except OSError:
        return False
    if "[tool.prefect" in text:
        return False
    return not _profile_names_an_api()


def _profile_names_an_api() -> bool:
    """Whether the active Prefect profile sets an API URL or turns temporary servers off (unreadable: assume so)."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    if not path.is_file():
        return False
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return True
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    settings = profiles.get("profiles", {}).get(active, {})
    return bool(settings.get("PREFECT_API_URL")) or _off(settings.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"))


def _off(value) -> bool:
    return value is not None and str(value).strip().lower() in ("0", "false", "no", "off")
