"""Shared fixtures: tiny BLIP models built on the fly, and folders that keep tests off the user's files."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

# Before anything imports Qt or model_tools: headless Qt and private folders for cache, settings, logs, models.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ROOT = Path(tempfile.mkdtemp(prefix="glimpse-tests-"))
for var in ("GLIMPSE_CACHE_DIR", "GLIMPSE_CONFIG_DIR", "GLIMPSE_LOG_DIR", "GLIMPSE_MODELS_DIR"):
    os.environ[var] = str(_ROOT / var.lower())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models: one torch thread is fastest, and avoids oversubscribing the 2-core CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

# A scale at which tiny random models give varied answers of varied length (checked: 8 distinct answers
# over 16 inputs, most ending with [SEP]) rather than one token repeated.
TINY_STD = 0.1
TINY_SEED = 1

QUESTIONS = [
    "what color is the circle?",
    "how many shapes are there?",
    "is there a dog sitting on the table?",
    "what?",
]


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory) -> dict[str, Path]:
    """Hugging Face folders of a random tiny BlipForQuestionAnswering ("vqa") and BlipForConditionalGeneration."""
    from model_tools.synthetic.tiny_blip import make_tiny_blip

    root = tmp_path_factory.mktemp("tiny-hf")
    return {task: make_tiny_blip(root / task, task, std=TINY_STD, seed=TINY_SEED) for task in ("vqa", "caption")}


@pytest.fixture(scope="session")
def tiny_models(tiny_hf, tmp_path_factory) -> dict[str, Path]:
    """The tiny models converted by our converter."""
    from model_tools.convert.blip import convert
    from model_tools.jobs.requests import ConvertRequest

    root = tmp_path_factory.mktemp("tiny-converted")
    return {task: convert(ConvertRequest(str(src), root / task)).path for task, src in tiny_hf.items()}


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """A Hugging Face hub served from an empty local folder (`local_hub.publish(repo_id, files)` adds a
    repository), in place of huggingface_hub's download functions in this process, with a private cache."""
    import huggingface_hub
    from huggingface_hub import constants

    from tests.fake_hub import FakeHub

    hub = FakeHub(tmp_path / "hub", tmp_path / "hf-cache")
    hub.root.mkdir()
    hub.cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub.cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub.cache))  # this process already read it
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    return hub


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Pictures of assorted sizes and contents."""
    rng = np.random.default_rng(0)
    out = [Image.fromarray((rng.random((40 + 7 * i, 50 + 3 * i, 3)) * 255).astype("uint8")) for i in range(3)]
    grad = np.linspace(0, 255, 64 * 48 * 3).reshape(48, 64, 3).astype("uint8")
    out.append(Image.fromarray(grad))
    return out


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def pytest_report_header(config) -> list[str]:
    """Which CPU features this run saw: some answers (bf16 vs f32) depend on them."""
    return _cpu_report()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if config.get_verbosity() < 0:  # -q (as ./run-tests runs) leaves the header out: say it at the end
        for line in _cpu_report():
            terminalreporter.write_line(line)


@functools.lru_cache(maxsize=1)
def _cpu_report() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
        seen = ", ".join(flag for flag in CPU_FLAGS if flag in flags) or "none of " + ", ".join(CPU_FLAGS)
    except OSError:
        seen = "unknown (no /proc/cpuinfo)"
    from model_tools.jobs.progress import disable_telemetry

    disable_telemetry()  # before openvino is imported: no ~/intel files, nothing sent
    from model_tools.runtime.devices import core

    try:
        capabilities = ", ".join(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except RuntimeError as exc:
        capabilities = f"unavailable ({exc})"
    return [
        f"CPU features: {seen}; {os.cpu_count()} cores",
        f"OpenVINO CPU optimization capabilities: {capabilities}",
    ]


# -- the chat family: a tiny random LLaVA ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_chat_hf(tmp_path_factory) -> Path:
    """A Hugging Face folder of a random tiny LlavaForConditionalGeneration (safetensors, chat template)."""
    from model_tools.synthetic.tiny_llava import make_tiny_llava

    return make_tiny_llava(tmp_path_factory.mktemp("tiny-chat-hf") / "tiny-llava")


@pytest.fixture(scope="session")
def tiny_chat_model(tiny_chat_hf, tmp_path_factory) -> Path:
    """The tiny LLaVA as a chat model folder (manifest.json + fp16/), converted by our converter."""
    from model_tools.convert.chat import convert
    from model_tools.jobs.requests import ConvertRequest

    return convert(ConvertRequest(str(tiny_chat_hf), tmp_path_factory.mktemp("tiny-chat") / "tiny-llava")).path


# -- the segment family: a tiny random Segment Anything ----------------------------------------------------------

TINY_SAM_SIZE = 128  # the padded square: 8 x 8 image embeddings, 32 x 32 low-res masks


def make_tiny_sam(folder: Path, *, image_size: int = TINY_SAM_SIZE, std: float = 0.3, seed: int = 0) -> Path:
    """Save a random tiny `SamModel` (safetensors) with a SAM image processor's preprocessor_config.json.

    Two ViT layers (one windowed, with a window that does not divide the 8 x 8 grid, so the padding path runs;
    one global), 32 channels everywhere. Weights are redrawn at `std` (LayerNorm scales around 1, the random
    Fourier features at 1, as SAM's), so that mask logits are of order 1 and prompts move them, and rounded to
    float16, so that the FP16 IR holds exactly the weights PyTorch uses.
    """
    import json

    import torch
    from transformers import SamConfig, SamImageProcessorPil, SamModel

    config = SamConfig(
        vision_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=image_size, patch_size=16,
            output_channels=32, window_size=3, global_attn_indexes=[1], num_pos_feats=16, mlp_dim=64,
        ),
        prompt_encoder_config=dict(hidden_size=32, image_size=image_size, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32),
    )
    torch.manual_seed(seed)
    model = SamModel(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if "norm" in name and name.endswith(".weight"):
                param.copy_(1 + noise * std)
            else:
                param.copy_(noise * (1.0 if name.endswith("positional_embedding") else std))
            param.copy_(param.to(torch.float16).to(torch.float32))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    quarter = image_size // 4
    processor = SamImageProcessorPil(
        size={"longest_edge": image_size},
        pad_size={"height": image_size, "width": image_size},
        mask_size={"longest_edge": quarter},
        mask_pad_size={"height": quarter, "width": quarter},
    )
    # The Hub's SAM checkpoints have a preprocessor_config.json (transformers 5 would write processor_config.json).
    (folder / "preprocessor_config.json").write_text(json.dumps(processor.to_dict(), indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_sam_hf(tmp_path_factory) -> Path:
    """A Hugging Face folder of a random tiny SamModel (see `make_tiny_sam`)."""
    return make_tiny_sam(tmp_path_factory.mktemp("tiny-sam-hf") / "tiny-sam")


@pytest.fixture(scope="session")
def tiny_sam_model(tiny_sam_hf, tmp_path_factory) -> Path:
    """The tiny SAM as a segment model folder (manifest.json + fp16/), converted by our converter."""
    from model_tools.convert.segment import convert
    from model_tools.jobs.requests import ConvertRequest

    return convert(ConvertRequest(str(tiny_sam_hf), tmp_path_factory.mktemp("tiny-sam") / "tiny-sam")).path
