"""Take docs/glimpse-chat.png: the real window holding a four-turn conversation with the demo chat model.

The model is the bundled demo chat model (a tiny LLaVA trained here on shape pictures, exported by our own
converter and run through openvino-genai's VLMPipeline), in INT4; the last question is a follow-up.

Run under a virtual screen:  Xvfb :99 -screen 0 1400x900x24 &  DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshot_chat.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="glimpse-chat-shot-"))
os.environ.setdefault("GLIMPSE_CONFIG_DIR", str(WORK / "config"))  # the user's settings stay

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_app.resources import SAMPLES, app_icon  # noqa: E402
from desktop_app.session.aio import install_event_loop  # noqa: E402
from desktop_app.session.settings import load_settings  # noqa: E402
from desktop_app.widgets.theme import ensure_theme  # noqa: E402
from desktop_app.window.main_window import MainWindow  # noqa: E402

QUESTIONS = ["Describe the picture.", "What colour is the triangle?", "What shape is the red object?", "And what colour is it?"]


def main() -> int:
    from model_tools.library.store import DEMO_CHAT

    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    ensure_theme(app)
    install_event_loop(app)
    settings, _ = load_settings()
    settings.precision = "int4"
    window = MainWindow(DEMO_CHAT, settings, images=[SAMPLES / "three-shapes.png"])
    window.resize(1280, 800)
    window.show()
    pending = list(QUESTIONS)

    def next_question(*_: object) -> None:
        if window.models.current is None or window.models.busy:
            QTimer.singleShot(200, next_question)
        elif pending:
            window.ask(pending.pop(0))
        else:
            QTimer.singleShot(400, shoot)

    def shoot() -> None:
        out = ROOT / "docs" / "glimpse-chat.png"
        window.grab().save(str(out))
        print(out)
        window.close()

    window.controller.answer_finished.connect(lambda *_: QTimer.singleShot(150, next_question))
    window.controller.images_read.connect(lambda *_: QTimer.singleShot(300, next_question))
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
