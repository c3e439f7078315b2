"""Draw the sample pictures shown in Glimpse's empty state (coloured shapes, like the demo model's data).

python resources/samples/make_samples.py
"""

from __future__ import annotations

import json
from pathlib import Path

from model_tools.synthetic.shapes import Scene, Shape, render

HERE = Path(__file__).resolve().parent

SAMPLES = [
    ("red-circle.png", "what color is the circle?", Scene((Shape("circle", "red", 0.5, 0.5, 0.4),))),
    (
        "blue-square-yellow-triangle.png",
        "what shape is the yellow object?",
        Scene(
            (Shape("square", "blue", 0.3, 0.35, 0.3), Shape("triangle", "yellow", 0.68, 0.66, 0.34)),
            (246, 244, 238),
        ),
    ),
    (
        "three-shapes.png",
        "how many shapes are there?",
        Scene(
            (
                Shape("circle", "green", 0.26, 0.28, 0.26),
                Shape("square", "red", 0.72, 0.3, 0.24, 12.0),
                Shape("triangle", "blue", 0.5, 0.72, 0.32),
            )
        ),
    ),
    (
        "two-triangles.png",
        "how many triangles are there?",
        Scene(
            (Shape("triangle", "green", 0.3, 0.6, 0.34), Shape("triangle", "green", 0.7, 0.4, 0.3, -10.0)),
            (236, 242, 250),
        ),
    ),
]


def main() -> None:
    index = []
    for name, question, scene in SAMPLES:
        render(scene, size=256).save(HERE / name, optimize=True)
        index.append({"file": name, "question": question})
    (HERE / "samples.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
