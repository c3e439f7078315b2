"""What every family's converter does the same way: find the source model, load it from safetensors, save its
tokenizer, trace a part to OpenVINO IR, and record the tools that made the folder.

torch, transformers and openvino are imported inside the functions that use them.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from model_tools import __version__
from model_tools.jobs.folders import atomic_folder, is_disk_full
from model_tools.jobs.progress import OnProgress
from model_tools.runtime.errors import ConversionError
from model_tools.runtime.images import CLIP_MEAN, CLIP_STD


def looks_like_path(text: str) -> bool:
    """A local path rather than a Hugging Face id (owner/name, which never starts with a dot or holds two
    slashes)."""
    return (
        text.startswith(("/", ".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or Path(text).is_absolute()
        or (len(text) > 1 and text[1] == ":")  # C:
    )


def open_source(
    request: Any,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    example: str = "Salesforce/blip-vqa-base",
) -> tuple[Path, Path, str]:
    """What every converter does first: (the target folder, checked before anything is loaded or downloaded;
    the source's local folder; a label for progress: the folder's name, or the Hugging Face id of a download,
    whose folder is named after its commit)."""
    from model_tools.jobs.folders import check_target

    out = request.out.expanduser()
    check_target(out, replace=request.overwrite, model=True)
    folder = source_folder(request.source, revision=request.revision, on_progress=on_progress, cancel=cancel,
                           example=example)
    label = folder.name if Path(request.source).expanduser().is_dir() else request.source
    return out, folder, label


def source_folder(
    source: str,
    *,
    revision: str | None = None,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    example: str = "Salesforce/blip-vqa-base",
) -> Path:
    """The local folder of `source`: that folder itself, or a Hugging Face id downloaded into the cache."""
    src = Path(source).expanduser()
    if src.is_dir():
        return src
    if src.exists():
        raise ConversionError(f"{src} is a file; give a model folder or a Hugging Face id.")
    if looks_like_path(source):
        raise ConversionError(
            f"There is no folder {src}.",
            f"Check the path, or give a Hugging Face id such as {example}.",
        )
    from model_tools.jobs.requests import DownloadRequest
    from model_tools.library.hub import download

    return download(DownloadRequest(source, revision), on_progress=on_progress, cancel=cancel).folder


def read_config(folder: Path) -> dict[str, Any]:
    """A Hugging Face model folder's config.json."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ConversionError(f"{folder} has no config.json, so it is not a Hugging Face model folder.")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConversionError(f"{folder}/config.json is not valid JSON ({exc}).") from None
    return config


def require_safetensors(folder: Path) -> None:
    """Refuse a model whose weights are not in safetensors files: pickled weights can run code."""
    if not list(folder.glob("*.safetensors")):
        raise ConversionError(
            f"{folder.name} has no .safetensors weights.",
            "Glimpse loads weights only from safetensors (pickled .bin files can run code).",
        )


def load_torch_model(folder: Path, arch: str) -> Any:
    """The transformers class `arch` loaded from `folder`'s safetensors in float32, in eval mode."""
    import torch
    import transformers
    from safetensors import SafetensorError  # a damaged or truncated weights file

    cls = getattr(transformers, arch)
    try:
        model = cls.from_pretrained(folder, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ConversionError(
            f"transformers could not load {folder.name}: {str(exc).splitlines()[0]}",
            "Its files may be damaged or incomplete: download or copy the model again.",
        ) from exc
    return model.eval()


def fp16_size_mb(model: Any, folder: Path, tokenizer: str = "tokenizer.json") -> int:
    """About how much a conversion writes: FP16 weights (two bytes a parameter), the tokenizer, the XML."""
    need = 2 * sum(p.numel() for p in model.parameters()) + 2**20
    own = folder / tokenizer
    if own.is_file():
        need += own.stat().st_size
    return max(1, math.ceil(need / 1e6))


@contextmanager
def converted_folder(out: Path, *, replace: bool, need_mb: int) -> Iterator[Path]:
    """`atomic_folder(out)` for a converter: yields the temporary folder to fill; a full disk becomes a
    `ConversionError` saying how much room the conversion needs (`need_mb`, from `fp16_size_mb`)."""
    try:
        with atomic_folder(out, replace=replace, model=True) as tmp:
            yield tmp
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        raise ConversionError(
            f"Could not write the converted model: the disk is full (need about {need_mb} MB at {out.parent}).",
            "Free some space there, or convert into a folder on another disk.",
        ) from None


def save_tokenizer(folder: Path, target: Path) -> None:
    """Write a `tokenizers` JSON: copy the model's own if it loads, else build one with transformers."""
    from tokenizers import Tokenizer

    own = folder / target.name
    if own.is_file():
        try:
            Tokenizer.from_file(str(own))
            shutil.copyfile(own, target)
            return
        except Exception:  # noqa: BLE001 - fall back to transformers' conversion below
            pass
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder)
        tok.backend_tokenizer.save(str(target))
    except (OSError, ValueError, AttributeError) as exc:
        raise ConversionError(f"{folder.name} has no usable tokenizer ({exc}).") from exc


def image_settings(folder: Path, size: list[int]) -> tuple[list[int], list[float], list[float]]:
    """(size [height, width], mean, std) from `folder`'s preprocessor_config.json; `size` and CLIP's means
    where it has none."""
    mean, std = list(CLIP_MEAN), list(CLIP_STD)
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        p = json.loads(pre.read_text(encoding="utf-8"))
        s = p.get("size", {})
        if isinstance(s, dict) and "height" in s:
            size = [s["height"], s["width"]]
        elif isinstance(s, int):
            size = [s, s]
        mean, std = p.get("image_mean", mean), p.get("image_std", std)
    return size, list(mean), list(std)


def traced(inner: Any, forward: Callable[..., Any]) -> Any:
    """A torch module holding `inner` (so tracing sees its weights) whose forward is `forward(inner, *inputs)`.

    A family's parts are then plain functions of the Hugging Face modules, for `export_module`.
    """
    import torch

    class Traced(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return forward(self.inner, *inputs)

    return Traced()


def export_module(module: Any, example: tuple[Any, ...], in_names: list[str], out_names: list[str], xml: Path) -> None:
    """Trace `module` on `example` to OpenVINO, name its inputs and outputs, and save it with FP16 weights."""
    import openvino as ov
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about Python branches on shapes; the families' wrappers fix those branches on purpose.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(module, example_input=example)
    for port, n in zip(ov_model.inputs, in_names, strict=True):
        port.get_tensor().set_names({n})
    for port, n in zip(ov_model.outputs, out_names, strict=True):
        port.get_tensor().set_names({n})
    ov.save_model(ov_model, xml, compress_to_fp16=True)


def tool_versions() -> dict[str, str]:
    """The versions that made a model folder, for its manifest's `tools`."""
    import openvino
    import torch
    import transformers

    return {
        "glimpse": __version__,
        "openvino": openvino.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
