"""Compare page: FP16 against INT8 of one model. Sizes and latencies as bar charts, answers side by side,
export as PNG, CSV and JSON. The numbers come from `model_tools.measure.compare.compare` (in a job process)."""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.charts import BarChartView
from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView
from desktop_app.tools_panel.page import ModelPage, PathField
from desktop_app.widgets.error_dialog import show_error
from model_tools.jobs.requests import DEFAULT_MAX_NEW_TOKENS, DEFAULT_RUNS, CompareReport, CompareRequest
from model_tools.library import compare_report as compare_files
from model_tools.runtime import ConvertedModel, Device, GlimpseError

log = logging.getLogger("glimpse.app.tools")

THUMBNAIL_ROW = 44  # pixels: the picture in each answer row
LISTED_QUESTIONS = 8


def comparable(model: ConvertedModel) -> bool:
    return model.has("fp16") and model.has("int8")


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A label whose &-key moves the focus to `widget`."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _pixmap(data: str | None) -> QPixmap | None:
    """A report's thumbnail (base64 JPEG) as a pixmap; None when there is none or it does not decode."""
    if not data:
        return None
    pixmap = QPixmap()
    try:
        ok = pixmap.loadFromData(base64.b64decode(data))
    except ValueError:
        return None
    return pixmap if ok else None


def ran_text(report: dict[str, Any]) -> str:
    """Which files and precision each side ran, e.g. "FP16: FP16 · exact · f32, fp16/ files"."""
    out = []
    for precision in dict.fromkeys([report["baseline"], report["candidate"]]):
        setup = (report.get("setup") or {}).get(precision)
        files = (report.get("files") or {}).get(precision) or {}
        if not setup and not files:
            continue
        folders = ", ".join(sorted({f.split("/")[0] + "/" for f in files.values()}))
        label = compare_files.series_label(report, precision)
        out.append(f"{label}: {setup or precision.upper()}" + (f", {folders} files" if folders else ""))
    return "Ran " + "; ".join(out) + "." if out else ""


def asked_text(report: dict[str, Any]) -> str:
    """Which pictures and questions the comparison used."""
    rows = list(report.get("answers") or [])
    pictures = len({r["image"] for r in rows}) or report["compared"]
    source = "the built-in samples" if report.get("images", "builtin") == "builtin" else report["images"]
    text = f"{pictures} pictures from {source}"
    questions = list(dict.fromkeys(r["question"] for r in rows if r.get("question")))
    if questions:
        shown = "; ".join(f"“{q}”" for q in questions[:LISTED_QUESTIONS])
        more = f" and {len(questions) - LISTED_QUESTIONS} more" if len(questions) > LISTED_QUESTIONS else ""
        text += f", asked {shown}{more}"
    return text + "."


class PictureDialog(QDialog):
    """One compared input, bigger: the picture, the question and both answers."""

    def __init__(self, pixmap: QPixmap | None, row: dict[str, str], labels: tuple[str, str], parent: QWidget):
        super().__init__(parent)
        self.setObjectName("comparePicture")
        self.setWindowTitle(row["image"])
        picture = QLabel()
        picture.setObjectName("comparePictureImage")
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if pixmap is not None:
            picture.setPixmap(pixmap.scaled(320, 320, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))  # fmt: skip
        else:
            picture.setText("(no picture in this report)")
        self.picture = picture
        question = f"<b>{html.escape(row.get('question') or '')}</b><br>" if row.get("question") else ""
        text = QLabel(
            f"{html.escape(row['image'])}<br>{question}"
            f"{labels[0]}: {html.escape(row['baseline'] or '(nothing)')}<br>"
            f"{labels[1]}: {html.escape(row['candidate'] or '(nothing)')}"
        )
        text.setObjectName("comparePictureText")
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(picture)
        layout.addWidget(text)
        layout.addWidget(buttons)


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
        # "Saved …" goes beside the buttons, in space the row has anyway: nothing moves under the cursor.
        self.saved = QLabel()
        self.saved.setObjectName("compareSaved")
        self.saved.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.saved.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for b in (self.png_button, self.csv_button, self.json_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addSpacing(8)
        buttons.addWidget(self.saved, 1)
        buttons.addWidget(self.compare_button)

        self.job_view = JobView(runner, self.name, with_log=False)
        self.headline = QLabel("Run a comparison to see sizes, speed and answers side by side.")
        self.headline.setObjectName("compareHeadline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ran = QLabel()
        self.ran.setObjectName("compareRan")
        self.ran.setWordWrap(True)
        self.ran.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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

        self.agreement = QLabel()
        self.agreement.setObjectName("agreementLabel")
        self.agreement.setWordWrap(True)
        self.asked = QLabel()
        self.asked.setObjectName("compareAsked")
        self.asked.setWordWrap(True)
        self.asked.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.only_differing = QCheckBox("Only &different answers")
        self.only_differing.setObjectName("onlyDiffering")
        self.only_differing.toggled.connect(lambda *_: self._fill_answers())
        self.answers = QTableWidget(0, 4)
        self.answers.setObjectName("answersTable")
        self.answers.setAccessibleName("Answers of both precisions")
        self.answers.setAccessibleDescription("Enter or double-click shows the picture of a row")
        self.answers.setHorizontalHeaderLabels(["Picture", "Question", "FP16", "INT8"])
        self.answers.verticalHeader().setVisible(False)
        self.answers.verticalHeader().setDefaultSectionSize(THUMBNAIL_ROW + 4)
        self.answers.setIconSize(QSize(THUMBNAIL_ROW, THUMBNAIL_ROW))
        self.answers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.answers.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.answers.setAlternatingRowColors(True)
        self.answers.setWordWrap(True)
        self.answers.setMinimumHeight(8 * (THUMBNAIL_ROW + 4) + 28)  # eight rows and the header
        self.answers.activated.connect(lambda index: self.show_picture(index.row()))
        header = self.answers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.answers.setColumnWidth(0, 170)
        self.rows: list[dict[str, str]] = []  # the rows the table shows, in order
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

    def request(self, model: Path) -> CompareRequest:
        """The job's request for `model`, from the form: FP16 against INT8."""
        return CompareRequest(
            model,
            device=self.device_combo.currentData() or "CPU",
            runs=self.runs.value(),
            max_new_tokens=self.max_tokens.value(),
            images=self.folder_field.path() if self.folder_radio.isChecked() else None,
            baseline="fp16",
            candidate="int8",
        )

    def compare(self, model: Path | None = None) -> bool:
        """Compare FP16 and INT8 of the chosen model (or `model`); False if it did not start."""
        path = self.chosen_model(model, "Choose a model with an INT8 version (make one on the Quantize page).")
        if path is None:
            return False
        request = self.request(path)
        if self.folder_radio.isChecked() and request.images is None:
            self.show_notice("Choose the folder of pictures, or use the built-in samples.")
            return False
        return self.start(
            Job(
                request,
                f"Comparing FP16 and INT8 of {path.name} on {request.device}",
                self.name,
                changes_models=False,
            )
        )

    def _on_compare_clicked(self) -> None:
        self.compare()

    # -- results --------------------------------------------------------------------------------------------

    def _on_job_finished(self, job: Job, result: object) -> None:
        if job.page == self.name and isinstance(result, CompareReport):
            self.show_report(result.to_dict())

    def show_report(self, report: dict[str, Any]) -> None:
        """Charts, headline and answers of a report (`CompareReport.to_dict()`)."""
        self.report = report
        data = compare_files.chart_data(report)
        self.size_chart.set_data(data["sizes"])
        self.latency_chart.set_data(data["latency"])
        base = compare_files.series_label(report, report["baseline"])
        cand = compare_files.series_label(report, report["candidate"])
        self.answers.setHorizontalHeaderLabels(["Picture", "Question", base, cand])
        vqa = report.get("task") == "vqa"
        self.answers.setColumnHidden(1, not vqa)
        for col in (2, 3):  # short answers beside the question; captions take the room
            mode = QHeaderView.ResizeMode.Interactive if vqa else QHeaderView.ResizeMode.Stretch
            self.answers.horizontalHeader().setSectionResizeMode(col, mode)
            if vqa:
                self.answers.setColumnWidth(col, 90)
        self.headline.setText(f"<b>{report['model']}</b>: {compare_files.headline(report)}")
        self.ran.setText(ran_text(report))
        self.ran.setVisible(bool(self.ran.text()))
        self.asked.setText(asked_text(report))
        files = report.get("files") or {}
        for col, precision in ((2, report["baseline"]), (3, report["candidate"])):
            names = ", ".join(files.get(precision, {}).values())
            self.answers.horizontalHeaderItem(col).setToolTip(names)
        self.saved.clear()
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
            rows = [r for r in rows if not compare_files.same_answer(r["baseline"], r["candidate"])]
        self.rows = rows
        thumbnails = (self.report or {}).get("thumbnails") or {}
        icons: dict[str, QIcon] = {}
        self.answers.setRowCount(len(rows))
        palette = QGuiApplication.palette()
        differ_bg = QBrush(
            QColor(230, 160, 0, 70 if palette.color(QPalette.ColorRole.Base).lightness() > 128 else 90)
        )
        for i, row in enumerate(rows):
            differs = not compare_files.same_answer(row["baseline"], row["candidate"])
            cells = [
                row["image"],
                row.get("question", ""),
                row["baseline"] or "(nothing)",
                row["candidate"] or "(nothing)",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(html.escape(text))
                if differs:
                    item.setBackground(differ_bg)
                self.answers.setItem(i, col, item)
            data = thumbnails.get(row["image"])
            pixmap = _pixmap(data)
            if pixmap is not None:
                if row["image"] not in icons:
                    icons[row["image"]] = QIcon(pixmap)
                picture = self.answers.item(i, 0)
                picture.setIcon(icons[row["image"]])
                picture.setToolTip(
                    f'<img src="data:image/jpeg;base64,{data}"><br>{html.escape(row["image"])}'
                    "<br>Enter or double-click: a bigger view"
                )

    def show_picture(self, row: int) -> PictureDialog | None:
        """The picture of a row of the table, bigger, with its question and answers (Enter, double-click)."""
        if not 0 <= row < len(self.rows) or self.report is None:
            return None
        data = self.rows[row]
        pixmap = _pixmap((self.report.get("thumbnails") or {}).get(data["image"]))
        labels = (
            compare_files.series_label(self.report, self.report["baseline"]),
            compare_files.series_label(self.report, self.report["candidate"]),
        )
        if self.picture_dialog is not None:
            self.picture_dialog.close()
            self.picture_dialog.deleteLater()
        self.picture_dialog = PictureDialog(pixmap, data, labels, self)
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
