"""Quantize page: an FP16 model -> int8/ beside it, with NNCF, on calibration pictures of the user's choice; a
chat model -> int8/ or int4/, its weights compressed (no calibration)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QRadioButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView, human_bytes, stage_name
from desktop_app.tools_panel.page import ModelPage, PathField, choice_group, number_field
from desktop_app.widgets.labels import buddy, text_label
from model_tools.jobs.requests import (
    DEFAULT_GROUP_SIZE,
    DEFAULT_MAX_DROP,
    DEFAULT_RATIO,
    DEFAULT_SUBSET_SIZE,
    QuantizeRequest,
    QuantizeResult,
)
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel

BUILTIN, FOLDER, VQAV2 = "builtin", "folder", "vqav2"
SOURCE_NAMES = {BUILTIN: "the built-in samples", VQAV2: "VQAv2"}


def quantizable(model: ConvertedModel) -> bool:
    return model.has("fp16") and not library.is_bundled(model)


class QuantizePage(ModelPage):
    name = "quantize"
    heading = "Quantize"
    blurb = (
        "Make an INT8 version of a converted model with NNCF: the vision model and text encoder are quantized "
        "on calibration pictures, the decoder's weights are compressed. Smaller and usually faster; answers "
        "may differ a little (check on the Compare page). A chat model's weights are compressed to INT8 or "
        "INT4, with no calibration."
    )

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, quantizable, "No converted model yet: convert one first", "Model to quantize", parent)
        self.last_result: QuantizeResult | None = None  # for the summary and the Compare button

        self.builtin_radio = QRadioButton("&Built-in samples")
        self.builtin_radio.setToolTip(
            "The sample pictures and generated shape pictures that ship with Glimpse"
        )
        self.folder_radio = QRadioButton("A &folder of pictures")
        self.vqav2_radio = QRadioButton("&VQAv2 (streamed from Hugging Face)")
        self.vqav2_radio.setToolTip("Real photos and questions; needs the network")
        self.calibration_group = choice_group(
            self,
            "calibration",
            {BUILTIN: self.builtin_radio, FOLDER: self.folder_radio, VQAV2: self.vqav2_radio},
        )
        self.folder_field = PathField("Folder of pictures (PNG, JPEG…)", caption="Calibration pictures")
        self.folder_field.setObjectName("calibrationFolder")
        self.questions_field = PathField(
            "Questions file, one per line (optional)",
            folder=False,
            caption="Questions file",
            file_filter="Text files (*.txt);;All files (*)",
        )
        self.questions_field.setObjectName("questionsFile")
        self.subset = number_field(
            QSpinBox(), "subsetSize", "Calibration subset size", (1, 10000), DEFAULT_SUBSET_SIZE,
            suffix=" samples", tip="More samples calibrate better and take longer (NNCF's default is 300)",
        )  # fmt: skip

        self.int8_radio = QRadioButton("INT&8")
        self.int4_radio = QRadioButton("INT&4 (smaller; group-wise, some layers stay INT8)")
        self.decoder_group = choice_group(self, "decoder", {"int8": self.int8_radio, "int4": self.int4_radio})
        self.group_size = number_field(
            QSpinBox(), "groupSize", "INT4 group size", (8, 1024), DEFAULT_GROUP_SIZE, step=8
        )
        self.ratio = number_field(
            QDoubleSpinBox(), "int4Ratio", "Share of INT4 layers", (0.05, 1.0), DEFAULT_RATIO, step=0.05
        )

        self.accuracy = QCheckBox("&Accuracy control: keep layers in float until answers agree with FP16")
        self.accuracy.setObjectName("accuracyControl")
        self.max_drop = number_field(
            QDoubleSpinBox(), "maxDrop", "Maximum drop in agreement", (0.0, 50.0), DEFAULT_MAX_DROP * 100,
            step=0.5, suffix=" %",
        )  # fmt: skip

        calib_box = QGroupBox("Calibration data")
        grid = QGridLayout(calib_box)
        grid.addWidget(self.builtin_radio, 0, 0)
        grid.addWidget(self.vqav2_radio, 0, 1)
        grid.addWidget(self.folder_radio, 1, 0)
        grid.addWidget(self.folder_field, 1, 1)
        grid.addWidget(self.questions_field, 2, 1)
        grid.addWidget(buddy("&Subset size", self.subset), 3, 0)
        grid.addWidget(self.subset, 3, 1, Qt.AlignmentFlag.AlignLeft)
        grid.setColumnStretch(1, 1)

        options_box = QGroupBox("Options")
        form = QFormLayout(options_box)
        form.addRow("&Model", self.model_combo)
        decoder_row = QHBoxLayout()
        decoder_row.addWidget(self.int8_radio)
        decoder_row.addWidget(self.int4_radio)
        decoder_row.addSpacing(12)
        decoder_row.addWidget(QLabel("group size"))
        decoder_row.addWidget(self.group_size)
        decoder_row.addWidget(QLabel("ratio"))
        decoder_row.addWidget(self.ratio)
        decoder_row.addStretch(1)
        self.weights_label = QLabel("Decoder weights")
        form.addRow(self.weights_label, decoder_row)
        self.drop_row = QWidget()  # BLIP only: a chat model's weights need no calibration to check against
        drop_row = QHBoxLayout(self.drop_row)
        drop_row.setContentsMargins(0, 0, 0, 0)
        drop_row.addWidget(self.accuracy)
        drop_row.addWidget(QLabel("maximum drop"))
        drop_row.addWidget(self.max_drop)
        drop_row.addStretch(1)
        form.addRow("", self.drop_row)
        self.calib_box = calib_box

        self.quantize_button = self.start_button("Quantize", "quantizeButton", self.quantize, default=True)
        self.compare_button = self.next_step_button(
            "Compare FP16 and INT8…", "compareResultButton", "compare"
        )
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.compare_button)
        row.addWidget(self.quantize_button)

        self.job_view = JobView(runner, self.name)
        self.summary = QGroupBox("Result")
        self.summary.setObjectName("quantizeSummary")
        self.summary_line = text_label("quantizeSummaryLine", wrap=True)
        self.sizes = QTreeWidget()
        self.sizes.setObjectName("quantizeSizes")
        self.sizes.setRootIsDecorated(False)
        self.sizes.setHeaderLabels(["Component", "FP16 (before)", "INT8 (after)", "Smaller by"])
        self.sizes.header().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            self.sizes.headerItem().setTextAlignment(
                col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        box = QVBoxLayout(self.summary)
        box.addWidget(self.summary_line)
        box.addWidget(self.sizes)
        self.summary.hide()

        self.body.addWidget(options_box)
        self.body.addWidget(calib_box)
        self.body.addLayout(row)
        self.body.addWidget(self.job_view, 1)
        self.body.addWidget(self.summary, 1)
        self.start_buttons = [self.quantize_button]
        self.require_tools(self.quantize_button, what="Quantizing")

        self.calibration_group.buttonToggled.connect(lambda *_: self._update_enabled())
        self.decoder_group.buttonToggled.connect(lambda *_: self._update_enabled())
        self.accuracy.toggled.connect(lambda *_: self._update_enabled())
        self.model_combo.currentIndexChanged.connect(lambda *_: self._show_family_options())
        runner.job_started.connect(self._on_job_started)
        runner.job_finished.connect(self._on_job_finished)
        self._update_enabled()
        self.refresh()

    def is_chat(self) -> bool:
        """The chosen model is a chat model: its language model's weights are what quantizing changes."""
        model = self.model_combo.model()
        return model is not None and model.spec.family == "chat"

    def _show_family_options(self) -> None:
        chat = self.is_chat()
        self.calib_box.setVisible(not chat)
        self.drop_row.setVisible(not chat)
        self.weights_label.setText("Language model weights" if chat else "Decoder weights")
        self.int8_radio.setAccessibleName("Language model weights INT8" if chat else "Decoder weights INT8")
        self.int4_radio.setAccessibleName("Language model weights INT4" if chat else "Decoder weights INT4")

    def refresh(self) -> None:
        """Re-read the models; with none to quantize, the chooser says why the bundled ones are not offered."""
        bundled = [m.name for m in library.installed() if library.is_bundled(m)]
        if bundled:
            names = ", ".join(bundled[:-1]) + " and " + bundled[-1] if len(bundled) > 1 else bundled[0]
            self.model_combo.empty = (
                f"No model of yours yet: {names} ship with Glimpse, quantized already. Convert a model first"
            )
        super().refresh()

    def _update_enabled(self) -> None:
        folder = self.folder_radio.isChecked()
        self.folder_field.setEnabled(folder)
        self.questions_field.setEnabled(folder or self.builtin_radio.isChecked())
        int4 = self.int4_radio.isChecked()
        self.group_size.setEnabled(int4)
        self.ratio.setEnabled(int4)
        self.max_drop.setEnabled(self.accuracy.isChecked())

    def calibration(self) -> str:
        if self.vqav2_radio.isChecked():
            return VQAV2
        if self.folder_radio.isChecked():
            return self.folder_field.text()
        return BUILTIN

    def set_calibration(self, source: str | Path, questions: str | Path | None = None) -> None:
        text = str(source)
        if text == BUILTIN:
            self.builtin_radio.setChecked(True)
        elif text == VQAV2:
            self.vqav2_radio.setChecked(True)
        else:
            self.folder_radio.setChecked(True)
            self.folder_field.set_path(text)
        self.questions_field.set_path(questions)

    def request(self, model: Path) -> QuantizeRequest:
        """The job's request for `model`, from the form; options the form leaves off keep their defaults."""
        int4, accuracy = self.int4_radio.isChecked(), self.accuracy.isChecked()
        if self.is_chat():
            return QuantizeRequest(
                model,
                weights="int4" if int4 else "int8",
                group_size=self.group_size.value() if int4 else DEFAULT_GROUP_SIZE,
                ratio=round(self.ratio.value(), 3) if int4 else DEFAULT_RATIO,
            )
        return QuantizeRequest(
            model,
            calibration=self.calibration(),
            questions=self.questions_field.path() if not self.vqav2_radio.isChecked() else None,
            subset_size=self.subset.value(),
            decoder="int4" if int4 else "int8",
            group_size=self.group_size.value() if int4 else DEFAULT_GROUP_SIZE,
            ratio=round(self.ratio.value(), 3) if int4 else DEFAULT_RATIO,
            accuracy_control=accuracy,
            max_drop=round(self.max_drop.value() / 100, 4) if accuracy else DEFAULT_MAX_DROP,
        )

    def quantize(self, model: Path | None = None) -> bool:
        """Quantize the chosen model (or `model`) with the form's options; False if it did not start."""
        path = self.chosen_model(model, "Choose a converted model first (convert one on the Convert page).")
        if path is None:
            return False
        request = self.request(path)
        if self.is_chat():
            title = f"Quantizing {path.name} (language model {request.weights.upper()})"
            return self.start_job(request, title, makes=path / request.weights)
        if request.calibration == "":
            self.show_notice("Choose the folder of calibration pictures, or use the built-in samples.")
            return False
        title = f"Quantizing {path.name} (decoder {request.decoder.upper()})"
        return self.start_job(request, title, makes=path / "int8")

    def _on_job_started(self, job: Job) -> None:
        if job.page == self.name:
            self.summary.hide()
            self.compare_button.hide()

    def _on_job_finished(self, job: Job, result: object) -> None:
        if job.page == self.name and isinstance(result, QuantizeResult):
            self.show_result(result)

    def show_result(self, result: QuantizeResult) -> None:
        """Sizes before and after per component, and what calibration was used."""
        self.last_result = result
        made = result.precision  # int8, or int4 for a chat model
        sizes = result.sizes_bytes
        self.sizes.clear()
        self.sizes.headerItem().setText(2, f"{made.upper()} (after)")
        parts = result.parts or {}
        for part, before in sizes["fp16"].items():
            after = sizes[made][part]
            mode = str((parts.get(part) or {}).get("mode") or made).split("_")[0].upper()
            label = "Total" if part == "total" else f"{stage_name(part)} ({mode})"
            item = QTreeWidgetItem(
                [label, human_bytes(before), human_bytes(after), f"{before / after:.2f}x" if after else "–"]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, part)
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if part == "total":
                font = item.font(0)
                font.setBold(True)
                for col in range(4):
                    item.setFont(col, font)
            self.sizes.addTopLevelItem(item)
        rows = self.sizes.topLevelItemCount()
        self.sizes.setFixedHeight(self.sizes.header().height() + rows * self.sizes.sizeHintForRow(0) + 6)
        calib = result.calibration or {}
        before, after = sizes["fp16"]["total"], sizes[made]["total"]
        text = (
            f"<b>{result.name}</b>: {made.upper()} written to {result.int8}. "
            f"{human_bytes(before)} before, {human_bytes(after)} after."
        )
        if calib:
            source = SOURCE_NAMES.get(calib.get("source"), calib.get("source", "?"))
            text += f" Calibrated on {calib.get('samples', '?')} samples from {source}"
            if calib.get("skipped"):
                text += f" ({calib['skipped']} unreadable pictures skipped)"
            text += "."
        else:
            text += " Weights compressed; no calibration needed."
        # how long it took: the job line above says it (one duration, not two)
        ac = result.accuracy_control
        if ac:
            agreement = ", ".join(f"{p} {v:.0%}" for p, v in (ac.get("agreement") or {}).items())
            text += f" Accuracy control (max drop {ac.get('max_drop', 0):.1%}): same answers as FP16 — {agreement}."
        self.summary_line.setText(text)
        self.summary.show()
        self.compare_button.setText(f"Compare FP16 and {made.upper()}…")
        self.compare_button.show()
