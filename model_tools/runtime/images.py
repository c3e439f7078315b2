"""Reading pictures safely and preprocessing them exactly like transformers' BlipImageProcessor."""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from model_tools.runtime.errors import ImageError

# Pictures larger than this are refused before decoding (a 16k x 16k photo is 256 Mpx).
# The normalisation CLIP-style vision towers (BLIP's among them) were trained with; converters write it into the
# model folder's preprocessor config, which is what `preprocess` then reads.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Files larger than this are refused before decoding: 200 Mpx of 16-bit RGBA is 1.6 GB even uncompressed.
MAX_FILE_BYTES = 2 << 30
# `load_image(..., at_least=)` decodes a JPEG at 1/2, 1/4 or 1/8 scale only while it keeps this many times
# the size asked for: the model's own bicubic resize then gives the same pixels to within a level or two.
DRAFT_MARGIN = 4

ImageSource = str | os.PathLike[str] | bytes | Image.Image

_NOT_REGULAR = {
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def load_image(source: ImageSource, *, at_least: tuple[int, int] | None = None) -> Image.Image:
    """Open a picture from a path, raw bytes or a PIL image, as upright RGB.

    EXIF rotation is applied (a damaged EXIF block is ignored), animated images give their first frame,
    transparency is composited on white (as transformers does), and CMYK, 16-bit, float, palette and grey
    images are converted. Files are checked (regular, not empty, an image by their header, not absurdly large)
    before PIL decodes them straight from disk. With `at_least` (width, height), a large JPEG may be decoded at
    a reduced scale that keeps `DRAFT_MARGIN` times that size (for a model that resizes it anyway). Anything
    unreadable raises `ImageError` with a one-line reason.
    """
    if isinstance(source, Image.Image):
        return _to_rgb_checked(source, "the picture")
    if isinstance(source, bytes):
        if not source:
            raise ImageError("The image data is empty.")
        return _decode(io.BytesIO(source), "the pasted image", len(source), at_least)
    path = Path(source)
    name = path.name
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found.", f"Check the path: {path}") from None
    except OSError as exc:
        raise ImageError(f"{name} cannot be read ({exc.strerror}).", f"Check the path: {path}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{name} is a folder, not an image.")
    for test, what in _NOT_REGULAR.items():
        if test(info.st_mode):
            raise ImageError(f"{name} is not a regular file: it is {what}, not an image.")
    if info.st_size == 0:
        raise ImageError(f"{name} is empty (0 bytes).")
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ImageError(f"{name} cannot be read ({exc.strerror}).", f"Check the path: {path}") from None
    with stream:
        return _decode(stream, name, info.st_size, at_least)


def _decode(stream: IO[bytes], name: str, size: int, at_least: tuple[int, int] | None) -> Image.Image:
    """Header first (PIL reads only what it needs to name the format and size), then size checks, then the
    pixels, decoded from `stream` as they are read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            if size > MAX_FILE_BYTES:
                raise ImageError(
                    f"{name} is too large to open ({size / 2**30:.1f} GB; pictures up to"
                    f" {MAX_FILE_BYTES // 2**30} GB are read).",
                    "Scale it down first.",
                )
            if at_least and image.format == "JPEG":
                image.draft("RGB", (at_least[0] * DRAFT_MARGIN, at_least[1] * DRAFT_MARGIN))
            image.load()
            return _to_rgb_checked(image, name)  # before the file closes: animated images read it to seek
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{name} is too large to open safely (over {MAX_PIXELS // 1_000_000} megapixels).",
            "Scale it down first.",
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image Glimpse can read.", "Try PNG, JPEG, WebP, BMP, GIF or TIFF.") from None
    except MemoryError:
        raise ImageError(f"{name} is too large to open with the memory available.", "Scale it down first.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name} is damaged or truncated ({exc}).") from None


def _to_rgb_checked(image: Image.Image, name: str) -> Image.Image:
    if image.width < 1 or image.height < 1:
        raise ImageError(f"{name} has no pixels ({image.width} x {image.height}).")
    try:
        return to_rgb(image)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{name} could not be converted to RGB ({exc}).") from None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1: upright), or 1 when the EXIF block is damaged: the pixels are still good."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, OSError, struct.error):
        return 1
    return value if isinstance(value, int) else 1


def _grey_to_l(arr: np.ndarray, scale: float) -> Image.Image:
    """float32 grey values times `scale`, rounded and clipped to 8 bits, in place: no float64 copies of a big
    picture (infinities clip to black or white)."""
    arr *= np.float32(scale)
    arr += np.float32(0.5)
    np.clip(arr, 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """First frame, EXIF orientation applied, 8-bit RGB with any transparency composited on white.

    Returns `image` itself when it already is upright RGB (no copy of a big picture)."""
    if getattr(image, "is_animated", False):
        image.seek(0)
    if _orientation(image) in range(2, 9):
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of clipping (PIL's convert("L") clips at 255).
        arr = np.array(image, dtype=np.float32)
        image = _grey_to_l(arr, 255.0 / 65535.0 if arr.max() > 255 else 1.0)
    elif image.mode == "F":
        arr = np.array(image, dtype=np.float32)
        arr[np.isnan(arr)] = 0.0  # "no data" in float TIFFs: black, and no numpy warning when cast to 8 bits
        top = np.max(arr, where=np.isfinite(arr), initial=0.0)  # 0..1 or 0..255, whatever infinities say
        image = _grey_to_l(arr, 255.0 if top <= 1.0 else 1.0)
    if image.mode == "RGB":
        return image
    has_alpha = "A" in image.getbands() or image.info.get("transparency") is not None
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def preprocess(
    image: Image.Image,
    size: tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> np.ndarray:
    """RGB -> bicubic resize to (height, width) -> rescale 1/255 -> normalise: float32 [1, 3, H, W]."""
    height, width = size
    rgb = to_rgb(image)
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), resample=Image.Resampling.BICUBIC)
    arr = np.asarray(rgb, dtype=np.float32) * np.float32(1 / 255)
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None], dtype=np.float32)
