"""`glimpse --self-test`: prove an installation (source or bundle) works, offscreen, and print JSON.

Loads the default (demo) model on CPU, answers a fixed question about a bundled picture, captions it, and
checks the answers; then holds a two-turn chat about the same picture with the demo chat model in each of
its precisions (the second turn a follow-up). Exit 0 when all is well; non-zero with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

QUESTION = "what color is the circle?"
EXPECTED = "red"
CAPTION_WORDS = ("red", "circle")
CHAT = (("What shape is the red object?", "circle"), ("And what colour is it?", "red"))  # the second needs the first


def run() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t0 = time.perf_counter()
    report: dict[str, Any] = {"ok": False}
    try:
        report.update(_check())
        report["ok"] = True
        code = 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason and a non-zero exit
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc(limit=8)
        code = 1
    report["total_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if code:
        print(f"self-test failed: {report['error']}", file=sys.stderr)
    return code


def _check() -> dict[str, Any]:
    import openvino
    from PySide6 import __version__ as pyside_version
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop_app import __version__
    from desktop_app.resources import SAMPLES, app_icon
    from model_tools.library import store as library
    from model_tools.runtime import ConvertedModel, load

    app = QApplication.instance() or QApplication([sys.argv[0]])
    picture = SAMPLES / "red-circle.png"
    if QImage(str(picture)).isNull():  # Qt's image plugins are there
        raise RuntimeError(f"Qt cannot read {picture}")
    label = QLabel("Glimpse")
    label.setPixmap(app_icon().pixmap(64, 64))
    label.grab()  # a real offscreen render

    vqa_dir = library.default_model("vqa")
    model = ConvertedModel.open(vqa_dir)
    results: dict[str, Any] = {
        "versions": {"glimpse": __version__, "openvino": openvino.__version__, "pyside6": pyside_version},
        "frozen": bool(getattr(sys, "frozen", False)),
        "model": model.name,
        "picture": picture.name,
    }
    for precision in model.precisions:
        pipe = load(vqa_dir, precision, "CPU")
        answer = pipe.ask(picture, QUESTION, max_new_tokens=5)
        if answer.text.strip() != EXPECTED:
            raise RuntimeError(f"{precision}: asked {QUESTION!r}, expected {EXPECTED!r}, got {answer.text!r}")
        entry: dict[str, Any] = {
            "question": QUESTION,
            "answer": answer.text,
            "load_s": round(pipe.load_s, 3),
            "ttft_s": round(answer.metrics.ttft_s, 4),
            "total_s": round(answer.metrics.total_s, 4),
        }
        partner = library.caption_partner(model)
        if partner is None:
            raise RuntimeError(f"{model.name} has no captioning partner")
        cap = load(partner, precision, "CPU").caption(picture, max_new_tokens=20)
        missing = [w for w in CAPTION_WORDS if w not in cap.text.split()]
        if missing:
            raise RuntimeError(f"{precision}: caption {cap.text!r} lacks {missing}")
        entry.update(caption=cap.text, caption_total_s=round(cap.metrics.total_s, 4))
        results[precision] = entry
    results["chat"] = {**_check_chat_libraries(), **_check_chat_demo(picture)}
    app.processEvents()
    return results


def _check_chat_libraries() -> dict[str, str]:
    """The chat family's libraries load: openvino-genai (VLMPipeline) and the tokenizer ops it runs.

    Importing openvino_tokenizers makes every new `Core` load its extension library, so making one proves the
    library is in place (a bundle that lost it fails here, not at a user's first chat model).
    """
    import openvino
    import openvino_genai
    import openvino_tokenizers

    openvino.Core()
    versions = {"openvino_genai": openvino_genai.__version__, "openvino_tokenizers": openvino_tokenizers.__version__}
    line = openvino.__version__.split("-")[0].rsplit(".", 1)[0]  # 2026.4 of 2026.4.1-...
    if not all(v.startswith(line) for v in versions.values()):
        raise RuntimeError(f"openvino {openvino.__version__} with mismatched chat libraries {versions}")
    if not hasattr(openvino_genai, "VLMPipeline"):
        raise RuntimeError("openvino_genai has no VLMPipeline")
    return versions


def _check_chat_demo(picture: Any) -> dict[str, Any]:
    """A two-turn conversation with the bundled demo chat model, in each precision it ships."""
    from model_tools.library import store as library
    from model_tools.runtime import ConvertedModel, load

    model = ConvertedModel.open(library.DEMO_CHAT)
    report: dict[str, Any] = {"model": model.name}
    for precision in model.precisions:
        pipe = load(model.path, precision, "CPU")
        turns = []
        for i, (question, expected) in enumerate(CHAT):
            answer = pipe.ask([picture] if i == 0 else [], question, max_new_tokens=24)
            words = "".join(c if c.isalpha() else " " for c in answer.text.lower()).split()
            if expected not in words:
                raise RuntimeError(f"{precision} chat: asked {question!r}, expected {expected!r}, got {answer.text!r}")
            turns.append({"question": question, "answer": answer.text.strip(),
                          "total_s": round(answer.metrics.total_s, 4)})
        report[precision] = {"setup": pipe.setup_label, "turns": turns, "load_s": round(pipe.load_s, 3)}
    return report
