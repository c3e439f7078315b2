"""Peak memory of taking one big picture in the way `ask` does: `preprocess(load_image(path), 384 px)`.

    .venv/bin/python scripts/image_memory.py [--megapixels 196] [--picture FILE]

Each case runs in a fresh process and prints its peak RSS (VmHWM, Linux) beside the baseline of a process that
only imported the same modules; one JSON object on stdout. The picture (a JPEG of noise and stripes) is made
once in a temporary folder unless --picture names one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
from model_tools.runtime.images import load_image, preprocess
def peak_kib():  # VmHWM starts afresh at exec (ru_maxrss would carry the parent's peak)
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1])
case, path = sys.argv[1], sys.argv[2]
base = peak_kib()
if case == "ask":
    preprocess(load_image(path), (384, 384), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
elif case == "ask_draft":
    preprocess(load_image(path, at_least=(384, 384)), (384, 384), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
print(json.dumps({"baseline_mib": base / 1024, "peak_mib": peak_kib() / 1024}))
"""


def make_picture(path: Path, megapixels: int) -> None:
    import numpy as np
    from PIL import Image

    side = int((megapixels * 1_000_000) ** 0.5)
    rng = np.random.default_rng(0)
    row = (rng.random((1, side, 3)) * 255).astype(np.uint8)
    pixels = np.broadcast_to(row, (side, side, 3)).copy()
    pixels[::7] = 255 - pixels[::7]
    Image.fromarray(pixels).save(path, quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=int, default=196)
    parser.add_argument("--picture", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        picture = args.picture or Path(tmp) / f"{args.megapixels}mpx.jpg"
        if not picture.exists():
            make_picture(picture, args.megapixels)
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # only the size is read here
        with Image.open(picture) as image:
            size = image.size
        report: dict[str, object] = {
            "picture": {"size": size, "megapixels": round(size[0] * size[1] / 1e6, 1),
                        "file_mib": round(picture.stat().st_size / 2**20, 1),
                        "rgb_mib": round(size[0] * size[1] * 3 / 2**20, 1)},
            "python": sys.executable,
        }
        for case in ("import_only", "ask", "ask_draft"):
            done = subprocess.run([sys.executable, "-c", CHILD, case, str(picture)], cwd=ROOT,
                                  capture_output=True, text=True)
            if done.returncode:
                report[case] = {"error": done.stderr.strip().splitlines()[-1]}
                continue
            data = json.loads(done.stdout)
            report[case] = {"peak_rss_mib": round(data["peak_mib"], 1),
                            "above_baseline_mib": round(data["peak_mib"] - data["baseline_mib"], 1)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
