"""Generated pictures of coloured shapes, with questions, one-word answers and captions.

A scene holds 1 to 3 non-overlapping shapes (circle, square, triangle) in solid colours (red, green,
blue, yellow) on a white or light plain background. Each shape's size is 15-40 % of the picture side;
the same shape or colour may appear several times. Everything is seeded by a `numpy.random.Generator`.

Only numpy and pillow are used here, so the runtime and the app can draw demo pictures too.

Geometry is in fractions of the picture side: (`cx`, `cy`) is the shape's centre, `size` its extent
(a circle's diameter, a square's side, a triangle's base; a triangle is at most `size` tall).
Two shapes never overlap: every shape fits in its bounding circle (`Shape.radius`, for any rotation)
and bounding circles keep a gap between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow")
NUMBERS = ("zero", "one", "two", "three")
QTYPES = ("color", "shape", "count", "yesno")
YES_NO = ("yes", "no")

MIN_SIZE = 0.15
MAX_SIZE = 0.40
MAX_SHAPES = 3
EDGE_MARGIN = 0.02  # between a shape's bounding circle and the picture border
GAP = 0.03  # between two shapes' bounding circles

# Shades drawn for each colour name (the first is the canonical one); a little jitter is added on top.
PALETTE: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((230, 25, 25), (255, 0, 0), (220, 20, 60), (200, 30, 30), (235, 60, 40), (190, 0, 0)),
    "green": ((30, 170, 50), (0, 128, 0), (0, 200, 0), (0, 255, 0), (34, 139, 34), (60, 180, 75)),
    "blue": ((30, 70, 220), (0, 0, 255), (0, 90, 200), (65, 105, 225), (0, 50, 160), (30, 30, 200)),
    "yellow": ((250, 215, 0), (255, 255, 0), (255, 215, 0), (240, 220, 40), (250, 230, 80), (230, 200, 0)),
}
WHITE = (255, 255, 255)

# Templates (answers are single lowercase words).
COUNT_ALL_QUESTION = "how many shapes are there?"


def color_question(kind: str) -> str:
    return f"what color is the {kind}?"


def shape_question(color: str) -> str:
    return f"what shape is the {color} object?"


def count_question(kind: str) -> str:
    return f"how many {kind}s are there?"


def exists_question(kind: str, color: str | None = None) -> str:
    return f"is there a {color} {kind}?" if color else f"is there a {kind}?"


# Every word the questions, answers and captions use (the vocabulary of the demo model).
DEMO_WORDS: list[str] = [
    *"what color is the shape object how many shapes are there a and".split(),
    *KINDS,
    *(k + "s" for k in KINDS),
    *COLORS,
    *NUMBERS,
    *YES_NO,
]
# Punctuation and word pieces the tokenizer needs besides whole words.
DEMO_PIECES: list[str] = ["?", ",", ".", "##s"]


@dataclass(frozen=True)
class Shape:
    kind: str  # circle | square | triangle
    color: str  # red | green | blue | yellow
    cx: float  # centre, fraction of the picture width
    cy: float  # centre, fraction of the picture height
    size: float  # extent, fraction of the picture side (0.15 - 0.40)
    rotation: float = 0.0  # degrees, squares and triangles only
    rgb: tuple[int, int, int] | None = None  # exact fill; None draws the canonical shade

    @property
    def radius(self) -> float:
        """Radius of a circle around the centre that holds the shape at any rotation."""
        return self.size / 2 if self.kind == "circle" else self.size / math.sqrt(2)

    @property
    def fill(self) -> tuple[int, int, int]:
        return self.rgb if self.rgb is not None else PALETTE[self.color][0]


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: tuple[int, int, int] = WHITE

    def count(self, kind: str | None = None, color: str | None = None) -> int:
        return sum(
            1 for s in self.shapes if (kind is None or s.kind == kind) and (color is None or s.color == color)
        )

    def left_to_right(self) -> list[Shape]:
        return sorted(self.shapes, key=lambda s: (s.cx, s.cy))

    @property
    def kinds(self) -> set[str]:
        return {s.kind for s in self.shapes}

    @property
    def colors(self) -> set[str]:
        return {s.color for s in self.shapes}


def overlaps(a: Shape, b: Shape, gap: float = 0.0) -> bool:
    """True when the bounding circles of two shapes are closer than `gap`."""
    return math.hypot(a.cx - b.cx, a.cy - b.cy) < a.radius + b.radius + gap


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int = 12) -> tuple[int, int, int]:
    out = np.clip(np.asarray(rgb) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return (int(out[0]), int(out[1]), int(out[2]))


def random_background(rng: np.random.Generator) -> tuple[int, int, int]:
    """White (40 %) or a light, nearly neutral tint (every channel at least 215)."""
    if rng.random() < 0.4:
        return WHITE
    base = int(rng.integers(228, 256))
    tint = np.clip(base + rng.integers(-12, 13, 3), 215, 255)
    return (int(tint[0]), int(tint[1]), int(tint[2]))


def random_scene(rng: np.random.Generator, n_shapes: int | None = None) -> Scene:
    """1-3 shapes (or `n_shapes`) placed without overlap, random kinds, colours, sizes and positions."""
    n = int(n_shapes) if n_shapes is not None else int(rng.integers(1, MAX_SHAPES + 1))
    if not 1 <= n <= MAX_SHAPES:
        raise ValueError(f"n_shapes must be 1..{MAX_SHAPES}, got {n}")
    background = random_background(rng)
    for _ in range(1000):
        kinds: list[str] = []
        colors: list[str] = []
        for i in range(n):
            # Repeats are a little more likely than chance so counts of two and three occur often enough.
            kinds.append(
                kinds[int(rng.integers(i))] if i and rng.random() < 0.25 else KINDS[int(rng.integers(3))]
            )
            colors.append(
                colors[int(rng.integers(i))] if i and rng.random() < 0.2 else COLORS[int(rng.integers(4))]
            )
        placed: list[Shape] = []
        for kind, color in zip(kinds, colors, strict=True):
            size = float(rng.uniform(MIN_SIZE, MAX_SIZE))
            rotation = 0.0
            if kind != "circle" and rng.random() < 0.5:
                rotation = float(rng.uniform(-15.0, 15.0))
            rgb = _jitter(PALETTE[color][int(rng.integers(len(PALETTE[color])))], rng)
            probe = Shape(kind, color, 0.5, 0.5, size, rotation, rgb)
            lo, hi = probe.radius + EDGE_MARGIN, 1.0 - probe.radius - EDGE_MARGIN
            for _ in range(60):
                cx, cy = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
                shape = Shape(kind, color, cx, cy, size, rotation, rgb)
                if not any(overlaps(shape, other, GAP) for other in placed):
                    placed.append(shape)
                    break
            else:
                break
        if len(placed) == n:
            return Scene(tuple(placed), background)
    raise RuntimeError("could not place the shapes")  # pragma: no cover - 3 shapes always fit


def _polygon(shape: Shape, side: float, style: str) -> list[tuple[float, float]]:
    s = shape.size * side
    if shape.kind == "square":
        pts = [(-s / 2, -s / 2), (s / 2, -s / 2), (s / 2, s / 2), (-s / 2, s / 2)]
    else:  # triangle pointing up, its bounding box centred on the shape's centre
        h = s if style == "box" else s * math.sqrt(3) / 2
        pts = [(-s / 2, h / 2), (s / 2, h / 2), (0.0, -h / 2)]
    a = math.radians(shape.rotation)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = shape.cx * side, shape.cy * side
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in pts]


def render(scene: Scene, size: int = 192, rng: np.random.Generator | None = None) -> Image.Image:
    """Draw the scene as an RGB picture `size` pixels square.

    Without `rng` the drawing is plain (anti-aliased, equilateral triangles). With `rng` it varies a
    little: hard or smooth edges, equilateral or box-shaped triangles, a slight blur, a little noise.
    """
    smooth = 3 if rng is None else int(rng.choice([1, 2, 2]))
    side = size * smooth
    image = Image.new("RGB", (side, side), scene.background)
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        if shape.kind == "circle":
            r = shape.size * side / 2
            cx, cy = shape.cx * side, shape.cy * side
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shape.fill)
        else:
            style = "equilateral" if rng is None or rng.random() < 0.6 else "box"
            draw.polygon(_polygon(shape, side, style), fill=shape.fill)
    if smooth > 1:
        image = image.resize((size, size), Image.Resampling.BOX)
    if rng is not None:
        if rng.random() < 0.3:
            image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2)) * size / 192))
        if rng.random() < 0.3:
            arr = np.asarray(image, dtype=np.float32)
            arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(rng.uniform(1.0, 8.0))
            image = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    return image


# ---------------------------------------------------------------------------------------------
# Questions and captions


def _count_answer(n: int) -> str:
    return NUMBERS[n]


def _yes_no_candidates(scene: Scene) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(question, kind of template) lists whose answer is yes, and whose answer is no."""
    yes: list[tuple[str, str]] = []
    no: list[tuple[str, str]] = []
    for kind in KINDS:
        (yes if scene.count(kind) else no).append((exists_question(kind), "kind"))
    for color in COLORS:
        for kind in KINDS:
            (yes if scene.count(kind, color) else no).append((exists_question(kind, color), "pair"))
    return yes, no


def questions_for(scene: Scene, rng: np.random.Generator | None = None) -> list[tuple[str, str, str]]:
    """Every question the templates allow about the scene, as (question, answer, qtype).

    Colour questions only for shapes that appear exactly once, shape questions only for colours that
    appear exactly once, every count question (including answers "zero"), and as many yes as no
    questions (drawn with `rng`).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    out: list[tuple[str, str, str]] = []
    for kind in KINDS:
        if scene.count(kind) == 1:
            (only,) = [s for s in scene.shapes if s.kind == kind]
            out.append((color_question(kind), only.color, "color"))
    for color in COLORS:
        if scene.count(color=color) == 1:
            (only,) = [s for s in scene.shapes if s.color == color]
            out.append((shape_question(color), only.kind, "shape"))
    out.append((COUNT_ALL_QUESTION, _count_answer(len(scene.shapes)), "count"))
    for kind in KINDS:
        out.append((count_question(kind), _count_answer(scene.count(kind)), "count"))
    yes, no = _yes_no_candidates(scene)
    k = min(len(yes), len(no))
    for pool, answer in ((yes, "yes"), (no, "no")):
        for i in sorted(rng.choice(len(pool), size=k, replace=False)):
            out.append((pool[int(i)][0], answer, "yesno"))
    return out


def available_qtypes(scene: Scene) -> list[str]:
    types = []
    if any(scene.count(k) == 1 for k in KINDS):
        types.append("color")
    if any(scene.count(color=c) == 1 for c in COLORS):
        types.append("shape")
    return [*types, "count", "yesno"]


def sample_question(
    scene: Scene,
    rng: np.random.Generator,
    qtype: str | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[str, str, str]:
    """One question about the scene as (question, answer, qtype).

    `qtype` picks the type (if the scene allows it), else one is drawn with `weights` (uniform by default)
    among the types the scene allows. Yes/no questions are yes half of the time; half of the "no"
    questions about a coloured shape are hard ones (the colour or the shape is in the picture).
    """
    types = available_qtypes(scene)
    if qtype is None or qtype not in types:
        if qtype is not None and qtype not in QTYPES:
            raise ValueError(f"unknown question type {qtype!r}")
        w = np.array([(weights or {}).get(t, 1.0) for t in types], dtype=np.float64)
        qtype = types[int(rng.choice(len(types), p=w / w.sum()))]
    if qtype == "color":
        kinds = [k for k in KINDS if scene.count(k) == 1]
        kind = kinds[int(rng.integers(len(kinds)))]
        (only,) = [s for s in scene.shapes if s.kind == kind]
        return color_question(kind), only.color, "color"
    if qtype == "shape":
        colors = [c for c in COLORS if scene.count(color=c) == 1]
        color = colors[int(rng.integers(len(colors)))]
        (only,) = [s for s in scene.shapes if s.color == color]
        return shape_question(color), only.kind, "shape"
    if qtype == "count":
        if rng.random() < 0.25:
            return COUNT_ALL_QUESTION, _count_answer(len(scene.shapes)), "count"
        kind = KINDS[int(rng.integers(3))]
        return count_question(kind), _count_answer(scene.count(kind)), "count"
    # yes / no
    want_yes = bool(rng.random() < 0.5)
    use_kind = bool(rng.random() < 0.4)
    if use_kind:
        kinds = [k for k in KINDS if bool(scene.count(k)) == want_yes]
        if kinds:
            return (
                exists_question(kinds[int(rng.integers(len(kinds)))]),
                YES_NO[0 if want_yes else 1],
                "yesno",
            )
    pairs = [(c, k) for c in COLORS for k in KINDS if bool(scene.count(k, c)) == want_yes]
    if not want_yes and rng.random() < 0.5:
        hard = [(c, k) for c, k in pairs if c in scene.colors or k in scene.kinds]
        pairs = hard or pairs
    color, kind = pairs[int(rng.integers(len(pairs)))]
    return exists_question(kind, color), YES_NO[0 if want_yes else 1], "yesno"


def caption_for(scene: Scene) -> str:
    """'a red circle and a blue square', 'two green triangles and a yellow circle', ... left to right.

    Shapes of the same colour and kind are counted together, at the place of the leftmost one.
    """
    groups: dict[tuple[str, str], int] = {}
    for shape in scene.left_to_right():
        key = (shape.color, shape.kind)
        groups[key] = groups.get(key, 0) + 1
    phrases = [
        f"a {color} {kind}" if n == 1 else f"{NUMBERS[n]} {color} {kind}s"
        for (color, kind), n in groups.items()
    ]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def caption_words(text: str) -> list[str]:
    """Lowercase words of a caption with plurals made singular ('circles' -> 'circle')."""
    words = "".join(ch if ch.isalpha() else " " for ch in text.lower()).split()
    singular = {k + "s": k for k in KINDS}
    return [singular.get(w, w) for w in words]


def caption_names_all(text: str, scene: Scene) -> bool:
    """True when the caption names every shape kind and every colour present in the scene."""
    words = set(caption_words(text))
    return scene.kinds <= words and scene.colors <= words


def sample(rng: np.random.Generator, size: int = 192) -> tuple[Image.Image, str, str, str, str]:
    """A fresh (image, question, answer, qtype, caption)."""
    scene = random_scene(rng)
    image = render(scene, size=size, rng=rng)
    question, answer, qtype = sample_question(scene, rng)
    return image, question, answer, qtype, caption_for(scene)
