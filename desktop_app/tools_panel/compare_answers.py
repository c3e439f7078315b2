"""The answers of a comparison on the Compare page: the table (a row per picture and question, both answers,
differing rows highlighted), the bigger view of one row, and the sentences saying what ran and what was asked.

A report is `CompareReport.to_dict()`; its thumbnails are base64 JPEGs keyed by picture name.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model_tools.library import compare_report as compare_files

THUMBNAIL_ROW = 44  # pixels: the picture in each answer row
LISTED_QUESTIONS = 8


def thumbnail(data: str | None) -> QPixmap | None:
    """A report's thumbnail (base64 JPEG) as a pixmap; None when there is none or it does not decode."""
    if not data:
        return None
    pixmap = QPixmap()
    try:
        ok = pixmap.loadFromData(base64.b64decode(data))
    except ValueError:
        return None
    return pixmap if ok else None


def side_labels(report: dict[str, Any]) -> tuple[str, str]:
    """What the two sides are called, e.g. ("FP16", "INT8")."""
    return (
        compare_files.series_label(report, report["baseline"]),
        compare_files.series_label(report, report["candidate"]),
    )


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


class AnswersTable(QTableWidget):
    """Picture, question and both answers of each compared input; rows whose answers differ are highlighted.
    Enter or double-click on a row: `activated`, for the page to show the row bigger."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setObjectName("answersTable")
        self.setAccessibleName("Answers of both precisions")
        self.setAccessibleDescription("Enter or double-click shows the picture of a row")
        self.setHorizontalHeaderLabels(["Picture", "Question", "FP16", "INT8"])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMBNAIL_ROW + 4)
        self.setIconSize(QSize(THUMBNAIL_ROW, THUMBNAIL_ROW))
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.setMinimumHeight(8 * (THUMBNAIL_ROW + 4) + 28)  # eight rows and the header
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(0, 170)
        self.rows: list[dict[str, str]] = []  # the rows shown, in order

    def show_columns(self, report: dict[str, Any]) -> None:
        """Headers named after the report's sides (their files as tooltips); a question column for VQA (and
        for a segment model: its click)."""
        base, cand = side_labels(report)
        self.setHorizontalHeaderLabels(["Picture", "Question", base, cand])
        vqa = report.get("task") == "vqa"
        self.setColumnHidden(1, not vqa and report.get("task") != "segment")
        for col in (2, 3):  # short answers beside the question; captions take the room
            mode = QHeaderView.ResizeMode.Interactive if vqa else QHeaderView.ResizeMode.Stretch
            self.horizontalHeader().setSectionResizeMode(col, mode)
            if vqa:
                self.setColumnWidth(col, 90)
        files = report.get("files") or {}
        for col, precision in ((2, report["baseline"]), (3, report["candidate"])):
            names = ", ".join(files.get(precision, {}).values())
            self.horizontalHeaderItem(col).setToolTip(names)

    def show_rows(self, rows: list[dict[str, str]], thumbnails: dict[str, str]) -> None:
        """One row per answer pair, with the picture's thumbnail as icon and, bigger, as tooltip."""
        self.rows = rows
        icons: dict[str, QIcon] = {}
        self.setRowCount(len(rows))
        palette = QGuiApplication.palette()
        differ_bg = QBrush(
            QColor(230, 160, 0, 70 if palette.color(QPalette.ColorRole.Base).lightness() > 128 else 90)
        )
        for i, row in enumerate(rows):
            differs = not compare_files.pair_agrees(row)
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
                self.setItem(i, col, item)
            data = thumbnails.get(row["image"])
            pixmap = thumbnail(data)
            if pixmap is not None:
                if row["image"] not in icons:
                    icons[row["image"]] = QIcon(pixmap)
                picture = self.item(i, 0)
                picture.setIcon(icons[row["image"]])
                picture.setToolTip(
                    f'<img src="data:image/jpeg;base64,{data}"><br>{html.escape(row["image"])}'
                    "<br>Enter or double-click: a bigger view"
                )


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
