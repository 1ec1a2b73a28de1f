"""Objects one step of a run hands to a later step of the same process, instead of writing them and reading
them back: a loaded table for its split (`data.tables.keep`), the members a run has just written for its vote
(`store.member_files.written_member`)."""

from __future__ import annotations

import threading


class Handovers:
    """At most `limit` objects by key, the oldest let go first (should a run end before it takes what it left);
    safe across threads."""

    def __init__(self, limit: int):
        self._limit, self._held, self._lock = limit, {}, threading.Lock()

    def put(self, key: str, value) -> None:
        with self._lock:
            self._held.pop(key, None)
            self._held[key] = value
            while len(self._held) > self._limit:
                self._held.pop(next(iter(self._held)))

    def get(self, key: str):
        """What `key` holds (None if nothing), still held."""
        return self._held.get(key)

    def take(self, key: str):
        """What `key` holds (None if nothing), no longer held."""
        with self._lock:
            return self._held.pop(key, None)

    def clear(self) -> None:
        """Let go of everything held."""
        with self._lock:
            self._held.clear()
