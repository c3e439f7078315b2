"""Draw Glimpse's app icon (an eye in a speech bubble) at the sizes platforms ask for.

python resources/icons/make_icons.py
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
TOP = (88, 70, 214)  # indigo
BOTTOM = (24, 160, 170)  # teal


def _gradient(side: int) -> Image.Image:
    grad = Image.new("RGB", (1, side))
    for y in range(side):
        t = y / (side - 1)
        grad.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True)))
    return grad.resize((side, side))


def draw(side: int = 1024) -> Image.Image:
    s = side / 1024
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))

    # Speech bubble: a rounded square with a tail at the bottom left.
    mask = Image.new("L", (side, side), 0)
    m = ImageDraw.Draw(mask)
    m.rounded_rectangle([64 * s, 64 * s, 960 * s, 840 * s], radius=200 * s, fill=255)
    m.polygon([(210 * s, 780 * s), (180 * s, 980 * s), (420 * s, 820 * s)], fill=255)
    shadow = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    shadow.paste((20, 16, 60, 90), (0, int(18 * s)), mask)
    canvas = Image.alpha_composite(canvas, shadow.filter(ImageFilter.GaussianBlur(18 * s)))
    bubble = _gradient(side).convert("RGBA")
    bubble.putalpha(mask)
    canvas = Image.alpha_composite(canvas, bubble)

    # The eye: an almond of two arcs, an iris and a pupil with a highlight.
    d = ImageDraw.Draw(canvas)
    cx, cy, w, h = 512 * s, 452 * s, 640 * s, 360 * s
    pts = []
    for i in range(181):
        a = math.pi * i / 180
        pts.append((cx - w / 2 + w * i / 180, cy - h / 2 * math.sin(a) ** 0.9))
    for i in range(181):
        a = math.pi * i / 180
        pts.append((cx + w / 2 - w * i / 180, cy + h / 2 * math.sin(a) ** 0.9))
    d.polygon(pts, fill=(255, 255, 255, 255))
    r = 132 * s
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(34, 132, 170, 255))
    r = 70 * s
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(22, 24, 48, 255))
    r = 30 * s
    hx, hy = cx + 48 * s, cy - 52 * s
    d.ellipse([hx - r, hy - r, hx + r, hy + r], fill=(255, 255, 255, 235))
    return canvas


def main() -> None:
    big = draw(1024)
    for size in SIZES:
        big.resize((size, size), Image.Resampling.LANCZOS).save(HERE / f"glimpse-{size}.png", optimize=True)
    big.resize((256, 256), Image.Resampling.LANCZOS).save(
        HERE / "glimpse.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
    )


if __name__ == "__main__":
    main()
