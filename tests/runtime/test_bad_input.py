"""Bad input either works (converted, rotated, first frame) or fails with one clear sentence."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from model_tools.runtime import (
    CorruptModelError,
    DeviceUnavailableError,
    ImageError,
    ModelNotFoundError,
    load,
    load_image,
)


def _save(image: Image.Image, path, **kw):
    image.save(path, **kw)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p / "missing.png",
        lambda p: _touch(p / "empty.png", b""),
        lambda p: _touch(p / "notes.png", b"this is text, not a picture\n" * 10),
        lambda p: _truncated_png(p / "truncated.png"),
        lambda p: p,  # a folder
    ],
    ids=["missing", "empty", "not-an-image", "truncated", "folder"],
)
def test_unreadable_files_give_one_clear_line(tmp_path, make):
    with pytest.raises(ImageError) as info:
        load_image(make(tmp_path))
    text = str(info.value)
    assert "\n" not in text and len(text) < 200
    assert "Traceback" not in text


def _touch(path, data: bytes):
    path.write_bytes(data)
    return path


def _truncated_png(path):
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def test_decompression_bomb_is_refused(tmp_path):
    # A PNG header claiming 30000 x 30000 pixels (900 Mpx) with almost no data.
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    path = _touch(tmp_path / "bomb.png", data)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_exotic_modes_become_rgb(tmp_path):
    rng = np.random.default_rng(1)
    rgb = Image.fromarray((rng.random((20, 30, 3)) * 255).astype("uint8"))
    cases = {
        "cmyk.jpg": rgb.convert("CMYK"),
        "grey16.png": Image.fromarray((rng.random((20, 30)) * 65535).astype("uint16")),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "alpha.png": rgb.convert("RGBA"),
        "la.png": rgb.convert("LA"),
        "bw.png": rgb.convert("1"),
    }
    for name, image in cases.items():
        loaded = load_image(_save(image, tmp_path / name))
        assert loaded.mode == "RGB" and loaded.size == (30, 20), name
    # 16-bit grey is scaled, not clipped to white
    assert np.asarray(load_image(tmp_path / "grey16.png")).mean() < 200


def test_transparency_is_composited_on_white(tmp_path):
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_image(_save(clear, tmp_path / "clear.png")).getpixel((3, 3)) == (255, 255, 255)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = load_image(path).getpixel((5, 5))
    assert r > 200 and b < 50


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 128, 0))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    r, g, _ = loaded.getpixel((10, 3))  # after rotating clockwise, the red stripe is on top
    assert r > 200 and g < 80


def test_image_bytes_and_pil_are_accepted(images):
    buf = io.BytesIO()
    images[0].save(buf, "PNG")
    assert load_image(buf.getvalue()).size == images[0].size
    assert load_image(images[0].convert("L")).mode == "RGB"
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_overlong_question_is_truncated_not_a_crash(tiny_models, images):
    pipe = load(tiny_models["vqa"], hints={"*": "f32"})
    limit = pipe.tokenizer.max_length
    answer = pipe.ask(images[0], "is there a red circle " * 200, max_new_tokens=3)
    assert answer.truncated_question
    assert limit < 5 * 200
    assert pipe.ask(images[0], "什么颜色? ¿qué color? 🟥", max_new_tokens=3).token_ids  # unknown words -> [UNK]


def test_missing_file_is_named(model_copy):
    (model_copy / "fp16" / "text_decoder.bin").unlink()
    with pytest.raises(CorruptModelError, match="fp16/text_decoder.bin"):
        load(model_copy)


def test_truncated_file_is_named(model_copy):
    path = model_copy / "fp16" / "vision_model.bin"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptModelError, match="fp16/vision_model.bin.*truncated"):
        load(model_copy)


def test_altered_file_is_named(model_copy):
    path = model_copy / "fp16" / "text_encoder.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="fp16/text_encoder.bin.*checksum"):
        load(model_copy)


def test_altered_file_is_caught_even_after_a_good_load(model_copy):
    load(model_copy)  # stamps the checksums
    path = model_copy / "tokenizer.json"
    text = path.read_text().replace("circle", "circus")
    path.write_text(text)
    with pytest.raises(CorruptModelError, match="tokenizer.json"):
        load(model_copy)


def test_missing_or_broken_manifest(model_copy, tmp_path):
    with pytest.raises(ModelNotFoundError):
        load(tmp_path / "nowhere")
    (model_copy / "manifest.json").write_text("{ not json")
    with pytest.raises(CorruptModelError, match="manifest.json"):
        load(model_copy)
    (model_copy / "manifest.json").unlink()
    with pytest.raises(CorruptModelError, match="not a converted"):
        load(model_copy)


def test_missing_precision_says_how_to_make_it(model_copy):
    with pytest.raises(ModelNotFoundError, match="quantize"):
        load(model_copy, precision="int8")
    manifest = json.loads((model_copy / "manifest.json").read_text())
    assert "int8" not in manifest["precisions"]


def test_unknown_device_names_the_devices_that_exist(tiny_models):
    with pytest.raises(DeviceUnavailableError) as info:
        load(tiny_models["vqa"], device="TPU")
    assert "CPU" in str(info.value) and "AUTO" in str(info.value)
