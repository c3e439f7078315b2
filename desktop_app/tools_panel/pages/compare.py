"""Compare page: FP16 against INT8 (or INT4) of one model. Sizes and latencies as bar charts, answers side by side,
export as PNG, CSV and JSON. The numbers come from `model_tools.measure.compare.compare` (in a job process)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.charts import BarChartView
from desktop_app.tools_panel.compare_answers import (
    AnswersTable,
    PictureDialog,
    asked_text,
    ran_text,
    side_labels,
    thumbnail,
)
from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView
from desktop_app.tools_panel.page import ModelPage, PathField, choice_group, number_field
from desktop_app.widgets.error_dialog import show_error
from desktop_app.widgets.labels import buddy, text_label
from model_tools.jobs.requests import DEFAULT_MAX_NEW_TOKENS, DEFAULT_RUNS, CompareReport, CompareRequest
from model_tools.library import compare_report as compare_files
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, Device, GlimpseError

log = logging.getLogger("glimpse.app.tools")


CANDIDATES = ("int8", "int4")


def comparable(model: ConvertedModel) -> bool:
    return model.has("fp16") and any(model.has(p) for p in CANDIDATES)


class ComparePage(ModelPage):
    name = "compare"
    heading = "Compare"
    blurb = (
        "What INT8 (or a chat model's INT4) buys on this computer: file sizes, the time each stage takes "
        "(medians of several runs) and whether the answers stay the same on sample pictures."
    )

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(
            runner, comparable, "No model with an INT8 version yet: quantize one first", "Model to compare", parent
        )
        self.report: dict[str, Any] | None = None
        self.candidate_combo = QComboBox()
        self.candidate_combo.setObjectName("compareCandidate")
        self.candidate_combo.setAccessibleName("Compare FP16 with")
        self.candidate_combo.setToolTip("The quantized version of the model to compare with its FP16")
        self._candidates_key: tuple = ()
        self.model_combo.currentIndexChanged.connect(lambda *_: self._list_candidates())

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("compareDevice")
        self.device_combo.setAccessibleName("Device")
        self.set_devices([Device("CPU", "CPU"), Device("AUTO", "Automatic: OpenVINO picks the best device")])
        self.runs = number_field(
            QSpinBox(), "compareRuns", "Timed runs per precision", (1, 100), DEFAULT_RUNS,
            tip="Timed answers per precision; the charts show medians",
        )  # fmt: skip
        self.max_tokens = number_field(
            QSpinBox(), "compareMaxTokens", "Longest answer in tokens", (1, 256), DEFAULT_MAX_NEW_TOKENS,
            suffix=" tokens",
        )  # fmt: skip
        self.builtin_radio = QRadioButton("&Built-in samples")
        self.folder_radio = QRadioButton("&Folder")
        self.pictures_group = choice_group(
            self, "pictures", {"builtin": self.builtin_radio, "folder": self.folder_radio}
        )
        self.folder_field = PathField(
            "Folder of pictures (a questions.txt in it is used)", caption="Pictures"
        )
        self.folder_field.setObjectName("compareFolder")
        self.pictures_group.buttonToggled.connect(
            lambda *_: self.folder_field.setEnabled(self.folder_radio.isChecked())
        )
        self.folder_field.setEnabled(False)

        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        top = QHBoxLayout()
        top.addWidget(self.model_combo, 2)
        top.addSpacing(12)
        top.addWidget(buddy("FP16 &with", self.candidate_combo))
        top.addWidget(self.candidate_combo)
        top.addSpacing(12)
        top.addWidget(buddy("&Device", self.device_combo))
        top.addWidget(self.device_combo, 1)
        form.addRow(buddy("&Model", self.model_combo), top)
        second = QHBoxLayout()
        second.addWidget(self.runs)
        second.addSpacing(12)
        second.addWidget(buddy("&Longest answer", self.max_tokens))
        second.addWidget(self.max_tokens)
        second.addSpacing(12)
        second.addWidget(QLabel("Pictures"))
        second.addWidget(self.builtin_radio)
        second.addWidget(self.folder_radio)
        second.addWidget(self.folder_field, 1)
        form.addRow(buddy("Timed &runs", self.runs), second)

        self.compare_button = self.start_button("Compare", "compareButton", self.compare, default=True)
        self.png_button = QPushButton("Save Charts as PNG…")
        self.png_button.setObjectName("exportPng")
        self.csv_button = QPushButton("Save Data as CSV…")
        self.csv_button.setObjectName("exportCsv")
        self.json_button = QPushButton("Save Data as JSON…")
        self.json_button.setObjectName("exportJson")
        self.png_button.clicked.connect(lambda: self._choose_export("png"))
        self.csv_button.clicked.connect(lambda: self._choose_export("csv"))
        self.json_button.clicked.connect(lambda: self._choose_export("json"))
        # "Saved …" goes beside the buttons, in space the row has anyway: nothing moves under the cursor.
        self.saved = text_label("compareSaved", selectable=True)
        self.saved.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        buttons = QHBoxLayout()
        for b in (self.png_button, self.csv_button, self.json_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addSpacing(8)
        buttons.addWidget(self.saved, 1)
        buttons.addWidget(self.compare_button)

        self.job_view = JobView(runner, self.name, with_log=False)
        self.headline = text_label("compareHeadline", wrap=True, selectable=True)
        self.headline.setText("Run a comparison to see sizes, speed and answers side by side.")
        self.ran = text_label("compareRan", wrap=True, selectable=True)
        self.ran.hide()

        self.size_chart = BarChartView("sizeChart")
        self.latency_chart = BarChartView("latencyChart")
        # Charts stacked on the left, the answers beside them at the page's full height.
        self.charts = QWidget()
        self.charts.setObjectName("compareCharts")
        charts = QVBoxLayout(self.charts)
        charts.setContentsMargins(0, 0, 0, 0)
        charts.addWidget(self.size_chart, 1)
        charts.addWidget(self.latency_chart, 1)

        self.agreement = text_label("agreementLabel", wrap=True)
        self.asked = text_label("compareAsked", wrap=True, selectable=True)
        self.only_differing = QCheckBox("Only &different answers")
        self.only_differing.setObjectName("onlyDiffering")
        self.only_differing.toggled.connect(lambda *_: self._fill_answers())
        self.answers = AnswersTable()
        self.answers.activated.connect(lambda index: self.show_picture(index.row()))
        self.picture_dialog: PictureDialog | None = None
        answers_box = QWidget()
        ab = QVBoxLayout(answers_box)
        ab.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.agreement, 1)
        head.addWidget(self.only_differing)
        ab.addLayout(head)
        ab.addWidget(self.asked)
        ab.addWidget(self.answers, 1)

        self.results = QSplitter(Qt.Orientation.Horizontal)
        self.results.setObjectName("compareResults")
        self.results.setChildrenCollapsible(False)
        self.results.addWidget(self.charts)
        self.results.addWidget(answers_box)
        self.results.setStretchFactor(0, 4)
        self.results.setStretchFactor(1, 5)
        self.results.setVisible(False)

        self.body.addWidget(options)
        self.body.addLayout(buttons)
        self.body.addWidget(self.job_view)
        self.body.addWidget(self.headline)
        self.body.addWidget(self.ran)
        self.body.addWidget(self.results, 1)
        self.body.addStretch(0)  # before the first report: the form stays at the top, the space below
        self.start_buttons = [self.compare_button]
        runner.job_finished.connect(self._on_job_finished)
        self.refresh()

    # -- options --------------------------------------------------------------------------------------------

    def set_devices(self, devices: Sequence[Device], current: str | None = None) -> None:
        keep = current or self.device_combo.currentData() or "CPU"
        self.device_combo.clear()
        for device in devices:
            self.device_combo.addItem(device.label, device.id)
            self.device_combo.setItemData(
                self.device_combo.count() - 1, device.name, Qt.ItemDataRole.ToolTipRole
            )
        index = self.device_combo.findData(keep)
        self.device_combo.setCurrentIndex(max(0, index))

    def _list_candidates(self) -> None:
        """The chosen model's quantized versions (INT8, INT4). A model chosen anew, or with a version made since,
        starts with its newest (the one just quantized); otherwise the choice stays."""
        model = self.model_combo.model()
        made = {p: model.manifest["precisions"][p].get("created", "") for p in CANDIDATES if model.has(p)} if model else {}
        key = (str(model.path) if model else "", tuple(made.items()))
        keep = self.candidate_combo.currentData() if key == self._candidates_key else None
        self._candidates_key = key
        self.candidate_combo.clear()
        for precision in made:
            self.candidate_combo.addItem(library.precision_label(model, precision), precision)
        newest = max(made, key=lambda p: made[p], default=None)
        self.candidate_combo.setCurrentIndex(max(0, self.candidate_combo.findData(keep or newest)))
        self.candidate_combo.setEnabled(len(made) > 1)

    def candidate(self) -> str:
        """The precision FP16 is compared with."""
        return self.candidate_combo.currentData() or "int8"

    def request(self, model: Path) -> CompareRequest:
        """The job's request for `model`, from the form: FP16 against the chosen candidate."""
        return CompareRequest(
            model,
            device=self.device_combo.currentData() or "CPU",
            runs=self.runs.value(),
            max_new_tokens=self.max_tokens.value(),
            images=self.folder_field.path() if self.folder_radio.isChecked() else None,
            baseline="fp16",
            candidate=self.candidate(),
        )

    def compare(self, model: Path | None = None) -> bool:
        """Compare FP16 with INT8 (or INT4) of the chosen model (or `model`); False if it did not start."""
        path = self.chosen_model(model, "Choose a model with an INT8 version (make one on the Quantize page).")
        if path is None:
            return False
        request = self.request(path)
        if self.folder_radio.isChecked() and request.images is None:
            self.show_notice("Choose the folder of pictures, or use the built-in samples.")
            return False
        title = f"Comparing FP16 and {request.candidate.upper()} of {path.name} on {request.device}"
        return self.start_job(request, title, changes_models=False)

    # -- results --------------------------------------------------------------------------------------------

    def _on_job_finished(self, job: Job, result: object) -> None:
        if job.page == self.name and isinstance(result, CompareReport):
            # On timers, in steps (the job's end, the charts, the answers with their pictures): the window
            # takes input and draws in between.
            report = result.to_dict()
            QTimer.singleShot(1, self, lambda: self.show_report(report, answers_now=False))

    def show_report(self, report: dict[str, Any], *, answers_now: bool = True) -> None:
        """Charts, headline and answers of a report (`CompareReport.to_dict()`). With `answers_now` false the
        answers table (a picture per row) fills in the event loop's next turn, so the charts draw first."""
        self.report = report
        data = compare_files.chart_data(report)
        self.size_chart.set_data(data["sizes"])
        self.latency_chart.set_data(data["latency"])
        self.answers.show_columns(report)
        self.headline.setText(f"<b>{report['model']}</b>: {compare_files.headline(report)}")
        self.ran.setText(ran_text(report))
        self.ran.setVisible(bool(self.ran.text()))
        self.asked.setText(asked_text(report))
        self.saved.clear()
        lead, rest = compare_files.agreement_text(report)
        self.agreement.setText(f"<b>{lead}</b> {rest}")
        if answers_now:
            self._fill_answers()
        else:
            self.answers.show_rows([], {})
            QTimer.singleShot(1, self, lambda: self._fill_answers() if self.report is report else None)
        self.results.setVisible(True)
        for b in (self.png_button, self.csv_button, self.json_button):
            b.setEnabled(True)

    def answer_rows(self) -> list[dict[str, str]]:
        """Every input's answers (reports from before `answers` existed: the differing ones)."""
        if self.report is None:
            return []
        return list(self.report.get("answers") or self.report.get("differing") or [])

    def _fill_answers(self) -> None:
        rows = self.answer_rows()
        if self.only_differing.isChecked():
            rows = [r for r in rows if not compare_files.pair_agrees(r)]
        self.answers.show_rows(rows, (self.report or {}).get("thumbnails") or {})

    def show_picture(self, row: int) -> PictureDialog | None:
        """The picture of a row of the table, bigger, with its question and answers (Enter, double-click)."""
        rows = self.answers.rows
        if not 0 <= row < len(rows) or self.report is None:
            return None
        data = rows[row]
        pixmap = thumbnail((self.report.get("thumbnails") or {}).get(data["image"]))
        if self.picture_dialog is not None:
            self.picture_dialog.close()
            self.picture_dialog.deleteLater()
        self.picture_dialog = PictureDialog(pixmap, data, side_labels(self.report), self)
        self.picture_dialog.show()
        return self.picture_dialog

    # -- export ---------------------------------------------------------------------------------------------

    def export_png(self, path: str | Path) -> Path:
        """Both charts side by side, at twice the screen's pixel density."""
        out = Path(path)
        size = self.charts.size()
        if size.isEmpty():
            size = self.charts.sizeHint().expandedTo(QSize(960, 360))
            self.charts.resize(size)
        image = QImage(size * 2, QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(2.0)
        image.fill(QGuiApplication.palette().color(QPalette.ColorRole.Window))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.charts.render(painter, QPoint())
        painter.end()
        if not image.save(str(out), "PNG"):
            raise GlimpseError(
                f"Could not write {out.name}.", f"Choose a folder you may write to (not {out.parent})."
            )
        return out

    def export_csv(self, path: str | Path) -> Path:
        assert self.report is not None
        return compare_files.write_csv(self.report, path)

    def export_json(self, path: str | Path) -> Path:
        assert self.report is not None
        return compare_files.write_json(self.report, path)

    def _choose_export(self, kind: str) -> None:
        if self.report is None:
            return
        filters = {"png": "PNG image (*.png)", "csv": "CSV table (*.csv)", "json": "JSON (*.json)"}
        stem = f"{self.report['model']}-fp16-vs-int8"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save as {kind.upper()}", f"{stem}.{kind}", filters[kind]
        )
        if not path:
            return
        try:
            out = {"png": self.export_png, "csv": self.export_csv, "json": self.export_json}[kind](path)
        except OSError as exc:
            error = GlimpseError(
                f"Could not write {Path(path).name}: {exc.strerror or exc}.",
                "Choose a folder that exists and that you may write to.",
            )
            show_error(self.window(), error)
            return
        except GlimpseError as exc:
            show_error(self.window(), exc)
            return
        self.show_saved(out)

    def show_saved(self, out: Path) -> None:
        """Say where an export went, beside the export buttons (the page does not move)."""
        self.saved.setText(f"Saved {out.name}")
        self.saved.setToolTip(str(out))
