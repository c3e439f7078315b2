"""What a mask becomes outside the model: its outline for drawing, a mask PNG, a cut-out, a region to ask about.

    levels = overlay_levels(mask)              # uint8 [H, W]: 0 outside, 1 inside, 2 the outline
    png = mask_png(mask)                       # black and white, the picture's size (as `model-tools segment`)
    png = cutout_png(picture, mask)            # RGBA, the background transparent
    region = region_picture(picture, mask)     # cropped to the mask's box (with a margin), the rest dimmed

`mask` is a bool [H, W] array at the picture's size (a `Masks.masks[i]`), `picture` the upright RGB picture
the mask was made on (`load_image`). Pure numpy and pillow: no model runs here, and nothing imports Qt.
runs in: any thread (the window calls these on a worker: a 12 Mpx picture takes a noticeable moment).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["bounding_box", "cutout_png", "mask_png", "outline_width", "overlay_levels", "region_picture"]

OUTSIDE, INSIDE, OUTLINE = 0, 1, 2
REGION_MARGIN = 0.08  # of the box's longer side, kept around a region for context
REGION_DIM = 0.3  # how bright the background of a region stays (1: as it was)


def _check(mask: np.ndarray, picture: Image.Image | None = None) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"A mask is [height, width], not {list(mask.shape)}.")
    if picture is not None and (picture.height, picture.width) != mask.shape:
        raise ValueError(
            f"The mask is {mask.shape[1]} x {mask.shape[0]} but the picture {picture.width} x {picture.height}: "
            "the mask belongs to another picture."
        )
    return mask.astype(bool, copy=False)


def outline_width(height: int, width: int) -> int:
    """Outline thickness in picture pixels: about 2 screen pixels when the picture is fitted to a window."""
    return max(1, round(max(height, width) / 400))


def overlay_levels(mask: np.ndarray, width: int | None = None, *, max_side: int | None = None) -> np.ndarray:
    """uint8 [H, W]: `OUTSIDE`, `INSIDE`, or `OUTLINE` for the mask's pixels within `width` (default
    `outline_width`) of its edge; the picture's border counts as an edge. With `max_side`, a larger mask is
    first scaled down (nearest pixel) to fit it: an overlay for the screen needs no more."""
    mask = _check(mask)
    h, w = mask.shape
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        rows = ((np.arange(max(1, round(h * scale))) + 0.5) / scale).astype(np.int64).clip(0, h - 1)
        cols = ((np.arange(max(1, round(w * scale))) + 0.5) / scale).astype(np.int64).clip(0, w - 1)
        mask = mask[rows[:, None], cols[None, :]]
        h, w = mask.shape
    r = outline_width(h, w) if width is None else max(1, int(width))
    k = 2 * r + 1
    # Erosion by a k x k square from an integral image: a pixel stays inside when its whole square is.
    padded = np.pad(mask, r, constant_values=False).astype(np.int32)
    integral = np.zeros((h + 2 * r + 1, w + 2 * r + 1), dtype=np.int32)
    np.cumsum(np.cumsum(padded, axis=0), axis=1, out=integral[1:, 1:])
    inner = (integral[k:, k:] - integral[:-k, k:] - integral[k:, :-k] + integral[:-k, :-k]) == k * k
    levels = np.zeros((h, w), dtype=np.uint8)
    levels[mask] = OUTLINE
    levels[inner] = INSIDE
    return levels


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the mask's pixels, x1 and y1 one past the last; None for an empty mask."""
    mask = _check(mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def mask_png(mask: np.ndarray) -> bytes:
    """The mask as a black and white PNG the picture's size (white: the object)."""
    return _png(Image.fromarray(_check(mask).astype(np.uint8) * 255, "L"))


def cutout_png(picture: Image.Image, mask: np.ndarray) -> bytes:
    """The picture as an RGBA PNG its own size, opaque on the mask and transparent elsewhere."""
    mask = _check(mask, picture)
    rgba = picture.convert("RGB").convert("RGBA")
    rgba.putalpha(Image.fromarray(mask.astype(np.uint8) * 255, "L"))
    return _png(rgba)


def region_picture(
    picture: Image.Image, mask: np.ndarray, *, margin: float = REGION_MARGIN, dim: float = REGION_DIM
) -> Image.Image:
    """The picture cropped to the mask's bounding box (plus `margin` of its longer side, inside the picture),
    with the pixels off the mask darkened to `dim` of their brightness: what a model is asked about."""
    mask = _check(mask, picture)
    box = bounding_box(mask)
    if box is None:
        raise ValueError("The mask is empty: there is no region to crop.")
    x0, y0, x1, y1 = box
    pad = round(max(x1 - x0, y1 - y0) * margin)
    x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
    x1, y1 = min(picture.width, x1 + pad), min(picture.height, y1 + pad)
    pixels = np.asarray(picture.convert("RGB").crop((x0, y0, x1, y1)), dtype=np.float32)
    keep = mask[y0:y1, x0:x1, None]
    out = np.where(keep, pixels, pixels * np.float32(dim))
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
