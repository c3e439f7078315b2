"""Take docs/model-tools-{models,convert,quantize,compare}.png: the real Model Tools window doing real jobs.

    Xvfb :99 -screen 0 1400x900x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/make_screenshots.py

Everything happens in a temporary folder (models, caches, settings; the user's files are not touched):
  - Convert: a tiny random BLIP (model_tools.synthetic.tiny_blip) is converted through the panel; the shot is taken mid-job.
  - Quantize: a copy of the bundled demo VQA model (imported with library.import_converted) is quantized
    through the panel on the built-in samples; the shot shows the result.
  - Compare: FP16 against the INT8 just made, through the panel: the charts hold that real report.
  - Models: the installed list after those jobs. The catalog shows one interrupted download: a partial file
    placed in the temporary Hugging Face cache (there is no network here to interrupt a real one).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="glimpse-tools-shots-"))
for var in (
    "GLIMPSE_CACHE_DIR",
    "GLIMPSE_CONFIG_DIR",
    "GLIMPSE_LOG_DIR",
    "GLIMPSE_MODELS_DIR",
    "HF_HUB_CACHE",
):
    os.environ[var] = str(WORK / var.lower())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_app.resources import app_icon  # noqa: E402
from desktop_app.widgets.theme import ensure_theme  # noqa: E402
from desktop_app.tools_panel import ModelToolsWindow  # noqa: E402
from model_tools.library import store as library  # noqa: E402
from model_tools.runtime import paths  # noqa: E402

OUT = ROOT / "docs"
SIZE = (1180, 820)
PARTIAL_REPO = "Salesforce/blip-image-captioning-base"
PARTIAL_BYTES = 412_000_000


def prepare() -> tuple[Path, Path]:
    """A tiny Hugging Face BLIP to convert, and a copy of the demo model to quantize and compare."""
    from model_tools.synthetic.tiny_blip import make_tiny_blip

    hf = make_tiny_blip(WORK / "hf" / "blip-tiny-vqa", "vqa", std=0.1, seed=1)
    shapes = library.import_converted(library.DEMO_VQA, "shapes-vqa").path
    blobs = Path(os.environ["HF_HUB_CACHE"]) / f"models--{PARTIAL_REPO.replace('/', '--')}" / "blobs"
    blobs.mkdir(parents=True)
    with open(blobs / "model.safetensors.incomplete", "wb") as fh:
        fh.truncate(PARTIAL_BYTES)  # sparse: takes no disk space
    return hf, shapes


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    ensure_theme(app)
    hf, shapes = prepare()
    window = ModelToolsWindow()
    window.resize(*SIZE)
    window.show()
    runner = window.runner
    shots: list[Path] = []

    def shoot(name: str) -> None:
        app.processEvents()
        path = OUT / f"model-tools-{name}.png"
        window.grab().save(str(path))
        shots.append(path)
        print(path, flush=True)

    def step_convert() -> None:
        page = window.show_page("convert")
        page.folder_radio.setChecked(True)
        page.folder_field.set_path(hf)
        page.name_edit.setText("blip-tiny-vqa")
        page.convert_button.click()

    def on_progressed(job, p) -> None:
        if job.page == "convert" and p.stage == "text_decoder" and not shots:
            QTimer.singleShot(300, lambda: shoot("convert"))

    def on_finished(job, result) -> None:
        if job.page == "convert":
            QTimer.singleShot(300, step_quantize)
        elif job.page == "quantize":
            QTimer.singleShot(300, lambda: (shoot("quantize"), step_compare()))
        elif job.page == "compare":
            QTimer.singleShot(500, finish)

    def on_failed(job, exc, details) -> None:
        print(f"{job.title} failed: {exc}\n{details}", file=sys.stderr)
        app.exit(1)

    def step_quantize() -> None:
        page = window.show_page("quantize", shapes)
        page.subset.setValue(32)
        page.quantize_button.click()

    def step_compare() -> None:
        page = window.quantize_page
        page.compare_button.click()
        compare = window.compare_page
        compare.runs.setValue(5)
        compare.max_tokens.setValue(10)
        compare.compare_button.click()

    def finish() -> None:
        shoot("compare")
        page = window.show_page("models")
        page.select_model(paths.models_dir() / "shapes-vqa")
        page.select_entry(PARTIAL_REPO)
        page._update_download_button()
        shoot("models")
        app.quit()

    runner.job_progressed.connect(on_progressed)
    runner.job_finished.connect(on_finished)
    runner.job_failed.connect(on_failed)
    QTimer.singleShot(500, step_convert)
    QTimer.singleShot(600_000, lambda: app.exit(2))
    code = app.exec()
    window.shutdown(2000)
    shutil.rmtree(WORK, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
