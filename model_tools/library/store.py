"""Installed models: the bundled demo models and those in the user's models folder."""

from __future__ import annotations

import threading
from pathlib import Path

from model_tools.jobs.progress import OnProgress
from model_tools.jobs.requests import ImportRequest, ModelResult
from model_tools.runtime import paths
from model_tools.runtime.errors import GlimpseError, ModelNotFoundError
from model_tools.runtime.model_folder import MANIFEST, ConvertedModel, components, write_json_atomic

BUNDLED = paths.RESOURCES / "models"
DEMO_VQA = BUNDLED / "demo-shapes-vqa"
DEMO_CAPTION = BUNDLED / "demo-shapes-caption"
DEMO_CHAT = BUNDLED / "demo-shapes-chat"
DEMO_NOTE = (
    "Demo model: a tiny BLIP trained on synthetic pictures of coloured shapes (red, green, blue or yellow "
    "circles, squares and triangles). It knows four question forms only: “what color is the circle?”, "
    "“what shape is the blue object?”, “how many triangles are there?” (or “how many shapes are there?”) "
    "and “is there a red square?”; anything else gets a confident but meaningless answer. For real photos, "
    "convert Salesforce/blip-vqa-base or Salesforce/blip-image-captioning-base in Model Tools."
)
DEMO_CHAT_NOTE = (
    "Demo chat model: a tiny LLaVA trained on synthetic pictures of coloured shapes. It holds a conversation "
    "about them (“Describe the picture.”, “What colour is the triangle?”, “And how many circles are there?”, "
    "“Is there a red square?”, “Which picture has more shapes?”) and knows nothing else. For real photos, "
    "download a chat model (e.g. a LLaVA checkpoint or InternVL2-1B) in Model Tools."
)


_opened: dict[Path, tuple[tuple[int, int, int], ConvertedModel]] = {}
_opened_lock = threading.Lock()


def installed() -> list[ConvertedModel]:
    """Every readable converted model: bundled ones first, then the user's, by name.

    A manifest is read again whenever its file changes (a manifest is only ever replaced whole, by a rename);
    the panel asks after every job, so unchanged ones are not parsed again."""
    found: list[ConvertedModel] = []
    for root in (BUNDLED, paths.models_dir()):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            try:
                st = (folder / MANIFEST).stat()
            except OSError:
                continue
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            with _opened_lock:
                known = _opened.get(folder)
            if known is not None and known[0] == stamp:
                found.append(known[1])
                continue
            try:
                model = ConvertedModel.open(folder)
            except GlimpseError:
                continue
            with _opened_lock:
                _opened[folder] = (stamp, model)
            found.append(model)
    return found


def default_model(task: str = "vqa") -> Path:
    """The model used when none is named: the bundled demo model for `task`."""
    folder = DEMO_VQA if task == "vqa" else DEMO_CAPTION
    if not (folder / MANIFEST).is_file():
        raise ModelNotFoundError("The bundled demo model is missing.", "Pass --model <folder>, or reinstall Glimpse.")
    return folder


def caption_partner(model: ConvertedModel) -> Path | None:
    """A captioning model to use for Describe with a VQA model (named in its manifest, e.g. the demo pair)."""
    if model.task == "caption":
        return model.path
    rel = model.spec.caption_model
    if rel and (model.path / rel / MANIFEST).is_file():
        return (model.path / rel).resolve()
    return None


def is_bundled(model: ConvertedModel) -> bool:
    return BUNDLED in model.path.resolve().parents


def size_on_disk(model: ConvertedModel) -> int:
    """Bytes used by the model folder."""
    return model.size_on_disk()


def same_files(a: ConvertedModel, b: ConvertedModel) -> bool:
    """True if the manifests of `a` and `b` list the very same files (paths and checksums): one model."""

    def checksums(model: ConvertedModel) -> dict[str, str]:
        entries = [model.spec.files, *(p.files for p in model.spec.precisions.values())]
        return {rel: rec.sha256 for files in entries for rel, rec in files.items()}

    return checksums(a) == checksums(b)


def component_sizes(model: ConvertedModel, precision: str) -> dict[str, int]:
    """Bytes on disk per component (.xml + .bin) of one precision, and their total.

    The family's parts where its folders keep them (BLIP: fp16/vision_model.xml; chat:
    fp16/openvino_language_model.xml); a chat model's tokenizers and configs are not components.
    """
    sizes = {}
    for part in components(model.task):
        xml = model.xml(precision, part)
        sizes[part] = sum(xml.with_suffix(ext).stat().st_size for ext in (".xml", ".bin"))
    sizes["total"] = sum(sizes.values())
    return sizes


def check_not_installed(folder: Path) -> None:
    """Refuse to import a converted `folder` that is installed already: that very folder, or the same files
    (the bundled demo models, a model imported before under another name)."""
    source = ConvertedModel.open(folder)
    for model in installed():
        if model.path.resolve() == source.path.resolve() or same_files(model, source):
            where = "it ships with Glimpse" if is_bundled(model) else f"in {model.path}"
            raise GlimpseError(f"{source.name} is already installed as {model.name} ({where}).", "Nothing to import.")


def import_converted(
    request: ImportRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> ModelResult:
    """Copy an already converted model folder into the user's models folder, after checking every file.

    runs in: a worker thread (checksums and a copy: seconds to minutes). Cancel is honoured before the copy.
    """
    import shutil

    from model_tools.jobs.folders import atomic_folder, is_disk_full
    from model_tools.jobs.progress import check_cancel, report

    name = request.name
    report(on_progress, "import", 0, 0, "steps", f"Checking and copying {request.folder.name}")
    source = ConvertedModel.open(request.folder)
    check_not_installed(source.path)
    for precision in source.precisions:
        source.verify(precision)
    target = paths.models_dir() / (name or source.path.name)
    if target.exists() or target.is_symlink():
        raise GlimpseError(f"A model called {target.name} is already installed.", "Delete it first or pick another name.")
    check_cancel(cancel)
    try:
        with atomic_folder(target, model=True) as tmp:
            shutil.copytree(source.path, tmp, dirs_exist_ok=True)
            if name:  # imported under another name: the model calls itself that too (lists show the name)
                write_json_atomic(tmp / MANIFEST, {**source.manifest, "name": name})
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        need = max(1, round(size_on_disk(source) / 1e6))
        raise GlimpseError(
            f"Could not import {source.name}: the disk is full (need about {need} MB at {target.parent}).",
            "Free some space there and import it again.",
        ) from None
    result = ModelResult.of(target)
    report(on_progress, "done", 1, 1, "steps", f"Imported {result.name}")
    return result


def delete(model: ConvertedModel) -> None:
    """Remove a user-installed model folder (bundled models, and folders that are not Glimpse models, stay)."""
    import shutil

    from model_tools.jobs.folders import is_model_folder

    if is_bundled(model):
        raise GlimpseError(f"{model.name} ships with Glimpse and cannot be deleted.")
    if paths.models_dir().resolve() not in model.path.resolve().parents:
        raise GlimpseError(f"{model.path} is not in Glimpse's models folder; delete it yourself if you want to.")
    if not is_model_folder(model.path):  # replaced by other files since it was listed
        raise GlimpseError(
            f"{model.path} is no longer a Glimpse model folder (it has no {MANIFEST}), so it is not deleted.",
            "Delete it yourself if you want to.",
        )
    trash = model.path.with_name(f".{model.path.name}.deleting")
    model.path.rename(trash)  # atomic: the model disappears from the list at once
    shutil.rmtree(trash, ignore_errors=True)


def weight_modes(model: ConvertedModel, precision: str) -> dict[str, str]:
    """How each part's weights are stored in `precision`: "fp16", "int8" or "int4" (an INT4 decoder is kept
    in the int8/ folder, made with `quantize --decoder int4`)."""
    entry = model.spec.precisions.get(precision)
    modes = entry.weight_modes if entry is not None else {}
    out = {}
    for part in components(model.task):
        mode = modes.get(part, precision).lower()
        out[part] = "int4" if mode.startswith("int4") else "int8" if mode.startswith("int8") else precision
    return out


def modes_label(precision: str, modes: dict[str, str]) -> str:
    """The label of a precision: "FP16", "INT8", or "INT8 (INT4 decoder)" when some parts' weights (from
    `weight_modes`) are INT4."""
    int4 = [part for part, mode in modes.items() if mode == "int4"]
    if not int4 or precision == "int4":  # an int4/ folder says it in its name
        return precision.upper()
    which = "decoder" if int4 == ["text_decoder"] else ", ".join(int4)
    return f"{precision.upper()} (INT4 {which})"


def precision_label(model: ConvertedModel, precision: str) -> str:
    return modes_label(precision, weight_modes(model, precision))
