"""The status bar: what is loaded (model, precision, device, load time), memory in use, and loading activity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psutil
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

if TYPE_CHECKING:
    from desktop_app.session.model_loader import ModelLoader, ModelSpec
    from model_tools.runtime import BlipPipeline


MEMORY_EVERY_MS = 2000


class GlimpseStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.busy = QProgressBar()
        self.busy.setObjectName("loadingIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(110)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.setAccessibleName("Loading")
        self.busy.hide()
        self.activity = QLabel()
        self.activity.setObjectName("activityLabel")
        self.model = QLabel("No model")
        self.model.setObjectName("modelStatus")
        self.model.setAccessibleName("Loaded model")
        self.memory = QLabel()
        self.memory.setObjectName("memoryStatus")
        self.memory.setAccessibleName("Memory in use")
        self.memory.setToolTip("Memory used by Glimpse (resident set size)")
        self.addWidget(self.busy)
        self.addWidget(self.activity, 1)
        self.addPermanentWidget(self.model)
        self.addPermanentWidget(self.memory)
        self._process = psutil.Process()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.update_memory)
        self._timer.start(MEMORY_EVERY_MS)
        self.update_memory()

    def watch(self, loader: ModelLoader) -> None:
        """Say what is being loaded, and how far it got, while `loader` is busy."""
        self._loader = loader
        loader.loading_started.connect(self._on_loading_started)
        loader.progressed.connect(self._on_load_progressed)
        loader.busy_changed.connect(self._on_busy_changed)

    def _on_loading_started(self, spec: ModelSpec) -> None:
        self.set_loading(f"Loading {spec.describe()}…")

    def _on_load_progressed(self, text: str) -> None:
        if self._loader.busy:
            self.set_loading(text)

    def _on_busy_changed(self, busy: bool) -> None:
        wanted = self._loader.wanted
        self.set_loading((f"Loading {wanted.describe()}…" if wanted else "Loading…") if busy else None)

    def set_loading(self, text: str | None) -> None:
        self.busy.setVisible(bool(text))
        self.activity.setText(text or "")

    def show_pipeline(self, pipe: BlipPipeline | None) -> None:
        if pipe is None:
            self.model.setText("No model loaded")
            self.model.setToolTip("")
            return
        self.model.setText(
            f"{pipe.model.name}  ·  {pipe.precision.upper()}  ·  {pipe.device}  ·  loaded in {pipe.load_s:.1f} s"
        )
        self.model.setToolTip(str(pipe.model.path))
        self.update_memory()

    def update_memory(self) -> None:
        try:
            rss = self._process.memory_info().rss
        except (psutil.Error, OSError):
            self.memory.setText("")
            return
        self.memory.setText(f"{rss / 2**20:,.0f} MB")
