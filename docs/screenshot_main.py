"""Take docs/glimpse-main.png: the real window answering questions about a bundled picture with the demo model.

Run under a virtual screen:  Xvfb :99 -screen 0 1400x900x24 &  DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshot_main.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("GLIMPSE_CONFIG_DIR", tempfile.mkdtemp(prefix="glimpse-shot-"))  # the user's settings stay

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop_app.session.aio import install_event_loop  # noqa: E402
from desktop_app.window.main_window import MainWindow  # noqa: E402
from desktop_app.resources import SAMPLES, app_icon  # noqa: E402
from desktop_app.session.settings import load_settings  # noqa: E402
from desktop_app.widgets.theme import ensure_theme  # noqa: E402

QUESTIONS = ["what shape is the yellow object?", "how many shapes are there?", ""]


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    ensure_theme(app)
    install_event_loop(app)
    settings, _ = load_settings()
    window = MainWindow(None, settings, images=[SAMPLES / "blue-square-yellow-triangle.png"])
    window.resize(1280, 800)
    window.show()
    pending = list(QUESTIONS)

    def next_question(*_: object) -> None:
        if pending:
            question = pending.pop(0)
            if question:
                window.ask(question)
            else:
                window.describe()
        else:
            QTimer.singleShot(400, shoot)

    def shoot() -> None:
        out = ROOT / "docs" / "glimpse-main.png"
        window.grab().save(str(out))
        print(out)
        window.close()

    window.controller.answer_finished.connect(lambda *_: QTimer.singleShot(150, next_question))
    window.controller.images_read.connect(lambda *_: QTimer.singleShot(300, next_question))
    QTimer.singleShot(60_000, app.quit)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
