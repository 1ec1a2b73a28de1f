"""The champion online: a small HTTP service that scores rows sent as JSON (FastAPI, served by uvicorn).

    POST /predict   {"rows": [{"column": value, ...}, ...]} (or the list of rows alone)
                    -> {"version": ..., "target": ..., "predictions": [{"label": ..., "probabilities": {...}}, ...]}
    GET  /health    -> {"status": "ok", "version": ...}
    GET  /model     -> the version, its classes and the columns a row must have

Serving `champion`, the service follows the store's champion pointer: a new champion is loaded
on the first request after it is promoted (the pointer is read at most every `FOLLOW_S`), while
requests go on being answered by the one before. Every row is checked against the model's
schema before it is scored: a missing column, a value of the wrong type or a malformed body is a
422 naming the column and the row, never a 500; a body larger than `max_bytes` is a 413.
Categories never seen in training are scored as missing, as `predict` does, and logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data.checks import UnseenCategoryWarning
from imbalance_flows.tasks.data.splits import FLOAT32_MAX
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store.integrity import model_of
from imbalance_flows.tasks.store.model_store import load_model, read_manifest
from imbalance_flows.tasks.store.versions import followed_model, resolve_version

FOLLOW_S = 2.0  # how often, at most, the champion pointer is read again
MAX_BYTES = 10 * 2**20  # the largest request body accepted
log = logging.getLogger("imbalance_flows.serve_model")


class Served:
    """The model a service answers with: a fixed version, or the store's champion, followed."""

    def __init__(self, store: str, model: str = "champion"):
        self.store, self.model = store, model
        self._lock = threading.Lock()
        self._checked = 0.0
        self.path = resolve_version(store, model)
        self.follows = followed_model(store, model)  # the model whose champion is served, or None
        self.ensemble = load_model(self.path)

    @property
    def version(self) -> str:
        return storage.name(self.path)

    def current(self):
        """(version directory, ensemble): the champion's latest, when following it."""
        if self.follows is None or time.monotonic() - self._checked < FOLLOW_S:
            return self.path, self.ensemble
        with self._lock:
            if time.monotonic() - self._checked >= FOLLOW_S:
                self._checked = time.monotonic()
                try:
                    path = resolve_version(self.store, self.model)
                    if storage.name(path) != self.version:
                        ensemble = load_model(path)  # loaded whole before it answers a request
                        self.path, self.ensemble = path, ensemble
                        log.warning("Now serving the new champion %s", self.version)
                except InputError as error:  # a pointer being rewritten, a damaged version: keep serving
                    log.warning("The champion could not be loaded again; still serving %s: %s", self.version, error)
        return self.path, self.ensemble


def describe(path, ensemble) -> dict:
    """What a client needs to know: the model and its version, the classes and the columns a row must hold."""
    schema = ensemble.schema_
    return {"model": model_of(read_manifest(path)), "version": storage.name(path), "target": schema.target,
            "classes": [_plain(label) for label in ensemble.classes_],
            "columns": [{"name": column.name, "kind": column.kind,
                         **({"categories": column.categories} if column.kind == "categorical" else {})}
                        for column in schema.columns]}


def rows_frame(body, ensemble) -> pd.DataFrame:
    """The rows of a request body as the model's features, checked: InputError names what is wrong and where."""
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not rows:
        raise InputError("the body must be {\"rows\": [...]}, a list of rows, each an object of column: value",
                         "got no rows" if rows is None or rows == [] else f"got {type(rows).__name__}",
                         "Send e.g. {\"rows\": [{\"age\": 42, \"plan\": \"pro\"}]}; GET /model lists the columns.")
    schema = ensemble.schema_
    names = [column.name for column in schema.columns]
    for position, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError("each row must be an object of column: value", f"row {position} is a "
                             f"{type(row).__name__}", "GET /model lists the columns a row holds.")
        missing = [name for name in names if name not in row]
        if missing:
            raise InputError("each row must hold every column the model was trained on",
                             f"row {position} has no {missing[:5]}", "GET /model lists the columns a row holds.")
        for column in schema.columns:
            value = row[column.name]
            if value is None:
                continue
            if column.kind == "numeric" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise InputError(f"column {column.name!r} holds numbers", f"row {position} has {value!r}",
                                 "Send a number, or null for a missing value.")
            if column.kind == "numeric" and isinstance(value, int) and abs(value) > FLOAT32_MAX:
                raise InputError("numeric features must lie within ±3.4e+38 (32-bit floats)",
                                 f"row {position} has a {len(str(abs(value)))}-digit integer in {column.name!r}",
                                 "Rescale the column (e.g. its logarithm) or clip it.")
            if column.kind == "categorical" and not isinstance(value, (str, int, float, bool)):
                raise InputError(f"column {column.name!r} holds categories (text or numbers)",
                                 f"row {position} has {json.dumps(value)[:80]}", "Send one value, or null.")
    frame = pd.DataFrame.from_records(rows, columns=names)
    for column in schema.columns:
        if column.kind == "numeric":
            frame[column.name] = pd.to_numeric(frame[column.name], errors="raise").astype(float)
    return frame


def predict_rows(frame: pd.DataFrame, path, ensemble) -> dict:
    """Labels and calibrated probabilities of checked rows, with the version that gave them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnseenCategoryWarning)
        probas = ensemble.member_probas(frame, voting_only=True)
        labels, combined = ensemble.scored(probas)
    for warning in caught:
        if issubclass(warning.category, UnseenCategoryWarning):
            log.warning("%s", warning.message)
    classes = [_plain(label) for label in ensemble.classes_]
    predictions = [{"label": _plain(label)} for label in labels]
    if combined is not None:
        for prediction, row in zip(predictions, np.asarray(combined)):
            prediction["probabilities"] = dict(zip(map(str, classes), map(float, row)))
    return {"version": storage.name(path), "target": ensemble.schema_.target, "predictions": predictions}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def create_app(store: str, model: str = "champion", max_bytes: int = MAX_BYTES):
    """The FastAPI application serving `model` (a version, or the store's champion, followed) of `store`."""
    served = Served(store, model)
    app = FastAPI(title="imbalance-flows", summary="The champion online: labels and calibrated probabilities.")

    def refused(status: int, error: InputError) -> JSONResponse:
        return JSONResponse({"error": str(error), "rule": error.rule, "value": error.value, "hint": error.hint},
                            status_code=status)

    @app.get("/health")
    def health():
        path, _ = served.current()
        return {"status": "ok", "version": storage.name(path)}

    @app.get("/model")
    def model_info():
        return describe(*served.current())

    @app.post("/predict")
    async def predict(request: Request):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return refused(413, InputError("a request body holds at most " + _size(max_bytes),
                                           f"this one is {_size(int(declared))}", "Send the rows in smaller requests."))
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > max_bytes:
                return refused(413, InputError("a request body holds at most " + _size(max_bytes),
                                               "this one is larger", "Send the rows in smaller requests."))
        # Parsing and scoring hold the CPU: in a worker thread, so that the server goes on answering meanwhile.
        return await run_in_threadpool(answer, bytes(body))

    def answer(body: bytes):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as error:
            return refused(422, InputError("the body must be JSON", f"it is not ({str(error)[:120]})",
                                           "Send e.g. {\"rows\": [{\"age\": 42}]} with Content-Type: application/json."))
        path, ensemble = served.current()
        try:
            frame = rows_frame(parsed, ensemble)
            return predict_rows(frame, path, ensemble)
        except InputError as error:
            return refused(422, error)
        except (ValueError, TypeError) as error:  # a value pandas or a member could not take
            return refused(422, InputError("every value must be one the model can score", str(error)[:200],
                                           "GET /model lists the columns and their kinds."))

    return app


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def serve(store: str, model: str = "champion", host: str = "127.0.0.1", port: int = 8000,
          max_bytes: int = MAX_BYTES) -> None:
    """Serve `model` of `store` over HTTP until stopped (uvicorn, one process)."""
    import uvicorn

    app = create_app(store, model, max_bytes)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)-7s | %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="warning")
