"""The switches above the chat: model, precision, device and generation settings.

They only report what the user picked (`model_chosen`, `precision_chosen`, `device_chosen`,
`generation_changed`); the window decides, and tells them what is actually loaded with `show_spec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QWidget,
)

from desktop_app.widgets.labels import buddy
from model_tools.runtime import ConvertedModel, Device

OTHER = "__other__"
INT8_MISSING = "This model has no INT8 version. Make an INT8 version in Model Tools ▸ Quantize."
INT4_MISSING = "This model has no INT4 version. Make an INT4 version in Model Tools ▸ Quantize (weights INT4)."
FP16_MISSING = "This model has no FP16 version. Convert it again in Model Tools ▸ Convert."
MISSING = {"fp16": FP16_MISSING, "int8": INT8_MISSING, "int4": INT4_MISSING}
PRECISION_TIPS = {
    "fp16": "FP16: the converted model as is (most faithful).",
    "int8": "INT8: quantized weights; smaller and usually faster, answers may differ slightly.",
    "int4": "INT4: the language model's weights in 4 bits; smallest and fastest, answers may differ more.",
}
BLIP_PRECISIONS = ("fp16", "int8")  # the switches shown with no model chosen
CHAT_MAX_TOKENS = 4096  # the longest answer a chat model may be asked for
BEAMS_TIP = "1 = greedy (fastest, streams word by word); more beams search wider"
EXACT_TIP = (
    "Run every part from the chosen precision's own files at full precision (f32 on a CPU): "
    "slower, but exactly FP16's or INT8's answer on any machine."
)


def model_label(model: ConvertedModel) -> str:
    kind = {"vqa": "questions", "chat": "chat"}.get(model.task, "captions")
    demo = " · demo" if model.spec.demo else ""
    return f"{model.name} ({kind}{demo})"


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def _spin_box(name: str, maximum: int, accessible_name: str, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setObjectName(name)
    box.setRange(1, maximum)
    box.setKeyboardTracking(False)  # one change when the typing is done, not one per digit
    box.setAccessibleName(accessible_name)
    box.setToolTip(tip)
    return box


def _combo(name: str, accessible_name: str, tip: str, max_width: int, list_width: int) -> ElidedComboBox:
    combo = ElidedComboBox(tip, max_width)
    combo.setObjectName(name)
    combo.setAccessibleName(accessible_name)
    combo.view().setMinimumWidth(list_width)
    return combo


class ElidedComboBox(QComboBox):
    """A combo box as wide as its longest item up to its maximum width; longer text ends in "…", and the
    tooltip (and the screen reader) has it in full."""

    def __init__(self, tip: str, max_width: int) -> None:
        super().__init__()
        self._tip = tip
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMaximumWidth(max_width)
        self.currentIndexChanged.connect(self._update_tip)
        self._update_tip()

    def shown_text(self) -> str:
        """The current text as painted: elided to the room the box has."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        room = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, room.width())

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def set_tip(self, tip: str) -> None:
        self._tip = tip
        self._update_tip()

    def _update_tip(self, _index: int = 0) -> None:
        text = self.currentText()
        self.setToolTip(f"{self._tip}: {text}" if text and self._tip else self._tip or text)


class ModelBar(QWidget):
    model_chosen = Signal(object)  # Path
    other_model_requested = Signal()
    precision_chosen = Signal(str)
    device_chosen = Signal(str)
    generation_changed = Signal(int, int)  # max new tokens, beams
    exact_chosen = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelBar")
        self._updating = False

        self.model_combo = _combo("modelCombo", "Model", "The model that answers", 320, 320)
        self.model_combo.activated.connect(self._on_model_activated)

        # Radio buttons in one exclusive group: one tab stop (the checked one), arrow keys move and choose.
        self.precision_buttons: dict[str, QRadioButton] = {}
        self.precision_group = QButtonGroup(self)
        self.precision_group.setExclusive(True)
        precision_box = QWidget()
        precision_box.setObjectName("precisionSwitch")
        precision_box.setAccessibleName("Precision")
        pl = QHBoxLayout(precision_box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(6)
        for key, text in (("fp16", "FP&16"), ("int8", "&INT8"), ("int4", "INT&4")):
            button = QRadioButton(text)
            button.setObjectName(f"precision_{key}")
            button.setToolTip(PRECISION_TIPS[key])
            button.clicked.connect(lambda _=False, k=key: self._on_precision_clicked(k))
            button.toggled.connect(lambda _on, b=button, k=key: self._name_precision(b, k))
            self.precision_group.addButton(button)
            self.precision_buttons[key] = button
            self._name_precision(button, key)
            button.setVisible(key in BLIP_PRECISIONS)  # INT4: for a chat model (show_model)
            pl.addWidget(button)
        self.exact = QCheckBox("E&xact precision")
        self.exact.setObjectName("exactPrecision")
        self.exact.setAccessibleName("Exact precision")
        self.exact.setToolTip(EXACT_TIP)
        self.exact.setAccessibleDescription(EXACT_TIP)
        self.exact.toggled.connect(self._on_exact_toggled)
        pl.addWidget(self.exact)
        self.setup = QLabel()
        self.setup.setObjectName("setupLabel")
        self.setup.setAccessibleName("Precision set-up")
        self.setup.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setup.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setup.hide()

        # The list is wider than the box: it shows the full device names.
        self.device_combo = _combo("deviceCombo", "Device", "Where OpenVINO runs the model", 240, 360)
        self.device_combo.activated.connect(self._on_device_activated)

        self.max_tokens = _spin_box(
            "maxTokens", 512, "Maximum new tokens", "The longest answer, in tokens (word pieces)"
        )
        self.beams = _spin_box("beams", 8, "Beam count", BEAMS_TIP)
        self.max_tokens.valueChanged.connect(self._on_generation_changed)
        self.beams.valueChanged.connect(self._on_generation_changed)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(8)
        for widget in (
            buddy("&Model", self.model_combo),
            self.model_combo,
            precision_box,
            self.setup,
            _separator(),
            buddy("&Device", self.device_combo),
            self.device_combo,
            _separator(),
            buddy("Max &tokens", self.max_tokens),
            self.max_tokens,
            buddy("&Beams", self.beams),
            self.beams,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    # -- shown state (no signals emitted) --------------------------------------------------------------------

    def set_models(self, models: Sequence[ConvertedModel], current: Path | None) -> None:
        self._updating = True
        try:
            self.model_combo.clear()
            seen: set[Path] = set()
            for model in models:
                path = model.path.resolve()
                if path in seen:
                    continue
                seen.add(path)
                self.model_combo.addItem(model_label(model), str(path))
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole
                )
            if not models:
                self.model_combo.addItem("No model installed", None)
            self.model_combo.insertSeparator(self.model_combo.count())
            self.model_combo.addItem("Open Model Folder…", OTHER)
            self._select_model(current)
        finally:
            self._updating = False

    def _select_model(self, current: Path | None) -> None:
        if current is None:
            self.model_combo.setCurrentIndex(0)
            return
        index = self.model_combo.findData(str(Path(current).resolve()))
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def show_model(self, model: ConvertedModel | None, precision: str) -> None:
        """Select `model`, show a switch per precision its family has (FP16, INT8; a chat model INT4 too),
        enable those it has (with tooltips for the others), check `precision`."""
        self._updating = True
        try:
            if model is not None:
                self._select_model(model.path)
                chat = model.task == "chat"
                self.max_tokens.setMaximum(CHAT_MAX_TOKENS if chat else max(1, model.spec.text.max_positions - 1))
                self.beams.setEnabled(not chat)  # a chat model answers greedily
                self.beams.setToolTip("A chat model answers greedily (one beam)" if chat else BEAMS_TIP)
            family = model.family_precisions if model is not None else BLIP_PRECISIONS
            for key, button in self.precision_buttons.items():
                button.setVisible(key in family)
                has = model is not None and model.has(key)
                button.setEnabled(has)
                if has:
                    button.setToolTip(PRECISION_TIPS[key])
                    button.setAccessibleDescription("")
                else:
                    tip = MISSING[key]
                    button.setToolTip(tip if model is not None else "Choose a model first.")
                    button.setAccessibleDescription(button.toolTip())
                button.setChecked(key == precision)
                self._name_precision(button, key)
        finally:
            self._updating = False

    def show_spec(self, model: ConvertedModel | None, precision: str, device: str, exact: bool) -> None:
        """Show what is loaded (or being loaded): the model with `precision` checked, its device, exact or not."""
        self.show_model(model, precision)
        self.show_device(device)
        self.show_exact(exact)

    def show_exact(self, exact: bool) -> None:
        self._updating = True
        try:
            self.exact.setChecked(exact)
        finally:
            self._updating = False

    def show_setup(self, label: str) -> None:
        """What the loaded model runs, in words (e.g. "INT8 · vision FP16 on this CPU")."""
        self.setup.setText(label)
        self.setup.setVisible(bool(label))
        what = f"Set-up of the loaded model: {label}" if label else ""
        self.setup.setToolTip(what)
        self.setup.setAccessibleDescription(what)

    def set_devices(self, devices: Sequence[Device], current: str) -> None:
        self._updating = True
        try:
            self.device_combo.clear()
            for device in devices:
                self.device_combo.addItem(device.label, device.id)
                self.device_combo.setItemData(
                    self.device_combo.count() - 1, device.name, Qt.ItemDataRole.ToolTipRole
                )
            self.show_device(current)
        finally:
            self._updating = False

    def show_device(self, device: str) -> None:
        self._updating = True
        try:
            index = self.device_combo.findData(device)
            if index < 0:
                self.device_combo.addItem(device, device)
                index = self.device_combo.count() - 1
            self.device_combo.setCurrentIndex(index)
        finally:
            self._updating = False

    def set_generation(self, max_new_tokens: int, num_beams: int) -> None:
        self._updating = True
        try:
            self.max_tokens.setValue(max_new_tokens)
            self.beams.setValue(num_beams)
        finally:
            self._updating = False

    def current_device(self) -> str | None:
        return self.device_combo.currentData()

    def current_precision(self) -> str | None:
        for key, button in self.precision_buttons.items():
            if button.isChecked():
                return key
        return None

    # -- user picks -----------------------------------------------------------------------------------------

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == OTHER:
            self.other_model_requested.emit()
        elif data:
            self.model_chosen.emit(Path(data))

    def _on_precision_clicked(self, key: str) -> None:
        if not self._updating:
            self.precision_chosen.emit(key)

    def _name_precision(self, button: QRadioButton, key: str) -> None:
        """What a screen reader says ("FP16, selected"); Tab stops at the checked one only."""
        state = "selected" if button.isChecked() else "not selected"
        if not button.isEnabled():
            state = "not available"
        button.setAccessibleName(f"{key.upper()}, {state}")
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus if button.isChecked() else Qt.FocusPolicy.ClickFocus)

    def _on_exact_toggled(self, on: bool) -> None:
        if not self._updating:
            self.exact_chosen.emit(on)

    def _on_device_activated(self, index: int) -> None:
        data = self.device_combo.itemData(index)
        if data and not self._updating:
            self.device_chosen.emit(data)

    def _on_generation_changed(self, _value: int) -> None:
        if not self._updating:
            self.generation_changed.emit(self.max_tokens.value(), self.beams.value())
