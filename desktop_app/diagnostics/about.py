"""Versions and devices: for Help ▸ About and for the details of every error report."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app import __version__
from desktop_app.resources import app_icon


def versions() -> dict[str, str]:
    try:
        import openvino

        ov = openvino.get_version()
    except Exception as exc:  # noqa: BLE001 - a report must not fail
        ov = f"unavailable ({exc})"
    return {
        "Glimpse": __version__,
        "OpenVINO": ov,
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "Python": platform.python_version(),
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def environment_report(devices: Sequence[object] = (), extra: dict[str, str] | None = None) -> str:
    """Plain text: versions, devices, and whatever the caller adds (model, precision, device in use)."""
    lines = [f"{k}: {v}" for k, v in versions().items()]
    if devices:
        lines.append("Devices: " + "; ".join(getattr(d, "label", str(d)) for d in devices))
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    lines.append(f"Executable: {sys.executable}")
    return "\n".join(lines)


class AboutDialog(QDialog):
    """Help ▸ About: what Glimpse is, its versions and the devices OpenVINO reports."""

    def __init__(self, parent: QWidget | None, devices: Sequence[object], extra: dict[str, str]) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Glimpse")
        self.setObjectName("aboutDialog")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(72, 72))
        title = QLabel(
            f"<h2 style='margin:0'>Glimpse {__version__}</h2>"
            "<p>Ask questions about pictures and caption them, on your own computer, with "
            "BLIP models run by OpenVINO.</p>"
        )
        title.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(icon)
        head.addWidget(title, 1)
        self.report = QPlainTextEdit(environment_report(devices, extra))
        self.report.setReadOnly(True)
        self.report.setAccessibleName("Versions and devices")
        self.report.setMinimumHeight(160)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("&Copy")
        copy.setAccessibleName("Copy versions and devices")
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.report.toPlainText()))
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.report)
        layout.addWidget(buttons)
        self.resize(520, 360)
