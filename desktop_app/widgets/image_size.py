"""What size the model sees the pictures at, beside the picture's own size: said for every model, and a limit
offered where the model takes pictures at about their own size (users of other apps find their pictures
silently shrunk)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from desktop_app.widgets.labels import buddy
from desktop_app.widgets.model_bar import ElidedComboBox
from model_tools.runtime import ConvertedModel
from model_tools.runtime.image_input import SIDES, ImageInput, image_input


class ImageSizeBox(QWidget):
    side_chosen = Signal(int)  # longest picture side sent to the model, 0: full size

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageSizeBox")
        self.combo = ElidedComboBox("", 200)
        self.combo.setObjectName("imageSize")
        self.combo.setAccessibleName("Picture size sent to the model")
        self.combo.view().setMinimumWidth(200)
        self.combo.activated.connect(self._on_activated)
        self.input: ImageInput | None = None
        self._side = 0
        self._updating = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(buddy("Sent to the model at si&ze", self.combo))
        layout.addWidget(self.combo)
        self._show()

    def show_input(self, model: ConvertedModel | None, precision: str) -> None:
        """How `model` at `precision` takes pictures (nothing chosen yet: a dash)."""
        self.input = image_input(model, precision) if model is not None and model.has(precision) else None
        self._show()

    def set_side(self, side: int) -> None:
        """The limit chosen for models that take pictures at their own size (0: full size)."""
        self._side = side
        self._show()

    def _show(self) -> None:
        info = self.input
        self._updating = True
        try:
            self.combo.clear()
            if info is None or not info.adjustable:
                self.combo.addItem(info.short if info else "–", 0)
            else:
                self.combo.addItem("Full size", 0)
                for side in SIDES:
                    self.combo.addItem(f"Up to {side} px", side)
                self.combo.setCurrentIndex(max(0, self.combo.findData(self._side)))
            self.combo.setEnabled(info is not None and info.adjustable)
            tip = info.words if info else "Choose a model first."
            if info is not None and info.adjustable:
                tip += " A smaller limit answers sooner and sees less detail."
            self.combo.set_tip(tip)
            self.combo.setAccessibleDescription(tip)
        finally:
            self._updating = False

    def _on_activated(self, index: int) -> None:
        side = self.combo.itemData(index)
        if side is not None and not self._updating and self.input is not None and self.input.adjustable:
            self._side = int(side)
            self.side_chosen.emit(self._side)
