"""Reading pictures safely and preprocessing them exactly like transformers' BlipImageProcessor."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Pictures larger than this are refused before decoding (a 16k x 16k photo is 256 Mpx).
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ImageSource = str | os.PathLike[str] | bytes | Image.Image


def load_image(source: ImageSource) -> Image.Image:
    """Open a picture from a path, raw bytes or a PIL image, as upright RGB.

    EXIF rotation is applied, animated images give their first frame, transparency is composited on white
    (as transformers does), and CMYK, 16-bit, palette and grey images are converted. Anything unreadable
    raises `ImageError` with a one-line reason.
    """
    name = "the pasted image"
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, bytes):
            if not source:
                raise ImageError("The image data is empty.")
            stream = io.BytesIO(source)
        else:
            path = Path(source)
            name = path.name
            if not path.exists():
                raise ImageError(f"{name}: file not found.", f"Check the path: {path}")
            if path.is_dir():
                raise ImageError(f"{name} is a folder, not an image.")
            if path.stat().st_size == 0:
                raise ImageError(f"{name} is empty (0 bytes).")
            stream = io.BytesIO(path.read_bytes())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(stream)
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{name} is too large to open safely (over {MAX_PIXELS // 1_000_000} megapixels).",
                "Scale it down first.",
            ) from None
        except UnidentifiedImageError:
            raise ImageError(f"{name} is not an image Glimpse can read.", "Try PNG, JPEG, WebP, BMP, GIF or TIFF.") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{name} is damaged or truncated ({exc}).") from None
    try:
        return to_rgb(image)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{name} could not be converted to RGB ({exc}).") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """First frame, EXIF orientation applied, 8-bit RGB with any transparency composited on white."""
    if getattr(image, "is_animated", False):
        image.seek(0)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of clipping (PIL's convert("L") clips at 255).
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        image = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8), "L")
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
