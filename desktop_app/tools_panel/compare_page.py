"""Compare page: FP16 against INT8 of one model. Sizes and latencies as bar charts, answers side by side,
export as PNG, CSV and JSON. The numbers come from `model_tools.compare.compare` (in a job process)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model_tools import compare_files
from model_tools.runtime import ConvertedModel, Device, GlimpseError

from ..errors import show_error
from .charts import BarChartView
from .jobs import Job, JobRunner
from .widgets import JobView, ModelPage, PathField

log = logging.getLogger("glimpse.app.tools")

# compare.py's defaults (not imported: its import chain reaches the training stack).
DEFAULT_RUNS = 5
DEFAULT_MAX_NEW_TOKENS = 20


def comparable(model: ConvertedModel) -> bool:
    return model.has("fp16") and model.has("int8")


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A label whose &-key moves the focus to `widget`."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


class ComparePage(ModelPage):
    name = "compare"
    heading = "Compare"
    blurb = (
        "What INT8 buys on this computer: file sizes, the time each stage takes (medians of several runs) and "
        "whether the answers stay the same on sample pictures."
    )

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(
            runner, comparable, "No model with an INT8 version yet: quantize one first", "Model to compare", parent
        )
        self.report: dict[str, Any] | None = None

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("compareDevice")
        self.device_combo.setAccessibleName("Device")
        self.set_devices([Device("CPU", "CPU"), Device("AUTO", "Automatic: OpenVINO picks the best device")])
        self.runs = QSpinBox()
        self.runs.setObjectName("compareRuns")
        self.runs.setRange(1, 100)
        self.runs.setValue(DEFAULT_RUNS)
        self.runs.setAccessibleName("Timed runs per precision")
        self.runs.setToolTip("Timed answers per precision; the charts show medians")
        self.max_tokens = QSpinBox()
        self.max_tokens.setObjectName("compareMaxTokens")
        self.max_tokens.setRange(1, 256)
        self.max_tokens.setValue(DEFAULT_MAX_NEW_TOKENS)
        self.max_tokens.setAccessibleName("Longest answer in tokens")
        self.max_tokens.setSuffix(" tokens")
        self.pictures_group = QButtonGroup(self)
        self.builtin_radio = QRadioButton("&Built-in samples")
        self.folder_radio = QRadioButton("&Folder")
        self.pictures_group.addButton(self.builtin_radio)
        self.pictures_group.addButton(self.folder_radio)
        self.builtin_radio.setChecked(True)
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
        top.addWidget(_buddy("&Device", self.device_combo))
        top.addWidget(self.device_combo, 1)
        form.addRow(_buddy("&Model", self.model_combo), top)
        second = QHBoxLayout()
        second.addWidget(self.runs)
        second.addSpacing(12)
        second.addWidget(_buddy("&Longest answer", self.max_tokens))
        second.addWidget(self.max_tokens)
        second.addSpacing(12)
        second.addWidget(QLabel("Pictures"))
        second.addWidget(self.builtin_radio)
        second.addWidget(self.folder_radio)
        second.addWidget(self.folder_field, 1)
        form.addRow(_buddy("Timed &runs", self.runs), second)

        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compareButton")
        self.compare_button.setDefault(True)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.png_button = QPushButton("Save Charts as PNG…")
        self.png_button.setObjectName("exportPng")
        self.csv_button = QPushButton("Save Data as CSV…")
        self.csv_button.setObjectName("exportCsv")
        self.json_button = QPushButton("Save Data as JSON…")
        self.json_button.setObjectName("exportJson")
        self.png_button.clicked.connect(lambda: self._choose_export("png"))
        self.csv_button.clicked.connect(lambda: self._choose_export("csv"))
        self.json_button.clicked.connect(lambda: self._choose_export("json"))
        buttons = QHBoxLayout()
        for b in (self.png_button, self.csv_button, self.json_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.compare_button)

        self.job_view = JobView(runner, self.name, with_log=False)
        self.headline = QLabel("Run a comparison to see sizes, speed and answers side by side.")
        self.headline.setObjectName("compareHeadline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.size_chart = BarChartView("sizeChart")
        self.latency_chart = BarChartView("latencyChart")
        self.charts = QWidget()
        self.charts.setObjectName("compareCharts")
        charts = QHBoxLayout(self.charts)
        charts.setContentsMargins(0, 0, 0, 0)
        charts.addWidget(self.size_chart, 1)
        charts.addWidget(self.latency_chart, 1)

        self.agreement = QLabel()
        self.agreement.setObjectName("agreementLabel")
        self.only_differing = QCheckBox("Only &different answers")
        self.only_differing.setObjectName("onlyDiffering")
        self.only_differing.toggled.connect(lambda *_: self._fill_answers())
        self.answers = QTableWidget(0, 4)
        self.answers.setObjectName("answersTable")
        self.answers.setAccessibleName("Answers of both precisions")
        self.answers.setHorizontalHeaderLabels(["Picture", "Question", "FP16", "INT8"])
        self.answers.verticalHeader().setVisible(False)
        self.answers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.answers.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.answers.setAlternatingRowColors(True)
        self.answers.setWordWrap(False)
        header = self.answers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        answers_box = QWidget()
        ab = QVBoxLayout(answers_box)
        ab.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.agreement, 1)
        head.addWidget(self.only_differing)
        ab.addLayout(head)
        ab.addWidget(self.answers, 1)

        self.results = QSplitter(Qt.Orientation.Vertical)
        self.results.setObjectName("compareResults")
        self.results.setChildrenCollapsible(False)
        self.results.addWidget(self.charts)
        self.results.addWidget(answers_box)
        self.results.setStretchFactor(0, 3)
        self.results.setStretchFactor(1, 2)
        self.results.setVisible(False)

        self.body.addWidget(options)
        self.body.addLayout(buttons)
        self.body.addWidget(self.job_view)
        self.body.addWidget(self.headline)
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

    def options(self) -> dict[str, Any]:
        """The job's arguments: the same names as compare() and `model-tools compare`."""
        return {
            "model": str(self.model_combo.model_path() or ""),
            "device": self.device_combo.currentData() or "CPU",
            "runs": self.runs.value(),
            "max_new_tokens": self.max_tokens.value(),
            "images": self.folder_field.text() if self.folder_radio.isChecked() else None,
            "baseline": "fp16",
            "candidate": "int8",
        }

    def compare(self, model: Path | None = None) -> bool:
        """Compare FP16 and INT8 of the chosen model (or `model`); False if it did not start."""
        path = self.chosen_model(model, "Choose a model with an INT8 version (make one on the Quantize page).")
        if path is None:
            return False
        options = self.options()
        if self.folder_radio.isChecked() and not options["images"]:
            self.show_notice("Choose the folder of pictures, or use the built-in samples.")
            return False
        return self.start(
            Job(
                "compare",
                options,
                f"Comparing FP16 and INT8 of {path.name} on {options['device']}",
                self.name,
                changes_models=False,
            )
        )

    def _on_compare_clicked(self) -> None:
        self.compare()

    # -- results --------------------------------------------------------------------------------------------

    def _on_job_finished(self, job: Job, result: object) -> None:
        if job.page == self.name and isinstance(result, dict):
            self.show_report(result)

    def show_report(self, report: dict[str, Any]) -> None:
        """Charts, headline and answers of a report (`CompareReport.to_dict()`)."""
        self.report = report
        data = compare_files.chart_data(report)
        self.size_chart.set_data(data["sizes"])
        self.latency_chart.set_data(data["latency"])
        base = compare_files.series_label(report, report["baseline"])
        cand = compare_files.series_label(report, report["candidate"])
        self.answers.setHorizontalHeaderLabels(["Picture", "Question", base, cand])
        self.answers.setColumnHidden(1, report.get("task") != "vqa")
        self.headline.setText(f"<b>{report['model']}</b>: {compare_files.headline(report)}")
        same = round(report["agreement"] * report["compared"])
        differ = report["compared"] - same
        self.agreement.setText(
            f"<b>Same answer on {same} of {report['compared']} inputs ({report['agreement']:.0%}).</b> "
            + (f"{differ} differ (highlighted)." if differ else "No answer changed.")
        )
        self._fill_answers()
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
            rows = [r for r in rows if _normalise(r["baseline"]) != _normalise(r["candidate"])]
        self.answers.setRowCount(len(rows))
        palette = QGuiApplication.palette()
        differ_bg = QBrush(
            QColor(230, 160, 0, 70 if palette.color(QPalette.ColorRole.Base).lightness() > 128 else 90)
        )
        for i, row in enumerate(rows):
            differs = _normalise(row["baseline"]) != _normalise(row["candidate"])
            cells = [
                row["image"],
                row.get("question", ""),
                row["baseline"] or "(nothing)",
                row["candidate"] or "(nothing)",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if differs:
                    item.setBackground(differ_bg)
                self.answers.setItem(i, col, item)

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
        self.show_notice(f"Saved {out}")
