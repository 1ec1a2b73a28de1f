"""The one error type users see: a broken rule, the offending value, and a way out."""

from __future__ import annotations


class InputError(ValueError):
    """Raised when data, parameters or a saved model break a rule the user can fix.

    The message always has three parts, so that the command line can print it as
    it is, without a traceback: the rule, the value that broke it, and a hint.

    Parameters
    ----------
    rule : str
        What must hold, e.g. "the target column must exist".
    value : str
        What was found instead, e.g. "'label' is not among the columns ['a', 'b']".
    hint : str
        What the user can do about it.
    """

    def __init__(self, rule: str, value: str, hint: str) -> None:
        self.rule, self.value, self.hint = rule, value, hint
        super().__init__(f"{rule}: {value}. {hint}")

    def __reduce__(self):  # raised on a Dask worker, it arrives whole, not as a TypeError about arguments
        return type(self), (self.rule, self.value, self.hint)


class DataWarning(UserWarning):
    """Something in the data that a run goes on with, told to the user (the flows log it as a warning)."""


LONGEST = 200  # characters of a value a message shows


def shown(value) -> str:
    """`repr(value)`, cut short after `LONGEST` characters (a message never echoes a megabyte a user sent)."""
    text = repr(value)
    return text if len(text) <= LONGEST else f"{text[:LONGEST - 1]}…"


def preview(items, limit: int = 8) -> str:
    """Render a list for a message, cut short after `limit` items, each cut short after `LONGEST` characters."""
    items = [shown(item) for item in items]
    listed = ", ".join(items[:limit])
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return f"[{listed}{more}]"
