"""How a command ends: one `error:` line for a broken rule (exit status 2) or a Prefect API that went away
(exit status 1), never a traceback; and within seconds when told to stop (SIGTERM, Ctrl-C).

Used by `imbalance-flows` and `python flows/<flow>.py`, around everything they do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading


def guarded(call, runs_a_flow: bool = False) -> int:
    """Call `call()`; a broken rule becomes one `error:` line on stderr and exit status 2, never a traceback;
    SIGTERM or Ctrl-C ends the command within seconds (see `_stop_now`)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForInputErrors())
    previous = _stop_on_signals()
    try:
        return _error_lines(call)
    except BaseException as error:
        signum = stop_signal(error)
        if signum is None:
            raise
        _stop_now(signum, runs_a_flow)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 2  # pragma: no cover - _stop_now does not return


def _error_lines(call) -> int:
    """`guarded`'s error handling: a broken rule becomes one `error:` line and exit status 2; a Prefect API that
    went away during the run, one `error:` line and exit status 1."""
    from pydantic import ValidationError

    from imbalance_flows.tasks.errors import InputError

    try:
        return call()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "config"
            cause = problem.get("ctx", {}).get("error")
            if isinstance(cause, InputError):  # a validator's own error says the rest; a model's names its field
                print(f"error: {where}: {cause}" if problem["loc"] else f"error: {cause}", file=sys.stderr)
                continue
            given = repr(problem.get("input"))
            given = given if len(given) <= 80 else given[:77] + "..."
            print(f"error: {where}: {problem['msg'].removeprefix('Value error, ')}: got {given}. "
                  "Fix it in the config file or on the command line (--help describes each parameter).",
                  file=sys.stderr)
    except Exception as error:
        lost = _api_lost(error)
        if lost is None and "ephemeral Prefect API server" in str(error):
            print(f"error: the temporary Prefect server must start: it did not ({str(error)[:160]}). Check that "
                  "PREFECT_HOME is writable and has room (its database lives there), or set PREFECT_API_URL to a "
                  "running server.", file=sys.stderr)
            return 1
        if lost is None:
            raise
        from imbalance_flows.flows import temporary_server

        where = ("the temporary server" if temporary_server.url() else
                 os.environ.get("PREFECT_API_URL", "the temporary server"))
        print(f"error: the Prefect API ({where}) must stay reachable while a run lasts: it went away ({lost}). "
              "Versions saved before are kept, nothing half-written is. Start the server again (or unset "
              "PREFECT_API_URL to run with a temporary one) and run the same command again: members already "
              "trained are reused.", file=sys.stderr)
        return 1
    return 2


HOME_ROOM_MIB = 64  # what the temporary server's database and logs need, at least


def check_prefect_home() -> None:
    """Before a temporary Prefect server starts (no PREFECT_API_URL): its home must be writable and have room,
    or the server dies at start-up with a page of tracebacks from its database."""
    import shutil
    import tempfile
    from pathlib import Path

    from imbalance_flows.tasks.errors import InputError

    if os.environ.get("PREFECT_API_URL"):
        return
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    hint = ("Free space there, set PREFECT_HOME to a folder with room, or set PREFECT_API_URL to a running "
            "Prefect server.")
    existing = next((folder for folder in (home, *home.parents) if folder.exists()), None)
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise InputError("the temporary Prefect server keeps its database in PREFECT_HOME: it must be writable",
                         f"{str(home)!r} is not ({error.strerror or error})", hint) from None
    free = shutil.disk_usage(existing or home).free / 2**20
    if free < HOME_ROOM_MIB:
        raise InputError(f"the temporary Prefect server needs {HOME_ROOM_MIB} MiB free in PREFECT_HOME",
                         f"{str(home)!r} has {free:.1f} MiB", hint)


def _causes(error: BaseException | None):
    """`error`, then what caused it, nearest first (ten at most)."""
    for _ in range(10):
        if error is None:
            return
        yield error
        error = error.__cause__ or error.__context__


def _api_lost(error: BaseException | None) -> str | None:
    """How the connection to the Prefect API broke, if that is what `error` (or what caused it) is."""
    import httpx

    for cause in _causes(error):
        if isinstance(cause, httpx.TransportError):
            return f"{type(cause).__name__}: {str(cause)[:120] or 'no answer'}"
    return None


class Stopped(BaseException):
    """A run told to stop by SIGTERM or Ctrl-C (SIGINT); a BaseException, like KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def _stop_on_signals() -> dict:
    """Turn SIGTERM and SIGINT into `Stopped` (the main thread only); return the handlers they had."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, _raise_stopped)
    return previous


@contextlib.contextmanager
def signals_deferred():
    """Inside, SIGTERM and SIGINT are only noted (the list yielded); on leaving, the handler each had runs.

    A handler that raises can do so inside a lock's own code and leave the lock broken
    ("release unlocked lock"): a loop that waits, noting signals here and checking the list
    between waits, lets the stop be raised where it is safe, within one wait.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    noted: list[int] = []
    previous = {each: signal.signal(each, lambda signum, frame: noted.append(signum))
                for each in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield noted
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
        if noted:
            handler = previous[noted[0]]
            if callable(handler):
                handler(noted[0], None)  # Prefect's raises TerminationSignal; `guarded`'s, Stopped
            else:
                signal.raise_signal(noted[0])


def stop_signal(error: BaseException | None) -> int | None:
    """The signal that stopped the command, if `error` (or what caused it) says one did."""
    for cause in _causes(error):
        if isinstance(cause, Stopped):
            return cause.signum
        if isinstance(cause, KeyboardInterrupt):
            return signal.SIGINT
        if type(cause).__name__ == "TerminationSignal" and isinstance(getattr(cause, "signal", None), int):
            return cause.signal  # Prefect's own SIGTERM handler, active while a flow runs
    return None


STOP_GRACE_S = 10  # at most this long to stop the temporary Prefect server and flush the run's logs


def _stop_now(signum: int, runs_a_flow: bool) -> None:
    """End the process at once, as a stopped command must: a flow run is already marked crashed by
    Prefect's engine; member threads still fitting are abandoned (their files are written atomically),
    and the temporary Prefect server is stopped. Exit status 128 + the signal, as a shell reports it."""
    code = 128 + signum
    for each in (signal.SIGTERM, signal.SIGINT):  # a second Ctrl-C ends it without waiting
        signal.signal(each, lambda *_: os._exit(code))
    if runs_a_flow:  # `serve` and the other commands just end, as asked
        print(f"error: the run was stopped by {signal.Signals(signum).name}: its flow run is marked crashed, the "
              "model store is as it was. Run the same command again to go on (members already trained are "
              "reused).", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    watchdog = threading.Timer(STOP_GRACE_S, lambda: os._exit(code))
    watchdog.daemon = True
    watchdog.start()
    import atexit

    atexit._run_exitfuncs()  # Prefect's temporary server stops here; joining the member threads does not
    os._exit(code)


def exit_now(code: int) -> None:
    """End the process with status `code` as the interpreter would, less its last garbage collections.

    Threads are joined and `atexit` runs (Prefect's logs and events are sent, the temporary server stops), as at
    any exit; then the process ends without the interpreter's final garbage collections, which after a training
    run on a large table take a second or more and free nothing the operating system does not free at exit.
    """
    threading._shutdown()  # what the interpreter does first: pools told to stop, non-daemon threads joined
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, or a stream closed: nothing left to say
            stream.flush()
    os._exit(code)


def input_errors_once() -> None:
    """A broken rule inside a run is printed once, as the `error:` line, not also by each failed task and flow;
    and the command's own output ends the terminal's, not the temporary server's shutdown line.

    Only the terminal's handler is filtered: the run's logs in the UI keep the failure.
    """
    for handler in [*logging.getLogger().handlers, *logging.getLogger("prefect").handlers]:
        if type(handler).__name__ == "APILogHandler":
            continue
        if not any(isinstance(existing, _InputErrorsToTheErrorLine) for existing in handler.filters):
            handler.addFilter(_InputErrorsToTheErrorLine())


class _InputErrorsToTheErrorLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from imbalance_flows.tasks.errors import InputError

        if record.exc_info and isinstance(record.exc_info[1], InputError):
            return False
        message = record.getMessage()
        # A failed run's own lines repeat the error; the temporary server's last word would follow the
        # command's own last line (the version saved).
        failed = message.startswith(("Finished in state Failed", "Task run failed with exception: InputError",
                                     "Encountered exception during execution: InputError"))
        return not (failed and "InputError" in message) and not message.startswith("Stopping temporary server")


class _NoTracebackForInputErrors(logging.Filter):
    """Prefect logs a failed run with its traceback; for a broken rule the message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        from imbalance_flows.tasks.errors import InputError

        if record.exc_info and (isinstance(record.exc_info[1], InputError) or _api_lost(record.exc_info[1])):
            record.exc_info, record.exc_text = None, None  # the error line says it all
        return True
