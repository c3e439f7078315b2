"""Pieces every Model Tools page uses: choices, number fields, a path field, page scaffolding with its
start and next-step buttons, the model chooser (the job view is in job_view.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.widgets.labels import text_label
from model_tools.jobs.progress import NO_TOOLS_FIX, missing_tools
from model_tools.jobs.requests import ModelResult, Record
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel

SpinBox = TypeVar("SpinBox", QSpinBox, QDoubleSpinBox)


def choice_group(owner: QWidget, prefix: str, buttons: dict[str, QRadioButton]) -> QButtonGroup:
    """The radio buttons of one choice (key -> button), each named `<prefix>_<key>`; the first is checked."""
    group = QButtonGroup(owner)
    for key, button in buttons.items():
        button.setObjectName(f"{prefix}_{key}")
        group.addButton(button)
    next(iter(buttons.values())).setChecked(True)
    return group


def number_field(
    box: SpinBox,
    name: str,
    spoken: str,
    bounds: tuple[float, float],
    value: float,
    *,
    step: float = 0,
    suffix: str = "",
    tip: str = "",
) -> SpinBox:
    """`box` (a QSpinBox or QDoubleSpinBox) set up: object name, the name screen readers say, range, value."""
    box.setObjectName(name)
    box.setAccessibleName(spoken)
    box.setRange(*bounds)
    if step:
        box.setSingleStep(step)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    if tip:
        box.setToolTip(tip)
    return box


class PathField(QWidget):
    """A line edit with Browse…: a folder or a file. `changed(str)` when the text changes."""

    changed = Signal(str)

    def __init__(
        self,
        placeholder: str,
        *,
        folder: bool = True,
        caption: str = "",
        file_filter: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.folder, self.caption, self.file_filter = folder, caption or placeholder, file_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setAccessibleName(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse: {placeholder}")
        self.browse.clicked.connect(self._on_browse_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def path(self) -> Path | None:
        return Path(self.text()).expanduser() if self.text() else None

    def set_path(self, path: str | Path | None) -> None:
        self.edit.setText(str(path) if path else "")

    def _on_browse_clicked(self) -> None:
        start = self.text() or str(Path.home())
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, self.caption, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        if chosen:
            self.set_path(chosen)


class ToolPage(QWidget):
    """A page: a header, a notice line (refusals, hints), start buttons that wait while another job runs.

    `page_requested(name, model_path)` asks the window to show another page with a model chosen.
    """

    page_requested = Signal(str, object)
    name = ""
    heading = ""
    blurb = ""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.setObjectName(f"{self.name}Page")
        self.start_buttons: list[QAbstractButton] = []
        self.last_result: ModelResult | None = None  # the model this page's last job made, for the next step
        title = text_label("pageTitle", self.heading)
        blurb = text_label("pageBlurb", self.blurb, wrap=True)
        self.notice = text_label("pageNotice", wrap=True)
        self.notice.hide()
        self.tools_note = text_label("pageNotice", wrap=True)  # stays while the conversion tools are missing
        self.tools_note.hide()
        self.tools_buttons: list[QAbstractButton] = []
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(20, 16, 20, 16)
        self.body.setSpacing(10)
        self.body.addWidget(title)
        self.body.addWidget(blurb)
        self.body.addWidget(self.notice)
        self.body.addWidget(self.tools_note)
        runner.busy_changed.connect(self._on_busy_changed)

    def refused(self) -> bool:
        """True (and the reason shown) if another job is running: checked before anything else."""
        reason = self.runner.refusal()
        if reason is not None:
            self.show_notice(reason)
        return reason is not None

    def start(self, job: Job) -> bool:
        """Start `job` on the shared runner; if another job runs, say why not here and return False."""
        reason = self.runner.start(job)
        if reason is not None:
            self.show_notice(reason)
            return False
        self.notice.hide()
        return True

    def start_job(
        self, request: Record, title: str, *, makes: Path | None = None, changes_models: bool = True
    ) -> bool:
        """Start `request` as this page's job (see `start`); `makes`: the folder it builds, removed if its
        process is killed."""
        targets = [makes] if makes is not None else []
        return self.start(Job(request, title, self.name, changes_models=changes_models, targets=targets))

    def start_button(
        self,
        text: str,
        name: str,
        clicked: Callable[[], object],
        *,
        default: bool = False,
        idle_tip: str = "",
    ) -> QPushButton:
        """A button that calls `clicked` (e.g. `self.convert`, which starts the page's job); list it in
        `start_buttons` so that it waits while a job runs. `idle_tip`: its tooltip while none runs."""
        button = QPushButton(text)
        button.setObjectName(name)
        button.setDefault(default)
        if idle_tip:
            button.setProperty("idleTip", idle_tip)
        button.clicked.connect(lambda: clicked())  # without the `checked` argument clicked() sends
        return button

    def next_step_button(self, text: str, name: str, page: str) -> QPushButton:
        """A button, hidden until the page shows it with `last_result`, that opens `page` on that model."""
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(lambda: self._open_result_on(page))
        button.hide()
        return button

    def _open_result_on(self, page: str) -> None:
        if self.last_result is not None:
            self.page_requested.emit(page, self.last_result.path)

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    def refresh(self) -> None:
        """Re-read what is installed (after a job, or when the page is shown)."""

    def require_tools(self, *buttons: QAbstractButton, what: str) -> None:
        """`buttons` need the conversion tools (torch, transformers, NNCF). Where they are missing (the runtime
        bundle) the buttons stay disabled and a note on the page says why and what to do."""
        missing = missing_tools()
        if not missing:
            return
        self.tools_buttons = list(buttons)
        self.tools_note.setText(
            f"{what} needs the model conversion tools, which this Glimpse does not include "
            f"({', '.join(missing)} missing). {NO_TOOLS_FIX}"
        )
        self.tools_note.show()
        for button in buttons:
            button.setProperty("idleTip", f"Needs the conversion tools: {NO_TOOLS_FIX}")
            button.setToolTip(button.property("idleTip"))
        self.refresh_buttons()

    def startable(self, button: QAbstractButton) -> bool:
        """Whether `button` may be pressed now that no job runs."""
        return button not in self.tools_buttons and self.can_start(button)

    def _on_busy_changed(self, busy: bool) -> None:
        reason = self.runner.refusal() if busy else None
        for button in self.start_buttons:
            button.setEnabled(not busy and self.startable(button))
            button.setToolTip(reason or button.property("idleTip") or "")
        job = self.runner.current
        if busy and job is not None and job.page != self.name:
            self.show_notice(
                f"Busy with “{job.title}” (on the {job.page.capitalize()} page). One job runs at a "
                "time: this page can start when it ends."
            )
        elif not busy:
            self.notice.hide()
            self.refresh_buttons()

    def can_start(self, button: QAbstractButton) -> bool:
        """Whether `button` may be pressed, jobs aside (e.g. a model is chosen)."""
        return True

    def refresh_buttons(self) -> None:
        busy = self.runner.busy
        for button in self.start_buttons:
            button.setEnabled(not busy and self.startable(button))


TASK_WORDS = {"vqa": "questions", "caption": "captions", "chat": "chat"}


class ModelCombo(QComboBox):
    """Installed models that `accept` lets through, labelled with their task and precisions."""

    def __init__(self, accept: Callable[[ConvertedModel], bool], empty: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._accept, self.empty = accept, empty
        self._models: dict[str, ConvertedModel] = {}  # path -> model, of the listed ones
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(30)

    def refresh(self, select: Path | None = None) -> None:
        keep = select or self.model_path()
        self.blockSignals(True)
        try:
            self.clear()
            self._models = {}
            for model in library.installed():
                if not self._accept(model):
                    continue
                self._models[str(model.path)] = model
                kind = TASK_WORDS.get(model.task, model.task)
                precisions = ", ".join(library.precision_label(model, p) for p in model.precisions)
                self.addItem(f"{model.name}  ({kind} · {precisions})", str(model.path))
                self.setItemData(self.count() - 1, str(model.path), Qt.ItemDataRole.ToolTipRole)
            if self.count() == 0:
                self.addItem(self.empty, None)
                self.setItemData(0, self.empty, Qt.ItemDataRole.ToolTipRole)
            if keep is not None:
                index = self.findData(str(keep))
                if index >= 0:
                    self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def model_path(self) -> Path | None:
        data = self.currentData()
        return Path(data) if data else None

    def model(self) -> ConvertedModel | None:
        """The chosen model as it was listed (its manifest as read then)."""
        data = self.currentData()
        return self._models.get(data) if data else None

    def select(self, path: Path) -> bool:
        index = self.findData(str(path))
        if index < 0:
            self.refresh(path)
            index = self.findData(str(path))
        if index >= 0:
            self.setCurrentIndex(index)
        return index >= 0


class ModelPage(ToolPage):
    """A page that works on one installed model (Quantize, Compare): `model_combo` lists those `accept` lets
    through, and the page can start once one is chosen."""

    def __init__(
        self,
        runner: JobRunner,
        accept: Callable[[ConvertedModel], bool],
        empty: str,
        label: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(runner, parent)
        self.model_combo = ModelCombo(accept, empty)
        self.model_combo.setObjectName(f"{self.name}Model")
        self.model_combo.setAccessibleName(label)
        self.model_combo.currentIndexChanged.connect(lambda *_: self.refresh_buttons())

    def refresh(self) -> None:
        self.model_combo.refresh()
        self.refresh_buttons()

    def select_model(self, path: Path) -> None:
        self.model_combo.select(Path(path))

    def can_start(self, button: QAbstractButton) -> bool:
        return self.model_combo.model_path() is not None

    def chosen_model(self, model: Path | None, missing: str) -> Path | None:
        """The model to work on (`model`, chosen first, if given). None, with the reason on the page, while
        another job runs or when no model is chosen (`missing` says what to do)."""
        if self.refused():
            return None
        if model is not None:
            self.select_model(model)
        path = self.model_combo.model_path()
        if path is None:
            self.show_notice(missing)
        return path
