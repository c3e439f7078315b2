"""Pictures that are odd on disk or inside: damaged EXIF, huge sparse files, pipes and devices, no pixels, NaN,
and very large pictures taken in without copying them about."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_tools.runtime import ImageError, load_image, preprocess
from model_tools.runtime.images import to_rgb

ROOT = Path(__file__).resolve().parents[2]
RED_CIRCLE = ROOT / "resources" / "samples" / "red-circle.png"


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _with_bad_exif(jpeg: bytes) -> bytes:
    """An APP1 "Exif" segment whose TIFF header is neither "II*" nor "MM*" (PIL: "not a TIFF file"), right
    after the SOI marker. With a JFIF density present, PIL only parses it when asked for the orientation."""
    payload = b"Exif\x00\x00" + b"XX\x00\x2a\x00\x00\x00\x08" + b"\x00" * 16
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_bad_exif_is_ignored_and_the_pixels_kept(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the left: shows any rotation
    path = tmp_path / "bad-exif.jpg"
    path.write_bytes(_with_bad_exif(_jpeg(image, dpi=(300, 300))))
    for source in (path, path.read_bytes()):
        loaded = load_image(source)
        assert loaded.size == (40, 20)  # orientation falls back to none
        r, _, b = loaded.getpixel((3, 10))
        assert r > 200 and b < 60
        r, _, b = loaded.getpixel((30, 10))
        assert b > 200 and r < 60


def test_bad_exif_through_the_cli(tmp_path):
    path = tmp_path / "red-circle.jpg"
    path.write_bytes(_with_bad_exif(_jpeg(Image.open(RED_CIRCLE).convert("RGB"), dpi=(72, 72))))
    done = subprocess.run(
        [sys.executable, "-m", "model_tools.cli", "ask", "--image", str(path), "--question", "what color is the circle?"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "red"


# Runs load_image under a 3 GiB address-space limit and reports what it raised and the peak RSS.
LIMITED = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from model_tools.runtime.images import load_image
try:
    load_image(sys.argv[1])
    outcome = {"type": None, "message": ""}
except Exception as exc:
    outcome = {"type": type(exc).__name__, "message": str(exc)}
# VmHWM (peak RSS) starts afresh at exec; ru_maxrss would carry the parent's peak.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
outcome["peak_rss_mib"] = int(hwm.split()[1]) / 1024
print(json.dumps(outcome))
"""


def _load_limited(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _sparse(path: Path, head: bytes, size: int = 4 << 30) -> Path:
    with path.open("wb") as f:  # a hole of `size` bytes after `head`: nothing is written to disk
        f.write(head)
        f.truncate(size)
    return path


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")


@needs_proc
def test_huge_sparse_non_image_is_refused_without_reading_it(tmp_path):
    outcome = _load_limited(_sparse(tmp_path / "huge.jpg", b""))
    assert outcome["type"] == "ImageError"
    assert "not an image" in str(outcome["message"])
    assert float(outcome["peak_rss_mib"]) < 300  # the 4 GiB were never read into memory


@needs_proc
def test_huge_file_with_a_real_header_is_refused_by_size(tmp_path):
    head = _jpeg(Image.new("RGB", (64, 48), (10, 200, 10)))
    outcome = _load_limited(_sparse(tmp_path / "huge-tail.jpg", head))
    assert outcome["type"] == "ImageError"
    assert "too large" in str(outcome["message"]) and "4.0 GB" in str(outcome["message"])
    assert float(outcome["peak_rss_mib"]) < 300


def test_a_fifo_is_named_as_such(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file: it is a FIFO"):
        load_image(fifo)  # and does not block opening it


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_a_device_is_named_as_such():
    with pytest.raises(ImageError, match="not a regular file: it is a character device"):
        load_image("/dev/zero")


@pytest.mark.parametrize("size", [(0, 0), (0, 10), (10, 0)])
def test_a_picture_without_pixels_is_refused(size):
    with pytest.raises(ImageError, match="no pixels"):
        load_image(Image.new("RGB", size))


@pytest.mark.filterwarnings("error")
def test_nan_float_tiff_loads_without_warnings(tmp_path):
    values = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    values[:5] = np.nan  # "no data" rows
    values[5, :3] = [np.inf, -np.inf, 0.5]
    path = tmp_path / "float.tif"
    Image.fromarray(values, "F").save(path)
    loaded = np.asarray(load_image(path))
    assert loaded.shape == (20, 30, 3)
    assert (loaded[:5] == 0).all()  # NaN is black
    assert tuple(loaded[5, 0]) == (255, 255, 255) and tuple(loaded[5, 1]) == (0, 0, 0)
    assert loaded[19, 29, 0] == 255  # 0..1 floats are scaled to 0..255


def test_16_bit_grey_is_rounded_as_before(tmp_path):
    """The float32, in-place scaling gives exactly what the float64 formula gave."""
    values = np.arange(0, 65536, 7, dtype=np.uint16)[: 90 * 100].reshape(90, 100)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    expected = np.clip(values.astype(np.float64) / 65535.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(load_image(path))[..., 0], expected)


def test_upright_rgb_is_not_copied():
    image = Image.new("RGB", (30, 20), (1, 2, 3))
    assert to_rgb(image) is image
    assert load_image(image) is image


def test_large_jpeg_is_decoded_at_a_reduced_scale_that_keeps_the_answer(tmp_path):
    """`at_least`: a 6400 x 4800 JPEG is decoded at half scale (still 4x the model's 384 px), and what the
    model sees differs from a full decode by at most one level of 255."""
    shapes = Image.open(ROOT / "resources" / "samples" / "three-shapes.png").convert("RGB")
    path = tmp_path / "big.jpg"
    path.write_bytes(_jpeg(shapes.resize((6400, 4800), Image.Resampling.BICUBIC)))
    small = load_image(path, at_least=(384, 384))
    assert small.size == (3200, 2400)
    full = preprocess(load_image(path), (384, 384), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    reduced = preprocess(small, (384, 384), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert np.abs(full - reduced).max() * 0.5 * 255 <= 1.0 + 1e-3
    # A picture not much larger than that is decoded in full.
    path.write_bytes(_jpeg(shapes.resize((3000, 2000), Image.Resampling.BICUBIC)))
    assert load_image(path, at_least=(384, 384)).size == (3000, 2000)
