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


def number_or_auto(schema: dict) -> None:
    """Show a `float | "auto"` field as one number field, left empty for "auto", not as a type toggle.

    The models that hold such a field leave "auto" out of their dumped parameters, so that what a
    deployment or a retrain sends stays within the number the form (and the server's check of a
    run's parameters against it) expects.
    """
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "number"
    schema["description"] = schema.get("description", "") + " Leave empty for auto."


def one_object(properties: dict, description: str):
    """Show a field that takes one of several forms as one object whose fields name the form.

    `properties` are the object's fields (JSON schema); the field's own validator turns the object
    back into the form it names.
    """
    def show(schema: dict) -> None:
        schema.pop("anyOf", None)
        schema.pop("default", None)
        schema.update(type="object", description=description, properties=properties, additionalProperties=False)

    return show
