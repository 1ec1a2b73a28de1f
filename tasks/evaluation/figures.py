"""Matplotlib without a display, and a figure as PNG bytes: the plots in reports, artifacts and the store."""

from __future__ import annotations

import io


def subplots(rows: int = 1, columns: int = 1, **options):
    """A figure and its axes, as `pyplot.subplots` gives them (`figsize`, `squeeze`), drawn by Agg without pyplot:
    no display needed, and none of pyplot's backend machinery imported."""
    from matplotlib.figure import Figure

    squeeze = options.pop("squeeze", True)
    figure = Figure(figsize=options.pop("figsize", None))
    return figure, figure.subplots(rows, columns, squeeze=squeeze, **options)


def png(figure) -> bytes:
    """The figure as PNG bytes (100 dpi)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
