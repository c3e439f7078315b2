"""`model-tools segment`: the best mask as a black and white PNG the picture's size, equal to the runtime's;
IoU scores and timings as text or one JSON object; bad input refused in one line, and --out never replaced
without --force."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from model_tools.cli import main
from model_tools.runtime.segment.pipeline import load

WIDTH, HEIGHT = 150, 90


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    """A landscape picture (not the model's square) with a red disc and a blue block on grey."""
    path = tmp_path_factory.mktemp("segment-cli") / "shapes.png"
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.full((HEIGHT, WIDTH, 3), 200, dtype=np.uint8)
    pixels[(x - 45) ** 2 + (y - 45) ** 2 < 25**2] = (220, 30, 30)
    pixels[20:70, 95:135] = (30, 60, 210)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def pipe(tiny_sam_model):
    return load(tiny_sam_model)  # as the CLI loads it: fp16, the CPU's own policy


def run(capsys, *args):
    code = main(["segment", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_the_best_mask_as_a_png(tiny_sam_model, picture, pipe, tmp_path, capsys):
    out = tmp_path / "mask.png"
    code, text, err = run(capsys, "--model", tiny_sam_model, "--image", picture, "--point", "45,45",
                          "--point", "110,40:neg", "--out", out)
    assert code == 0, err
    mask = Image.open(out)
    assert mask.format == "PNG" and mask.size == (WIDTH, HEIGHT) and mask.mode == "L"
    values = np.asarray(mask)
    assert set(np.unique(values)) <= {0, 255}
    want = pipe.segment(pipe.encode(picture), [(45, 45), (110, 40)], [1, 0])
    assert np.array_equal(values == 255, want.best_mask)
    assert "IoU scores:" in text and "encoder" in text and "decoder" in text and "ms" in text


def test_json_gives_iou_and_timings(tiny_sam_model, picture, pipe, tmp_path, capsys):
    out = tmp_path / "boxed.png"
    code, text, err = run(capsys, "--model", tiny_sam_model, "--image", picture, "--box", "90,15,140,75",
                          "--out", out, "--json")
    assert code == 0, err
    result = json.loads(text)
    want = pipe.segment(pipe.encode(picture), box=(90, 15, 140, 75))
    assert result["best"] == want.best and np.allclose(result["iou"], want.iou, atol=1e-3)
    assert result["size"] == [WIDTH, HEIGHT] and result["pixels"] == int(want.best_mask.sum())
    assert result["timings_ms"]["encoder"] > 0 and result["timings_ms"]["decoder"] > 0
    assert result["setup"].startswith("FP16") and result["out"] == str(out)
    assert np.array_equal(np.asarray(Image.open(out)) == 255, want.best_mask)


def test_refusals_are_one_line(tiny_sam_model, tiny_models, picture, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"the user's own file")
    common = ["--model", tiny_sam_model, "--image", picture]
    cases = {
        "no point and no box": [*common, "--out", tmp_path / "a.png"],
        "outside the picture": [*common, "--point", f"{WIDTH + 5},10", "--out", tmp_path / "a.png"],
        "is not 2 numbers": [*common, "--point", "12", "--out", tmp_path / "a.png"],
        "box": [*common, "--box", "50,50,10,10", "--out", tmp_path / "a.png"],
        "broken.jpg": ["--model", tiny_sam_model, "--image", broken, "--point", "1,1", "--out", tmp_path / "a.png"],
        "not a segment": ["--model", tiny_models["vqa"], "--image", picture, "--point", "1,1",
                          "--out", tmp_path / "a.png"],
        "already exists": [*common, "--point", "45,45", "--out", taken],
        "PNG": [*common, "--point", "45,45", "--out", tmp_path / "mask.jpg"],
    }
    for words, args in cases.items():
        code, text, err = run(capsys, *args)
        line = err.strip()
        assert code == 2 and line.startswith("error:") and "\n" not in line and "Traceback" not in line, (words, err)
        assert words.lower() in line.lower() or (words == "not a segment" and "Segment Anything" in line), line
        assert not text
    assert taken.read_bytes() == b"the user's own file" and not (tmp_path / "a.png").exists()
    code, _, err = run(capsys, *common, "--point", "45,45", "--out", taken, "--force")
    assert code == 0, err
    assert Image.open(taken).size == (WIDTH, HEIGHT)
