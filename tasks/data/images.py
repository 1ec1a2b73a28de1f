"""Load images as a table: one row per image, one column per pixel value.

Images become rows of a DataFrame whose feature columns are named
`px_<row>_<column>_<channel>` (see `imbalance_flows.tasks.data.schema.pixel_names`), values 0–255, plus
the target column. That one representation lets the rest of the project work on
images unchanged: splits, samplers, Parquet in the workspace, schema checks,
scikit-learn learners on flattened pixels; the schema recognises the column names
and records the image shape, from which Keras image members and image augmentation
rebuild (height, width, channels) arrays.

Two sources:
    a directory of class folders      root/<class>/*.png|jpg|jpeg
    a table with an image-bytes column Parquet (or CSV) whose column holds PNG/JPEG bytes

What is skipped (and logged) rather than refused: files that are not PNG or JPEG
by name (README.txt, .DS_Store), files directly under the root, sub-folders of a
class folder, and empty class folders. What is refused: a file named .png/.jpg that
does not decode, images of mixed sizes or channels when no size or channels were
given, and a source with no images.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data.options import ImageOptions
from imbalance_flows.tasks.data.schema import ImageInfo, pixel_names
from imbalance_flows.tasks.data.tables import entries, is_parquet_folder, read_file
from imbalance_flows.tasks.errors import InputError, preview

SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
logger = logging.getLogger(__name__)


def is_image_folder(path: str) -> bool:
    """A directory, except a folder of Parquet files (a partitioned table): read as class folders of images. On an
    object store, a prefix holding folders or images."""
    if storage.is_local(path):
        return os.path.isdir(storage.local(path)) and not is_parquet_folder(path)
    found = entries(str(path))
    return bool(found) and any(not is_file or name.lower().endswith(SUFFIXES) for name, is_file in found)


def read_data(path: str, target: str, options: ImageOptions | None = None,
              missing: list[str] = ()) -> tuple[pd.DataFrame, ImageInfo | None]:
    """Read a table (in CSV, `missing` read as missing values), a table with an image-bytes column, or a folder of
    class folders."""
    options = options or ImageOptions()
    if is_image_folder(path):
        with storage.local_folder(path) as folder:  # a bucket's images are read here, as a local folder's
            return load_folder(folder, target, options, shown=path)
    frame = read_file(path, missing)
    column = options.column or _bytes_column(frame, target)
    if column is None:
        return frame, None
    return load_table_images(frame, target, column, options)


def load_folder(root: str, target: str, options: ImageOptions | None = None,
                shown: str | None = None) -> tuple[pd.DataFrame, ImageInfo]:
    """Read `root/<class>/*.png|jpg|jpeg`; the class folder's name is the label; errors name it `shown`."""
    options = options or ImageOptions()
    root_path = Path(str(root).removeprefix("file://"))
    sources, labels, skipped = [], [], []
    for entry in sorted(root_path.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(entry.name)
            continue
        files = []
        for item in sorted(entry.iterdir()):
            if item.is_file() and item.suffix.lower() in SUFFIXES:
                files.append(item)
            elif not item.name.startswith("."):
                skipped.append(f"{entry.name}/{item.name}")
        if not files:
            logger.warning("Skipped class folder %r: it holds no .png or .jpg image", entry.name)
            continue
        sources += files
        labels += [entry.name] * len(files)
    if skipped:
        logger.warning("Skipped %s entries that are not images in class folders: %s", len(skipped),
                       preview(skipped, 5))
    if not sources:
        raise InputError("an image folder must hold class folders of .png or .jpg files",
                         f"{str(shown or root)!r} has none", "Arrange it as ROOT/<class>/<image>.png, one folder per class.")
    images = [_open(path.read_bytes(), str(path.relative_to(root_path))) for path in sources]
    names = [str(path.relative_to(root_path)) for path in sources]
    return _to_frame(images, names, pd.Series(labels), target, options)


def load_table_images(frame: pd.DataFrame, target: str, column: str,
                      options: ImageOptions | None = None) -> tuple[pd.DataFrame, ImageInfo]:
    """Decode a column of encoded images (bytes, or {'bytes': ...} as Hugging Face datasets store them)."""
    options = options or ImageOptions()
    if column not in frame.columns:
        raise InputError("the image column must exist", f"{column!r} is not among {preview(frame.columns)}",
                         "Name the column that holds the PNG/JPEG bytes.")
    if target not in frame.columns:
        raise InputError("the target column must exist", f"{target!r} is not among the columns "
                         f"{preview(frame.columns)}", "Pass the name of the column that holds the class labels.")
    others = [c for c in frame.columns if c not in (column, target)]
    if others:
        logger.warning("Ignored %s columns beside the images: %s", len(others), preview(others, 5))
    names = [f"row {i}" for i in range(len(frame))]
    images = [_open(_bytes_of(value, name), name) for value, name in zip(frame[column], names)]
    return _to_frame(images, names, frame[target].reset_index(drop=True), target, options)


def _bytes_column(frame: pd.DataFrame, target: str) -> str | None:
    for name in frame.columns:
        if name != target and frame[name].dtype == object and len(frame) and _is_bytes(frame[name].iloc[0]):
            return name
    return None


def _is_bytes(value) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview)) or (isinstance(value, dict) and "bytes" in value)


def _bytes_of(value, name: str) -> bytes:
    if isinstance(value, dict):
        value = value.get("bytes")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InputError("every value of the image column must hold encoded image bytes",
                         f"{name} holds {type(value).__name__}", "Fill in or drop that row.")
    return bytes(value)


def _open(data: bytes, name: str):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError("every image file must decode as PNG or JPEG", f"{name!r} does not ({error})",
                         "Remove or replace the damaged file.") from error
    return image


def _channels(image) -> int:
    return 1 if image.mode in GREY_MODES else 3


def _to_frame(images: list, names: list[str], labels: pd.Series, target: str,
              options: ImageOptions) -> tuple[pd.DataFrame, ImageInfo]:
    """One row of pixels (0–255) per image, in one shape: the one asked for, or the one all share."""
    channels = options.channels or _only(images, names, _channels, "channels",
                                         "Pass channels (CLI: --image-channels 1 or 3) to convert them all.")
    if options.size is None:
        width, height = _only(images, names, lambda image: image.size, "size",
                              "Pass a size (CLI: --image-size HEIGHTxWIDTH) to resize them all.")
    else:
        height, width = options.size
    info = ImageInfo(height=height, width=width, channels=channels)
    frame = _pixels(images, info)
    frame[target] = labels.to_numpy()
    logger.info("Read %s images of %s×%s×%s", len(images), height, width, channels)
    return frame, info


def _pixels(images: list, info: ImageInfo) -> pd.DataFrame:
    """The images converted to `info`'s channels and resized to its size, one row of pixels each."""
    mode = "L" if info.channels == 1 else "RGB"
    pixels = np.empty((len(images), info.height * info.width * info.channels), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image.convert(mode)
        if image.size != (info.width, info.height):
            image = image.resize((info.width, info.height), resample=3)  # bicubic
        pixels[i] = np.asarray(image, dtype=np.uint8).reshape(-1)
    return pd.DataFrame(pixels, columns=pixel_names(info.height, info.width, info.channels))


PATH_COLUMN = "path"  # scoring a folder of images: each row's file, relative to the folder


def image_files(root: str) -> list[Path] | list[str]:
    """Every .png/.jpg file under `root`, at any depth, hidden files and folders left out, sorted (on an object
    store: their keys relative to `root`)."""
    if not storage.is_local(root):
        return [name for name in storage.files(root) if name.lower().endswith(SUFFIXES)
                and not any(part.startswith(".") for part in name.split("/"))]
    root_path = Path(str(root).removeprefix("file://"))
    return sorted(path for path in root_path.rglob("*") if path.is_file() and path.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in path.relative_to(root_path).parts))


def iter_image_chunks(root: str, chunk_rows: int, info: ImageInfo | None) -> Iterator[pd.DataFrame]:
    """Score-ready rows of every .png/.jpg under `root` (in class folders or not), `chunk_rows` at a time.

    Each image is converted to the model's shape `info`, as at training with --image-size
    and --image-channels; the `path` column names its file relative to `root`.
    """
    if info is None:
        raise InputError("a folder of images can be scored only by a model trained on images",
                         f"{str(root)!r} is a folder and the model was trained on a table",
                         "Score a CSV or Parquet file with this model, or a folder with an image model.")
    with storage.local_folder(root) as folder:  # a bucket's images are read here, as a local folder's
        root_path = Path(folder)
        files = image_files(folder)
        if not files:
            raise InputError("a folder to score must hold .png or .jpg images", f"{str(root)!r} has none",
                             "Point to the folder of images (class folders inside it are fine).")
        for start in range(0, len(files), chunk_rows):
            batch = files[start:start + chunk_rows]
            names = [str(path.relative_to(root_path)) for path in batch]
            frame = _pixels([_open(path.read_bytes(), name) for path, name in zip(batch, names)], info)
            frame.insert(0, PATH_COLUMN, names)
            yield frame


def _only(images: list, names: list[str], key, what: str, hint: str):
    """The one value of `key` that all images share, or a clear error naming examples of each."""
    groups: dict = {}
    for image, name in zip(images, names):
        groups.setdefault(key(image), []).append(name)
    if len(groups) > 1:
        found = "; ".join(f"{_show(value, what)} in {len(files)} (e.g. {files[0]!r})"
                          for value, files in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:4])
        raise InputError(f"images must share one {what}, or be converted to one", f"found {found}", hint)
    return next(iter(groups))


def _show(value, what: str) -> str:
    if what == "size":
        return f"{value[1]}×{value[0]}"  # PIL sizes are (width, height); show height×width
    return f"{value} channel{'s' if value != 1 else ''}"


def parse_size(text: str) -> tuple[int, int]:
    """Read HEIGHTxWIDTH (or a single number for square images), e.g. 28x28."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise InputError("an image size is written HEIGHTxWIDTH", f"got {text!r}", "Write e.g. 28x28.")
    return size
