"""Models page: what is installed (task, size, precisions, source), the BLIP catalog with Download (converted
in the same job), import of a Hugging Face or converted folder, and delete with confirmation."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView, human_bytes
from desktop_app.tools_panel.model_lists import CatalogList, InstalledList, installed_folder
from desktop_app.tools_panel.page import ToolPage
from desktop_app.widgets.labels import text_label
from model_tools.jobs.folders import is_model_folder
from model_tools.jobs.requests import ConvertRequest, ImportRequest, InstallRequest
from model_tools.library import hub
from model_tools.library import store as library
from model_tools.library.catalog import CatalogEntry, memory_warning
from model_tools.library.catalog import find as find_entry
from model_tools.runtime import ConvertedModel, paths
from model_tools.runtime.errors import GlimpseError

log = logging.getLogger("glimpse.app.tools")


class ModelsPage(ToolPage):
    name = "models"
    heading = "Models"
    blurb = (
        "The models Glimpse can use, and BLIP models to download from Hugging Face. A download is converted "
        "to OpenVINO in the same job, and can be resumed if it is interrupted."
    )

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, parent)
        self._confirm: QMessageBox | None = None

        installed_box = QGroupBox("Installed")
        self.installed = InstalledList()
        self.installed.itemSelectionChanged.connect(self._on_installed_selection_changed)
        self.import_hf_button = self.start_button(
            "Import Hugging Face Folder…", "importHfButton", self.choose_hf_folder,
            idle_tip="Convert a BLIP model folder (config.json + safetensors)",
        )  # fmt: skip
        self.import_converted_button = self.start_button(
            "Import Converted Folder…", "importConvertedButton", self.choose_converted_folder,
            idle_tip="Copy a folder made by Glimpse (with manifest.json)",
        )  # fmt: skip
        self.delete_button = self.start_button(
            "Delete…", "deleteModelButton", self.request_delete,
            idle_tip="Remove the selected model from your models folder",
        )  # fmt: skip
        self.open_folder_button = QPushButton("Show Folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_clicked)
        self.location = text_label("modelsLocation", selectable=True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_hf_button)
        buttons.addWidget(self.import_converted_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.delete_button)
        box = QVBoxLayout(installed_box)
        box.addWidget(self.installed, 1)
        box.addWidget(self.location)
        box.addLayout(buttons)

        catalog_box = QGroupBox("Download from Hugging Face")
        self.catalog = CatalogList()
        self.catalog.itemSelectionChanged.connect(self._update_download_button)
        self.catalog.itemDoubleClicked.connect(lambda *_: self._on_download_clicked())
        self.download_button = self.start_button(
            "Download and Convert", "downloadButton", self._on_download_clicked, default=True
        )
        self.catalog_hint = text_label("catalogHint", wrap=True)
        row = QHBoxLayout()
        row.addWidget(self.catalog_hint, 1)
        row.addWidget(self.download_button)
        box = QVBoxLayout(catalog_box)
        box.addWidget(self.catalog, 1)
        box.addLayout(row)

        self.job_view = JobView(runner, self.name, with_log=False)
        self.body.addWidget(installed_box, 1)
        self.body.addWidget(catalog_box)
        self.body.addWidget(self.job_view)
        self.start_buttons = [
            self.import_hf_button,
            self.import_converted_button,
            self.delete_button,
            self.download_button,
        ]
        self.require_tools(self.import_hf_button, self.download_button, what="Downloading and converting")
        self.refresh()

    # -- lists ----------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the installed models and the catalog's state (installed, partly downloaded)."""
        self.location.setText(f"Your models are kept in {paths.models_dir()}")
        self.installed.fill()
        self.catalog.fill()
        self._update_download_button()
        self.refresh_buttons()

    def selected_model(self) -> ConvertedModel | None:
        return self.installed.selected_model()

    def select_model(self, path: Path) -> None:
        self.installed.select_key(str(path))

    def selected_entry(self) -> CatalogEntry | None:
        return self.catalog.selected_entry()

    def select_entry(self, repo_id: str) -> None:
        self.catalog.select_key(repo_id)

    def can_start(self, button) -> bool:  # noqa: ANN001 - QAbstractButton
        if button is self.delete_button:
            model = self.selected_model()
            return model is not None and not library.is_bundled(model)
        if button is self.download_button:
            entry = self.selected_entry()
            return entry is not None and installed_folder(entry) is None
        return True

    def _on_installed_selection_changed(self) -> None:
        model = self.selected_model()
        self.open_folder_button.setEnabled(model is not None)
        if model is not None and library.is_bundled(model):
            self.delete_button.setToolTip(f"{model.name} ships with Glimpse and cannot be deleted.")
        self.refresh_buttons()

    def _update_download_button(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        if installed_folder(entry) is not None:
            self.download_button.setText("Download and Convert")
            self.catalog_hint.setText(f"{entry.title} is installed. {entry.description}")
        elif hub.cached_bytes(entry.repo_id):
            self.download_button.setText("Resume Download")
            self.catalog_hint.setText(
                f"{entry.description} The interrupted download continues where it stopped."
            )
        else:
            self.download_button.setText("Download and Convert")
            self.catalog_hint.setText(
                f"{entry.description} About {human_bytes(entry.download_mb * 1e6)} to download."
            )
        self.refresh_buttons()

    # -- jobs -----------------------------------------------------------------------------------------------

    def download(self, entry: CatalogEntry | str) -> bool:
        """Download a catalog model (or any Hugging Face id) and convert it into the models folder."""
        if self.refused():
            return False
        if isinstance(entry, str):
            entry = find_entry(entry) or CatalogEntry(entry, "vqa", entry, "", 0)
        too_big = memory_warning(entry)
        if too_big:
            self.show_notice(f"{too_big} Pick a smaller model.")
            return False
        out = paths.models_dir() / entry.folder_name
        if entry.ready:
            return self._install_ready(entry, out)
        if is_model_folder(out):
            self.show_notice(
                f"{entry.folder_name} is already installed. Delete it first to download it again."
            )
            return False
        if out.exists() or out.is_symlink():
            self.show_notice(f"{out} is in the way and is not a Glimpse model: move it elsewhere first.")
            return False
        verb = "Resuming the download of" if hub.cached_bytes(entry.repo_id) else "Downloading"
        title = f"{verb} {entry.repo_id} and converting it"
        return self.start_job(ConvertRequest(entry.repo_id, out), title, makes=out)

    def _install_ready(self, entry: CatalogEntry, out: Path) -> bool:
        """Download a ready OpenVINO model as it is, as one precision of its library entry."""
        try:
            installed = ConvertedModel.open(out).has(entry.precision) if out.exists() else False
        except GlimpseError:
            self.show_notice(f"{out} is in the way and is not a Glimpse model: move it elsewhere first.")
            return False
        if installed:
            self.show_notice(f"{entry.title} is already installed. Delete it first to download it again.")
            return False
        verb = "Resuming the download of" if hub.cached_bytes(entry.repo_id) else "Downloading"
        request = InstallRequest(entry.repo_id, entry.folder_name, entry.precision)
        return self.start_job(request, f"{verb} {entry.repo_id}", makes=out)

    def import_hf_folder(self, folder: Path, name: str | None = None) -> bool:
        """Convert a local Hugging Face BLIP folder into the models folder."""
        if self.refused():
            return False
        folder = Path(folder)
        out = paths.models_dir() / (name or folder.name)
        if out.exists():
            self.show_notice(f"A model called {out.name} is already installed. Delete it first.")
            return False
        return self.start_job(ConvertRequest(str(folder), out), f"Converting {folder.name}", makes=out)

    def import_converted(self, folder: Path, name: str | None = None) -> bool:
        """Check every file of a converted folder, then copy it into the models folder."""
        if self.refused():
            return False
        folder = Path(folder)
        out = paths.models_dir() / (name or folder.name)
        try:
            library.check_not_installed(folder)
        except GlimpseError as exc:  # installed already, or not a converted model at all
            self.show_notice(str(exc))
            return False
        if out.exists() or out.is_symlink():
            self.show_notice(f"{out} already exists. Delete it first or import under another name.")
            return False
        return self.start_job(ImportRequest(folder, name), f"Importing {folder.name}", makes=out)

    def request_delete(self, model: ConvertedModel | None = None) -> QMessageBox | None:
        """Ask before deleting (a non-modal question); Delete there deletes."""
        if self.refused():
            return None
        model = model or self.selected_model()
        if model is None:
            return None
        if library.is_bundled(model):
            self.show_notice(f"{model.name} ships with Glimpse and cannot be deleted.")
            return None
        in_use = getattr(self.window(), "models_in_use", lambda: set())()
        if model.path.resolve() in in_use:
            self.show_notice(f"{model.name} is in use in the main window: choose another model there first.")
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete model",
            f"Delete {model.name}?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("confirmDelete")
        box.setInformativeText(
            f"This removes {model.path} ({human_bytes(library.size_on_disk(model))}) from your computer."
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self.delete(model) if button is delete else None)
        self._confirm = box
        box.show()
        return box

    def delete(self, model: ConvertedModel) -> bool:
        """Delete without asking (the confirmation calls this)."""
        return self.start(Job(None, f"Deleting {model.name}", self.name, call=lambda: library.delete(model)))

    # -- buttons --------------------------------------------------------------------------------------------

    def _on_download_clicked(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.download(entry)

    def choose_hf_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Hugging Face BLIP folder to convert")
        if folder:
            self.import_hf_folder(Path(folder))

    def choose_converted_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Converted model folder to import")
        if folder:
            self.import_converted(Path(folder))

    def _on_open_folder_clicked(self) -> None:
        model = self.selected_model()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(model.path if model else paths.models_dir())))
