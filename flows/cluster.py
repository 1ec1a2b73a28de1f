"""Where the files of a partitioned table are worked on: the Dask cluster of a run, or here, one after another.

`map_parts(function, items, **shared)` returns `[function(item, **shared) for item in items]`;
on a cluster each call runs on a worker, beside the file it reads (the files are on storage
every worker sees), and `shared` objects (a fitted ensemble) travel to each worker once.
"""

from __future__ import annotations

import contextlib

from imbalance_flows.tasks.data.tables import local_map

PLAIN = (str, int, float, bool, list, tuple, dict, type(None))


@contextlib.contextmanager
def parts_mapper(address: str | None):
    """`map_parts` for a run: on the Dask scheduler at `address`, or here without one."""
    if not address:
        yield local_map
        return
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        def on_cluster(function, items, **shared):
            # A fitted model travels to each worker once; plain values go with every call.
            sent = {name: client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()
                    if not isinstance(value, PLAIN)}
            futures = client.map(function, items, pure=False, **{**shared, **sent})
            try:
                return client.gather(futures)
            finally:
                client.cancel(futures + list(sent.values()))

        yield on_cluster


def configure_storage(address: str | None, options: dict) -> None:
    """Give the storage options of a run to every worker of its cluster (and to this process), so that the files the
    workers read and write are reached as the flow reaches them."""
    from imbalance_flows.tasks import storage

    storage.configure(options)
    if not address or not options:
        return
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        client.run(storage.configure, options)
