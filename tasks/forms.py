"""How a parameter model shows in the Prefect UI's form (pydantic JSON schema adjustments)."""

from __future__ import annotations


def plain_optional(schema: dict) -> None:
    """Show an optional field in the UI's form as its own type, left empty for the default, not as a type toggle.

    Its JSON schema loses the `null` branch: the form then omits an empty field, and the
    default (None) applies. Deployments therefore leave None values out of their parameters.
    """
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:  # e.g. costs: fn and fp, or a matrix
        schema["anyOf"] = branches
    schema.pop("default", None)


