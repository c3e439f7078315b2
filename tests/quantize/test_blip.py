"""Quantization: a loadable, smaller int8/ beside fp16/, progress a GUI can show, clean cancellation, clear errors."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_tools.cli import main
from model_tools.jobs.requests import QuantizationError, QuantizeRequest
from model_tools.quantize import calibration
from model_tools.quantize.blip import quantize
from model_tools.quantize.calibration import CalibrationError, ModelInputs, load_samples
from model_tools.runtime import Cancelled, ConvertedModel, load
from model_tools.runtime.images import preprocess
from model_tools.runtime.model_folder import components

SUBSET = 4


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) with its sha256: equal snapshots mean an untouched folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def write_pictures(folder: Path, n: int, bad: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype("uint8")).save(folder / f"pic{i}.png")
    for i in range(bad):
        (folder / f"broken{i}.jpg").write_bytes(b"not a picture at all")
    (folder / "notes.txt").write_text("not a picture, not an error\n")
    return folder


_QUANTIZED: dict[Path, tuple[Path, list]] = {}


def quantized_vqa(tiny_vqa: Path, root: Path) -> tuple[Path, list]:
    """A copy of the tiny VQA model quantized with the built-in calibration data, and its progress reports.

    Made once per test session (test_compare uses it too); callers must not modify it.
    """
    if tiny_vqa not in _QUANTIZED:
        folder = shutil.copytree(tiny_vqa, root / "vqa")
        events: list = []
        quantize(QuantizeRequest(folder, subset_size=SUBSET), on_progress=events.append)
        _QUANTIZED[tiny_vqa] = (folder, events)
    return _QUANTIZED[tiny_vqa]


@pytest.fixture(scope="module")
def quantized(tiny_models, tmp_path_factory):
    return quantized_vqa(tiny_models["vqa"], tmp_path_factory.mktemp("q"))


@pytest.fixture()
def fresh(tiny_models, tmp_path):
    return shutil.copytree(tiny_models["vqa"], tmp_path / "vqa")


# -- the result ----------------------------------------------------------------------------------------------


def test_int8_is_loadable_smaller_and_recorded(quantized, images):
    folder, _ = quantized
    model = ConvertedModel.open(folder)
    assert model.precisions == ["fp16", "int8"]
    entry = model.manifest["precisions"]["int8"]
    assert set(entry["files"]) == {f"int8/{p}.{e}" for p in components("vqa") for e in ("xml", "bin")}
    for rel, rec in entry["files"].items():
        data = (folder / rel).read_bytes()
        assert rec == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    for part in components("vqa"):
        fp16 = (folder / "fp16" / f"{part}.bin").stat().st_size
        int8 = (folder / "int8" / f"{part}.bin").stat().st_size
        assert int8 < 0.75 * fp16, part
    assert entry["made_by"] == "quantize"
    assert entry["calibration"]["source"] == "builtin" and entry["calibration"]["samples"] == SUBSET
    assert entry["parts"]["vision_model"]["method"] == "nncf.quantize"
    assert entry["parts"]["text_encoder"]["model_type"] == "transformer"
    assert entry["parts"]["text_decoder"] == {"method": "nncf.compress_weights", "mode": "int8_asym"}
    assert entry["tools"]["nncf"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary folders left behind"

    pipe = load(folder, "int8")
    answer = pipe.ask(images[0], "what color is the circle?", max_new_tokens=5)
    assert answer.precision == "int8" and 1 <= len(answer.token_ids) <= 5


def statistics_pass(event) -> int:
    """Which of NNCF's statistics passes a report is of (its message says; 1 for other stages)."""
    found = re.search(r"statistics pass (\d+) of", event.message)
    return int(found.group(1)) if found else 1


def assert_progress_well_formed(events):
    """Stages come one after the other; within one, counts never go back (but start again with a new
    statistics pass), stay within the total, reach it."""
    stages = list(dict.fromkeys(e.stage for e in events))
    for stage in stages:
        mine = [e for e in events if e.stage == stage]
        passes = [statistics_pass(e) if "statistics pass" in e.message else 0 for e in mine]
        for i in range(1, len(passes)):  # a note (accuracy control's validation) is of the pass it is in
            passes[i] = passes[i] or passes[i - 1]
        order = list(zip(passes, (e.done for e in mine), strict=True))
        assert order == sorted(order), stage
        assert all(e.done <= e.total for e in mine), stage
        assert mine[-1].done == mine[-1].total > 0, stage
        first, last = events.index(mine[0]), len(events) - 1 - events[::-1].index(mine[-1])
        assert all(e.stage == stage for e in events[first : last + 1]), (
            f"{stage} interleaved with another stage"
        )
    return stages


def test_progress_arrives_in_order_and_reaches_the_total(quantized):
    _, events = quantized
    assert assert_progress_well_formed(events) == [
        "calibration data",
        "vision_model",
        "text_encoder inputs",
        "text_encoder",
        "text_decoder_cross_kv",
        "text_decoder",
        "save",
        "done",
    ]
    counted = [e for e in events if e.stage == "vision_model"]
    assert len(counted) == 2 + 2 * SUBSET  # start, one per transform call (two statistics passes), finish
    # The count is of the samples there are ("4 of 4 samples"), pass by pass, never "4 of 8".
    assert {e.unit for e in counted} == {"samples"} and {e.total for e in counted} == {SUBSET}
    assert [e.done for e in counted] == [0, *range(1, SUBSET + 1), *range(1, SUBSET + 1), SUBSET]
    assert [statistics_pass(e) for e in counted] == [1] * (SUBSET + 1) + [2] * (SUBSET + 1)
    assert all(e.message.endswith("of 2)") for e in counted)


def test_cancel_leaves_the_folder_as_it_was(fresh):
    before = snapshot(fresh)
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == "vision_model" and statistics_pass(p) == 2:  # inside NNCF's statistics collection
            cancel.set()

    with pytest.raises(Cancelled):
        quantize(QuantizeRequest(fresh, subset_size=2), on_progress=on_progress, cancel=cancel)
    assert snapshot(fresh) == before


def test_cancel_keeps_an_older_int8(quantized, tmp_path):
    folder = shutil.copytree(quantized[0], tmp_path / "again")
    before = snapshot(folder)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        quantize(
            QuantizeRequest(folder, subset_size=2),
            cancel=cancel,
            on_progress=lambda p: p.stage == "text_encoder" and cancel.set(),
        )
    assert snapshot(folder) == before
    load(folder, "int8")


def test_cli_caption_model_with_a_folder_and_int4_decoder(tiny_models, tmp_path, caplog, capsys, images):
    folder = shutil.copytree(tiny_models["caption"], tmp_path / "caption")
    pictures = write_pictures(tmp_path / "pics", 3, bad=1)
    argv = ["quantize", "--model", str(folder), "--calibration", str(pictures), "--subset-size", "3",
            "--decoder", "int4", "--group-size", "16", "--ratio", "1.0"]  # fmt: skip
    with caplog.at_level("WARNING", logger="glimpse.calibration"):
        assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(folder / "int8")
    assert "[vision_model]" in err and "━" not in out + err  # our progress lines, not NNCF's bars
    assert "broken0.jpg" in caplog.text  # skipped with a warning, not fatal
    entry = ConvertedModel.open(folder).manifest["precisions"]["int8"]
    assert entry["calibration"]["skipped"] == 1 and entry["calibration"]["samples"] == 3
    assert entry["parts"]["text_decoder"]["mode"] == "int4_asym"
    assert entry["parts"]["text_decoder_cross_kv"]["mode"] == "int8_asym"
    assert "text_encoder" not in entry["parts"]
    assert load(folder, "int8").caption(images[1], max_new_tokens=4).token_ids


def test_accuracy_control_records_agreement(fresh):
    events = []
    request = QuantizeRequest(fresh, subset_size=2, accuracy_control=True, max_drop=0.99, validation_size=2)
    quantize(request, on_progress=events.append)
    assert "vision_model" in assert_progress_well_formed(events)
    assert any("Accuracy control" in e.message for e in events)
    ac = ConvertedModel.open(fresh).manifest["precisions"]["int8"]["accuracy_control"]
    assert ac["max_drop"] == 0.99 and ac["validation_samples"] == 2
    assert set(ac["agreement"]) == {"vision_model", "text_encoder"}
    assert all(0.0 <= v <= 1.0 for v in ac["agreement"].values())


# -- calibration data ----------------------------------------------------------------------------------------


def test_builtin_samples_are_pictures_with_questions():
    got = load_samples("builtin", 6)
    assert len(got.samples) == 6
    for image, question in got.samples:
        assert isinstance(image, Image.Image) and question.strip()


def test_builtin_sample_pictures_come_with_their_own_questions():
    """The bundled pictures are asked what samples.json says (shape questions the demo models know), not
    photo questions such as "how many people are there?"."""
    index = json.loads((calibration.SAMPLES_DIR / "samples.json").read_text(encoding="utf-8"))
    own = {f"samples/{e['file']}": e["question"] for e in index}
    got = load_samples("builtin", len(own) + 3)
    bundled = [s for s in got.samples if s.origin.startswith("samples/")]
    assert {s.origin: s.question for s in bundled} == own
    assert not {s.question for s in got.samples} & set(calibration.GENERIC_QUESTIONS)
    assert got.describe()["questions"] == "samples + generated"
    # A questions file still wins.
    mine = calibration.builtin_samples(0, ["is it round?"])
    assert [next(mine).question for _ in own] == ["is it round?"] * len(own)


def test_folder_samples_use_the_questions_file_and_skip_unreadable(tmp_path, caplog):
    pictures = write_pictures(tmp_path / "pics", 2, bad=1)
    (pictures / "questions.txt").write_text("# comment\nwhat is this?\n\nis it red?\n")
    with caplog.at_level("WARNING", logger="glimpse.calibration"):
        got = load_samples(pictures, 5)
    assert [s.question for s in got.samples] == [
        "what is this?",
        "is it red?",
        "is it red?",
        "what is this?",
        "what is this?",
    ]
    assert len(got.skipped) == 1 and "broken0.jpg" in caplog.text
    assert got.describe()["questions"].endswith("questions.txt")


def test_inputs_come_from_the_runtime_preprocessing(tiny_models, images):
    model = ConvertedModel.open(tiny_models["vqa"])
    m = model.manifest["image"]
    inputs = ModelInputs(model)
    np.testing.assert_array_equal(
        inputs.pixels(images[0]), preprocess(images[0], tuple(m["size"]), m["mean"], m["std"])
    )
    q = inputs.question("what color is the circle?")
    assert q["input_ids"].dtype == np.int64 and q["input_ids"].shape == q["attention_mask"].shape
    pipe = load(tiny_models["vqa"], hints={"*": "f32"})
    assert q["input_ids"][0].tolist() == pipe.tokenizer.encode("what color is the circle?")[0]


# -- bad input -----------------------------------------------------------------------------------------------


def test_vqav2_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(CalibrationError, match="offline") as info:
        load_samples("vqav2", 4)
    assert "builtin" in info.value.fix


def test_vqav2_unreachable_is_a_clear_error(monkeypatch):
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'lmms-lab/VQAv2' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(CalibrationError, match="Could not stream VQAv2"):
        load_samples("vqav2", 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"calibration": "nowhere"}, CalibrationError, "Unknown calibration source"),
        ({"decoder": "int5"}, QuantizationError, "decoder mode"),
        ({"preset": "fast"}, QuantizationError, "preset"),
        ({"subset_size": 0}, QuantizationError, "at least 1"),
        ({"max_drop": 2.0}, QuantizationError, "out of range"),
    ],
)
def test_bad_options_are_refused_before_any_work(fresh, kwargs, error, words):
    before = snapshot(fresh)
    with pytest.raises(error, match=words):
        quantize(QuantizeRequest(fresh, **kwargs))
    assert snapshot(fresh) == before


def test_folder_without_pictures(fresh, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    with pytest.raises(CalibrationError, match="holds no pictures"):
        quantize(QuantizeRequest(fresh, calibration=empty))
    only_bad = write_pictures(tmp_path / "bad", 0, bad=2)
    with pytest.raises(CalibrationError, match="None of the 2 pictures"):
        quantize(QuantizeRequest(fresh, calibration=only_bad))
    assert not (fresh / "int8").exists()


def test_model_without_fp16(fresh):
    shutil.rmtree(fresh / "fp16")
    with pytest.raises(QuantizationError, match="no fp16/"):
        quantize(QuantizeRequest(fresh, subset_size=2))


def test_cli_errors_are_one_line(fresh, capsys):
    for argv in (
        ["quantize", "--model", str(fresh), "--decoder", "int5"],
        ["quantize", "--model", str(fresh), "--calibration", "nowhere"],
        ["quantize", "--model", str(fresh / "missing")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err


def test_sample_unpacks_as_image_and_question():
    sample = calibration.Sample(Image.new("RGB", (4, 4)), "what?")
    image, question = sample
    assert question == "what?" and image.size == (4, 4)
