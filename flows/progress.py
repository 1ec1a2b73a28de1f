"""Progress you can see: a Prefect progress artifact (the UI draws it as a bar) and, on a terminal, a counter."""

from __future__ import annotations

import sys

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class Progress:
    """How far a run has got, `done` of `total`, kept up to date in the UI and on standard error.

    The counter is written only when standard error is a terminal (never into logs or pipes).
    A `total` of None (a CSV whose length is not known) shows the count without a share.
    """

    def __init__(self, key: str, what: str, total: int | None):
        self.what, self.total = what, total
        self.artifact = create_progress_artifact(progress=0.0, key=key,
                                                 description=f"{what}{'' if total is None else f' (of {total})'}")
        self.terminal = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if self.total:
            update_progress_artifact(self.artifact, progress=min(100.0, 100.0 * done / self.total))
        if self.terminal:
            share = "" if not self.total else f"/{self.total} ({100 * done / self.total:.0f} %)"
            end = "\n" if self.total and done >= self.total else ""
            _write(f"\r{self.what}: {done}{share}{end}")

    def finish(self, done: int) -> None:
        """The end: 100 % in the UI, and the terminal's line closed."""
        update_progress_artifact(self.artifact, progress=100.0)
        if self.terminal and not (self.total and done >= self.total):
            _write(f"\r{self.what}: {done}\n")


def _write(text: str) -> None:
    # Not print(): flows with log_prints=True turn prints to standard error into log records.
    sys.stderr.write(text)
    sys.stderr.flush()
