"""Which file and precision hint each part runs with: a rule over the hardware, the same at every load.

The rule is checked for both kinds of CPU this project runs on (AVX2 only; AVX-512 with VNNI and BF16) by
giving `plan` each machine's description; the loads below run on whatever CPU this is, and check what holds
on every CPU: the same set-up and answer at every load, AUTO / MULTI / HETERO answering as CPU does, a compile
cache that follows the files' content.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model_tools.runtime import DeviceUnavailableError, check_device, load, paths
from model_tools.runtime import precision as policy
from model_tools.runtime.model_folder import CROSS_KV, DECODER, MANIFEST, TEXT_ENCODER, VISION
from model_tools.synthetic.tiny_blip import make_tiny_blip
from tests.conftest import TINY_STD

DEMO_VQA = paths.RESOURCES / "models" / "demo-shapes-vqa"
VQA_PARTS = [VISION, TEXT_ENCODER, CROSS_KV, DECODER]
AVX2_ONLY = policy.Hardware("CPU", bf16=False, int8_dot=False)  # e.g. the AMD EPYC machines
AVX512_BF16 = policy.Hardware("CPU", bf16=True, int8_dot=True)  # AVX-512 VNNI + BF16


@pytest.fixture()
def cpu_is(monkeypatch):
    def use(hw: policy.Hardware) -> None:
        monkeypatch.setattr(policy, "hardware", lambda device: hw if device.startswith("CPU") else policy.Hardware("GPU"))
        monkeypatch.setattr(policy, "targets", lambda device: ["CPU"] if device in ("CPU", "AUTO") else [device])

    monkeypatch.delenv(policy.ENV_VAR, raising=False)
    return use


def setup_of(precision: str, device: str = "CPU", **kw) -> dict[str, tuple[str, str | None]]:
    setups, _ = policy.plan(precision, device, VQA_PARTS, **kw)
    return {part: (s.source, s.hint) for part, s in setups.items()}


def test_int8_on_an_avx2_only_cpu_runs_the_compute_bound_parts_from_fp16_files(cpu_is):
    cpu_is(AVX2_ONLY)
    assert setup_of("int8") == {
        VISION: ("fp16", "f32"),
        TEXT_ENCODER: ("fp16", "f32"),
        CROSS_KV: ("int8", "f32"),
        DECODER: ("int8", "f32"),
    }
    setups, _ = policy.plan("int8", "CPU", VQA_PARTS)
    assert policy.setup_label("int8", "CPU", setups) == "INT8 · vision, question encoder FP16 on this CPU · f32"
    assert "no VNNI" in setups[VISION].why
    assert setup_of("fp16") == {p: ("fp16", "f32") for p in VQA_PARTS}
    # A model without FP16 files keeps INT8 everywhere.
    assert {s for s, _ in setup_of("int8", has_fp16=False).values()} == {"int8"}


def test_avx512_vnni_bf16_cpu_runs_int8_files_in_f32_and_fp16_files_in_bf16(cpu_is):
    cpu_is(AVX512_BF16)
    assert setup_of("int8") == {p: ("int8", "f32") for p in VQA_PARTS}
    assert setup_of("fp16") == {p: ("fp16", "bf16") for p in VQA_PARTS}
    setups, _ = policy.plan("fp16", "CPU", VQA_PARTS)
    assert policy.setup_label("fp16", "CPU", setups) == "FP16 · bf16"


def test_exact_precision_and_pinned_hints_use_the_named_files(cpu_is):
    for hw in (AVX2_ONLY, AVX512_BF16):
        cpu_is(hw)
        assert setup_of("int8", exact=True) == {p: ("int8", "f32") for p in VQA_PARTS}
        assert setup_of("fp16", exact=True) == {p: ("fp16", "f32") for p in VQA_PARTS}
        assert setup_of("int8", hints={"*": "bf16"}) == {p: ("int8", "bf16") for p in VQA_PARTS}


def test_auto_gets_the_cpu_rule_through_device_properties(cpu_is):
    cpu_is(AVX512_BF16)
    _, configs = policy.plan("fp16", "AUTO", VQA_PARTS)
    assert configs[VISION] == {
        "DEVICE_PROPERTIES": {"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}},
        "ENABLE_STARTUP_FALLBACK": False,
    }
    _, configs = policy.plan("fp16", "CPU", VQA_PARTS)
    assert configs[VISION] == {"INFERENCE_PRECISION_HINT": "bf16"}


def test_a_hint_openvino_does_not_know_is_named_not_blamed_on_the_device(tiny_models):
    with pytest.raises(ValueError, match="'fp64'.*f32, bf16, f16"):
        load(tiny_models["vqa"], hints={"*": "fp64"})


def test_the_set_up_is_the_same_at_every_load_with_fresh_caches(monkeypatch, tmp_path, images):
    """What used to be a timing race at first load (5 fresh caches gave 5 set-ups) is now a rule."""
    seen = []
    for i in range(3):
        monkeypatch.setenv("GLIMPSE_CACHE_DIR", str(tmp_path / f"cache{i}"))
        pipe = load(DEMO_VQA, "int8")
        answer = pipe.ask(images[0], "what color is the circle?")
        seen.append((pipe.sources, pipe.hints, pipe.setup_label, answer.token_ids))
    assert seen[0] == seen[1] == seen[2]
    expected, _ = policy.plan("int8", "CPU", VQA_PARTS)
    assert seen[0][0] == {p: s.source for p, s in expected.items()}
    assert seen[0][2].startswith("INT8")


@pytest.mark.parametrize("device", ["AUTO", "AUTO:CPU", "MULTI:CPU", "HETERO:CPU"])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_auto_multi_and_hetero_answer_as_cpu_does(precision, device, images):
    """On this machine's CPU, with its own precision rule (bf16 where the CPU has BF16)."""
    cpu = load(DEMO_VQA, precision, "CPU")
    other = load(DEMO_VQA, precision, device)
    assert other.sources == cpu.sources and other.hints == cpu.hints
    for image in images[:2]:
        for question in ("what color is the circle?", "how many shapes are there?"):
            assert other.ask(image, question).token_ids == cpu.ask(image, question).token_ids


def test_multi_and_hetero_are_accepted_when_their_devices_exist():
    assert check_device("MULTI:CPU") == "MULTI:CPU"
    assert check_device("HETERO:CPU") == "HETERO:CPU"
    with pytest.raises(DeviceUnavailableError, match="XPU"):
        check_device("MULTI:CPU,XPU")


def test_a_folder_replaced_in_place_never_runs_the_old_compiled_weights(tmp_path, tiny_models, images, monkeypatch):
    """`cp -a` of another model's files over a folder: new .bin, .xml with the old mtime kept."""
    monkeypatch.setenv("GLIMPSE_CACHE_DIR", str(tmp_path / "cache"))
    from model_tools.convert.blip import convert
    from model_tools.jobs.requests import ConvertRequest

    other_hf = make_tiny_blip(tmp_path / "other-hf", "vqa", std=TINY_STD, seed=7)
    other = convert(ConvertRequest(str(other_hf), tmp_path / "other")).path
    folder = shutil.copytree(tiny_models["vqa"], tmp_path / "mine")
    question = "what color is the circle?"
    pin = {"*": "f32"}
    before = [load(folder, hints=pin).ask(im, question).token_ids for im in images]
    expected = [load(other, hints=pin).ask(im, question).token_ids for im in images]
    assert before != expected, "the two random models should answer differently"

    # The same graph with other weights (a backup of another training state, a re-quantized copy): only the
    # .bin files and their manifest records change; the .xml files and their mtimes stay.
    manifest = json.loads((folder / MANIFEST).read_text())
    theirs = json.loads((other / MANIFEST).read_text())["precisions"]["fp16"]["files"]
    for src in (other / "fp16").glob("*.bin"):
        shutil.copy2(src, folder / "fp16" / src.name)
        manifest["precisions"]["fp16"]["files"][f"fp16/{src.name}"] = theirs[f"fp16/{src.name}"]
    (folder / MANIFEST).write_text(json.dumps(manifest))

    after = [load(folder, hints=pin).ask(im, question).token_ids for im in images]
    assert after == expected


def test_an_unwritable_cache_folder_runs_without_a_cache_and_says_so_once(tmp_path, tiny_models, images, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GLIMPSE_CACHE_DIR", str(blocker / "cache"))  # cannot be made, even by root
    pipe = load(tiny_models["vqa"], hints={"*": "f32"})
    assert len(pipe.notes) == 1 and "without a compile cache" in pipe.notes[0]
    assert pipe.ask(images[0], "what color is the circle?").text
    assert load(tiny_models["vqa"], hints={"*": "f32"}).notes == []  # said once


def test_cli_ask_and_doctor_say_what_runs(tmp_path):
    env = {**os.environ, "GLIMPSE_CACHE_DIR": str(tmp_path / "cache")}
    image = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(image)
    run = [sys.executable, "-m", "model_tools.cli"]
    out = subprocess.run(
        [*run, "ask", "--model", str(DEMO_VQA), "--image", str(image), "--question", "what color is the circle?",
         "--precision", "int8", "--json"], capture_output=True, text=True, env=env, check=True,
    )
    answer = json.loads(out.stdout)
    assert answer["setup"].startswith("INT8") and set(answer["files"]) == set(VQA_PARTS)

    out = subprocess.run([*run, "doctor", "--json"], capture_output=True, text=True, env=env, check=True)
    report = json.loads(out.stdout)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert ("avx2" in report["cpu_flags"]) == (" avx2 " in flags.replace("\n", " "))
    assert set(report["policy"]) == {"fp16", "int8"}
    assert report["compile_cache"]["path"].startswith(str(tmp_path))
    text = subprocess.run([*run, "doctor"], capture_output=True, text=True, env=env, check=True).stdout
    assert "CPU flags:" in text and "compile cache:" in text and "INT8:" in text


def test_loads_with_other_hints_in_one_cache_answer_as_without_a_cache(tmp_path, monkeypatch):
    """OpenVINO 2026.4 ran a bf16 compile wrong ("" for "blue") when the part's f32 blob shared its cache
    folder: each device and config gets a folder of its own."""
    monkeypatch.setenv("GLIMPSE_CACHE_DIR", str(tmp_path / "cache"))
    picture = paths.RESOURCES / "samples" / "blue-square-yellow-triangle.png"
    question = "what color is the square?"
    expected = {
        exact: load(DEMO_VQA, "fp16", exact=exact, cache=False).ask(picture, question).token_ids
        for exact in (True, False)
    }
    setups = set()
    for exact in (True, False, True, False):  # the second round loads from the cache
        pipe = load(DEMO_VQA, "fp16", exact=exact)
        setups.add(tuple(sorted(pipe.hints.items())))
        assert pipe.ask(picture, question).token_ids == expected[exact]
    # One folder per part and set-up (f32 and bf16 here where the CPU has BF16, f32 alone on AVX2).
    assert len(list((tmp_path / "cache" / "ov").iterdir())) == 4 * len(setups)
