"""Matplotlib without a display, and a figure as PNG bytes: the plots in reports, artifacts and the store."""

from __future__ import annotations

import io


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(figure) -> bytes:
    """The figure as PNG bytes (100 dpi); the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot().close(figure)
    return buffer.getvalue()
