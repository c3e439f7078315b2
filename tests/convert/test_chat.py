"""The LLaVA exporter writes a complete chat model folder (VLMPipeline's layout, our manifest), atomically, from
safetensors only; VLMPipeline on it gives transformers' greedy tokens."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from model_tools import cli
from model_tools.convert import chat, convert
from model_tools.jobs.folders import TargetExistsError
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import JOBS, ConvertRequest
from model_tools.runtime import Cancelled, ConversionError
from model_tools.runtime.model_folder import sha256_file

QUESTION = "what is in the picture?"
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def converted(tiny_chat_hf, tmp_path_factory):
    """The tiny LLaVA converted through the one convert entry, with the progress it reported."""
    seen: list[Progress] = []
    out = tmp_path_factory.mktemp("chat-convert") / "tiny-llava"
    result = convert(ConvertRequest(tiny_chat_hf, out, name="Tiny LLaVA"), on_progress=seen.append)
    return result, seen


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8))


def test_the_folder_lists_every_file_with_its_checksum(converted, tiny_chat_hf):
    result, _ = converted
    folder = result.path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["family"] == "chat" and manifest["name"] == "Tiny LLaVA"
    assert manifest["model_type"] == "llava" and manifest["architecture"] == "LlavaForConditionalGeneration"
    assert manifest["source"] == {"id": str(tiny_chat_hf), "revision": None, "path": str(tiny_chat_hf)}
    assert manifest["image"]["size"] == [32, 32] and len(manifest["image"]["mean"]) == 3
    assert manifest["files"] == {} and list(manifest["precisions"]) == ["fp16"]
    fp16 = manifest["precisions"]["fp16"]
    assert fp16["made_by"] == "convert" and manifest["tools"]["openvino"] and manifest["tools"]["transformers"]
    on_disk = {f"fp16/{p.name}" for p in (folder / "fp16").iterdir()}
    expected = {f"fp16/openvino_{p}.{ext}" for p in chat.PARTS for ext in ("xml", "bin")}
    expected |= {f"fp16/{t}.{ext}" for t in chat.TOKENIZERS for ext in ("xml", "bin")}
    expected |= {f"fp16/{c}" for c in chat.CONFIGS}
    assert on_disk == set(fp16["files"]) == expected
    assert sorted(p.name for p in folder.iterdir()) == ["fp16", "manifest.json"]
    for rel, rec in fp16["files"].items():
        assert (folder / rel).stat().st_size == rec["size"] and sha256_file(folder / rel) == rec["sha256"]
    assert not list(folder.parent.glob(".*")), "no temporary folder or lock left behind"
    assert (result.name, result.task, result.precisions) == ("Tiny LLaVA", "chat", ["fp16"])
    assert result.size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_progress_goes_part_by_part(converted):
    _, seen = converted
    stages = [p.stage for p in seen]
    assert stages == ["load", *chat.PARTS, "tokenizers", "configs", "manifest", "done"]
    done = [p.done for p in seen]
    assert done == sorted(done) and seen[-1].done == seen[-1].total


def test_vlm_pipeline_gives_transformers_greedy_tokens(converted, tiny_chat_hf, picture):
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    ours = vlm_greedy_ids(converted[0].path / "fp16", picture, QUESTION)
    model = LlavaForConditionalGeneration.from_pretrained(tiny_chat_hf, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(tiny_chat_hf)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=picture, text=prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    theirs = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert len(ours) > 1 and ours == theirs


def vlm_greedy_ids(folder, picture, question, max_new_tokens=NEW_TOKENS) -> list[int]:
    """Greedy token ids from openvino-genai's VLMPipeline on `folder`, exact (SDPA, f32)."""
    import openvino as ov
    import openvino_genai as og

    class Ids(og.StreamerBase):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[int] = []

        def write(self, token):
            self.ids += list(token) if isinstance(token, (list, tuple)) else [token]
            return og.StreamingStatus.RUNNING

        def end(self) -> None:
            pass

    pipe = og.VLMPipeline(str(folder), "CPU", ATTENTION_BACKEND="SDPA", INFERENCE_PRECISION_HINT="f32")
    config = og.GenerationConfig()
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    history = og.ChatHistory()
    history.append({"role": "user", "content": question})
    streamer = Ids()
    image = ov.Tensor(np.asarray(picture.convert("RGB"))[None])
    pipe.generate(history, images=[image], generation_config=config, streamer=streamer)
    return streamer.ids


def test_the_convert_job_and_the_cli_take_llava(converted, tiny_chat_hf, tmp_path, capsys):
    assert JOBS["convert"].function == "model_tools.convert:convert"
    target = shutil.copytree(converted[0].path, tmp_path / "model")  # a Glimpse model folder: may be replaced
    (target / "fp16" / "stale.txt").write_text("from before")
    args = ["convert", "--model", str(tiny_chat_hf), "--out", str(target), "--overwrite"]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.strip() == str(target)
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["family"] == "chat" and manifest["name"] == "model"
    assert not (target / "fp16" / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_cancel_leaves_no_folder(tiny_chat_hf, tmp_path):
    cancel = threading.Event()

    def stop_at_the_language_model(p: Progress) -> None:
        if p.stage == chat.LANGUAGE:
            cancel.set()

    with pytest.raises(Cancelled):
        # Checked after the part: the tokenizers are never written.
        convert(ConvertRequest(tiny_chat_hf, tmp_path / "out"), on_progress=stop_at_the_language_model, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_refuses_a_folder_glimpse_did_not_make(tiny_chat_hf, tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("four years of work")
    with pytest.raises(TargetExistsError, match="is not a Glimpse model folder"):
        convert(ConvertRequest(tiny_chat_hf, thesis, overwrite=True))
    with pytest.raises(TargetExistsError, match="already exists"):
        convert(ConvertRequest(tiny_chat_hf, thesis))
    assert [p.name for p in thesis.iterdir()] == ["thesis.txt"]


def test_refuses_pickled_weights(tiny_chat_hf, tmp_path):
    src = shutil.copytree(tiny_chat_hf, tmp_path / "src")
    (src / "model.safetensors").rename(src / "pytorch_model.bin")
    for converter in (convert, chat.convert):
        with pytest.raises(ConversionError, match="no .safetensors weights") as info:
            converter(ConvertRequest(src, tmp_path / "out"))
        assert "pickled .bin files can run code" in info.value.fix
    assert not (tmp_path / "out").exists()


def test_refuses_a_model_no_family_converts(tiny_chat_hf, tmp_path):
    src = shutil.copytree(tiny_chat_hf, tmp_path / "mistral")
    config = json.loads((src / "config.json").read_text())
    config.update(model_type="mistral", architectures=["MistralForCausalLM"])
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match=r"nor a LLaVA chat model \(it is MistralForCausalLM\)") as info:
        convert(ConvertRequest(src, tmp_path / "out"))
    assert "LlavaForConditionalGeneration" in info.value.fix and "BlipForQuestionAnswering" in info.value.fix
    with pytest.raises(ConversionError, match=r"is not a LLaVA model \(it is MistralForCausalLM\)"):
        chat.convert(ConvertRequest(src, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_llava_type_with_another_architecture_is_refused_by_the_chat_family(tiny_chat_hf, tmp_path):
    src = shutil.copytree(tiny_chat_hf, tmp_path / "llava-other")
    config = json.loads((src / "config.json").read_text())
    config.update(architectures=["LlavaForSomethingElse"])
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match=r"is not a LLaVA model \(it is LlavaForSomethingElse\)"):
        convert(ConvertRequest(src, tmp_path / "out"))


def test_a_hub_id_is_downloaded_converted_and_recorded(tiny_chat_hf, local_hub, tmp_path):
    """From the hub (a local folder here): only what conversion needs comes down, then the chat converter."""
    files = {p.name: p.read_bytes() for p in tiny_chat_hf.iterdir()}
    local_hub.publish("llava-hf/tiny-llava", {**files, "pytorch_model.bin": b"pickle: never fetched"})
    seen: list[Progress] = []
    result = convert(ConvertRequest("llava-hf/tiny-llava", tmp_path / "out"), on_progress=seen.append)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["family"] == "chat" and manifest["source"]["id"] == "llava-hf/tiny-llava"
    fetched = {p.name for p in local_hub.cache.rglob("*") if p.is_file()}
    assert "model.safetensors" in fetched and "chat_template.jinja" in fetched and "pytorch_model.bin" not in fetched
    assert seen[-1].stage == "done"
