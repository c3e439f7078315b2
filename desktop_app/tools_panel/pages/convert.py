"""Convert page: a catalog entry, a Hugging Face id or a local folder -> a converted FP16 model folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView
from desktop_app.tools_panel.page import PathField, ToolPage, choice_group
from desktop_app.widgets.labels import text_label
from model_tools.jobs.folders import is_model_folder
from model_tools.jobs.requests import ConvertRequest, ModelResult
from model_tools.library.catalog import CATALOG
from model_tools.runtime import paths

CATALOG_SOURCE, HUB_SOURCE, FOLDER_SOURCE = "catalog", "hub", "folder"


class ConvertPage(ToolPage):
    name = "convert"
    heading = "Convert"
    blurb = (
        "Turn a Hugging Face BLIP model into an OpenVINO model Glimpse can run (FP16). Weights are read from "
        "safetensors only. The new model appears in the model list when it is done."
    )

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, parent)
        self._name_edited = False

        self.catalog_radio = QRadioButton("&Known model")
        self.hub_radio = QRadioButton("&Hugging Face id")
        self.folder_radio = QRadioButton("&Local folder")
        self.source_group = choice_group(
            self,
            "source",
            {CATALOG_SOURCE: self.catalog_radio, HUB_SOURCE: self.hub_radio, FOLDER_SOURCE: self.folder_radio},
        )
        self.catalog_combo = QComboBox()
        self.catalog_combo.setObjectName("catalogCombo")
        self.catalog_combo.setAccessibleName("Known model")
        for entry in (e for e in CATALOG if not e.ready):  # ready OpenVINO models are downloaded, not converted
            self.catalog_combo.addItem(f"{entry.title}  ·  {entry.repo_id}", entry.repo_id)
        self.hub_edit = QLineEdit()
        self.hub_edit.setObjectName("hubIdEdit")
        self.hub_edit.setPlaceholderText("owner/name, e.g. Salesforce/blip-vqa-base")
        self.hub_edit.setAccessibleName("Hugging Face id")
        self.folder_field = PathField(
            "Folder with config.json and .safetensors weights", caption="Hugging Face BLIP folder"
        )
        self.folder_field.setObjectName("sourceFolder")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("outputName")
        self.name_edit.setAccessibleName("Name of the converted model")
        self.name_edit.textEdited.connect(self._on_name_edited)
        self.overwrite = QCheckBox("&Replace a model of that name")
        self.overwrite.setObjectName("overwriteCheck")
        self.where = text_label("outputLocation", selectable=True)

        source_box = QGroupBox("Source")
        form = QFormLayout(source_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(self.catalog_radio, self.catalog_combo)
        form.addRow(self.hub_radio, self.hub_edit)
        form.addRow(self.folder_radio, self.folder_field)
        out_box = QGroupBox("Converted model")
        out = QFormLayout(out_box)
        out.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        out.addRow("&Name", self.name_edit)
        out.addRow("", self.overwrite)
        out.addRow("", self.where)

        self.convert_button = self.start_button("Convert", "convertButton", self.convert, default=True)
        self.quantize_button = self.next_step_button("Quantize It…", "quantizeResultButton", "quantize")
        self.quantize_button.setToolTip("Make an INT8 version of the converted model")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.quantize_button)
        row.addWidget(self.convert_button)

        self.job_view = JobView(runner, self.name)
        self.body.addWidget(source_box)
        self.body.addWidget(out_box)
        self.body.addLayout(row)
        self.body.addWidget(self.job_view, 1)
        self.start_buttons = [self.convert_button]
        self.require_tools(self.convert_button, what="Converting")

        self.source_group.buttonToggled.connect(lambda *_: self._on_source_changed())
        self.catalog_combo.currentIndexChanged.connect(lambda *_: self._on_source_changed())
        self.hub_edit.textChanged.connect(lambda *_: self._on_source_changed())
        self.folder_field.changed.connect(lambda *_: self._on_source_changed())
        self.name_edit.textChanged.connect(lambda *_: self.refresh_buttons())
        runner.job_finished.connect(self._on_job_finished)
        self._on_source_changed()

    # -- the form -------------------------------------------------------------------------------------------

    def source_kind(self) -> str:
        if self.hub_radio.isChecked():
            return HUB_SOURCE
        if self.folder_radio.isChecked():
            return FOLDER_SOURCE
        return CATALOG_SOURCE

    def source(self) -> str:
        kind = self.source_kind()
        if kind == HUB_SOURCE:
            return self.hub_edit.text().strip()
        if kind == FOLDER_SOURCE:
            return self.folder_field.text()
        return str(self.catalog_combo.currentData() or "")

    def set_source(self, source: str | Path, name: str | None = None) -> None:
        """Fill the form: a catalog id, another Hugging Face id, or a folder."""
        text = str(source)
        index = self.catalog_combo.findData(text)
        if index >= 0:
            self.catalog_radio.setChecked(True)
            self.catalog_combo.setCurrentIndex(index)
        elif Path(text).exists() or Path(text).is_absolute():
            self.folder_radio.setChecked(True)
            self.folder_field.set_path(text)
        else:
            self.hub_radio.setChecked(True)
            self.hub_edit.setText(text)
        if name:
            self.name_edit.setText(name)
            self._name_edited = True

    def default_name(self) -> str:
        source = self.source().rstrip("/\\")
        return Path(source).name if source else ""

    def _on_name_edited(self, text: str) -> None:
        self._name_edited = bool(text.strip())

    def _on_source_changed(self) -> None:
        kind = self.source_kind()
        self.catalog_combo.setEnabled(kind == CATALOG_SOURCE)
        self.hub_edit.setEnabled(kind == HUB_SOURCE)
        self.folder_field.setEnabled(kind == FOLDER_SOURCE)
        if not self._name_edited:
            self.name_edit.setText(self.default_name())
        self.where.setText(f"Saved in {paths.models_dir()}")
        self.refresh_buttons()

    def can_start(self, button) -> bool:  # noqa: ANN001
        return bool(self.source()) and bool(self.name_edit.text().strip())

    # -- the job --------------------------------------------------------------------------------------------

    def convert(
        self, source: str | Path | None = None, name: str | None = None, overwrite: bool | None = None
    ) -> bool:
        """Convert `source` (default: the form's) into <models folder>/<name>; False if it did not start."""
        if self.refused():
            return False
        if source is not None:
            self.set_source(source, name)
        if overwrite is not None:
            self.overwrite.setChecked(overwrite)
        source_text = self.source()
        name = self.name_edit.text().strip()
        if not source_text:
            self.show_notice("Choose what to convert: a known model, a Hugging Face id or a folder.")
            return False
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            self.show_notice(
                "Give the converted model a plain folder name (no slashes, not starting with a dot)."
            )
            return False
        out = paths.models_dir() / name
        if (out.exists() or out.is_symlink()) and not is_model_folder(out):
            self.show_notice(f"{out} is not a Glimpse model, so it is not replaced. Pick another name.")
            return False
        if out.exists() and not self.overwrite.isChecked():
            self.show_notice(f"A model called {name} already exists. Pick another name or tick “Replace”.")
            return False
        self.quantize_button.hide()
        self.last_result = None
        return self.start_job(
            ConvertRequest(source_text, out, overwrite=self.overwrite.isChecked()),
            f"Converting {self._short_source(source_text)} to {name}",
            makes=out,
        )

    def _short_source(self, source: str) -> str:
        return f"the folder {Path(source).name}" if self.source_kind() == FOLDER_SOURCE else source

    def _on_job_finished(self, job: Job, result: object) -> None:
        if job.page != self.name or not isinstance(result, ModelResult):
            return
        self.last_result = result
        self.job_view.outcome.setText(
            f"✓ Converted to {result.path} (FP16). It is in the model list now; quantize it for a "
            "smaller, faster INT8 version."
        )
        self.quantize_button.show()
