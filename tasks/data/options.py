"""How to read the data, as users write it: cheap to import (pydantic only), for the flows' parameter forms."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imbalance_flows.tasks.forms import plain_optional


class ImageOptions(BaseModel):
    """How to read images (ignored for ordinary tables)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    size: tuple[int, int] | None = Field(
        None, description="Resize every image to (height, width); needed when the images differ in size.",
        json_schema_extra=plain_optional)
    channels: Literal[1, 3] | None = Field(
        None, description="1 (grey) or 3 (RGB); needed when the images differ. Alpha is dropped.",
        json_schema_extra=plain_optional)
    column: str | None = Field(
        None, description="Tables only: the column holding encoded image bytes (PNG/JPEG); default: found.",
        json_schema_extra=plain_optional)
