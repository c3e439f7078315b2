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
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.job_view import JobView, human_bytes
from desktop_app.tools_panel.page import ToolPage
from model_tools.jobs.folders import is_model_folder
from model_tools.jobs.requests import ConvertRequest, ImportRequest
from model_tools.library import hub
from model_tools.library import store as library
from model_tools.library.catalog import CATALOG, CatalogEntry
from model_tools.library.catalog import find as find_entry
from model_tools.runtime import ConvertedModel, paths
from model_tools.runtime.errors import GlimpseError

log = logging.getLogger("glimpse.app.tools")

PATH_ROLE = Qt.ItemDataRole.UserRole
TASKS = {"vqa": "Questions", "caption": "Captions"}


def precisions_text(model: ConvertedModel) -> str:
    return ", ".join(library.precision_label(model, p) for p in model.precisions) or "none"


def source_text(model: ConvertedModel) -> str:
    if library.is_bundled(model):
        return "Bundled with Glimpse"
    sid = model.spec.source_id
    if not sid:
        return "Imported"
    if Path(sid).is_absolute() or Path(sid).exists():
        return f"Folder: {Path(sid).name}"
    return f"Hugging Face: {sid}"


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
        self.installed = QTreeWidget()
        self.installed.setObjectName("installedModels")
        self.installed.setAccessibleName("Installed models")
        self.installed.setRootIsDecorated(False)
        self.installed.setAlternatingRowColors(True)
        self.installed.setUniformRowHeights(True)
        self.installed.setHeaderLabels(["Name", "Task", "Precisions", "Size", "Source"])
        header = self.installed.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.installed.itemSelectionChanged.connect(self._on_installed_selection_changed)
        self.import_hf_button = QPushButton("Import Hugging Face Folder…")
        self.import_hf_button.setObjectName("importHfButton")
        self.import_hf_button.setProperty(
            "idleTip", "Convert a BLIP model folder (config.json + safetensors)"
        )
        self.import_hf_button.clicked.connect(self.choose_hf_folder)
        self.import_converted_button = QPushButton("Import Converted Folder…")
        self.import_converted_button.setObjectName("importConvertedButton")
        self.import_converted_button.setProperty(
            "idleTip", "Copy a folder made by Glimpse (with manifest.json)"
        )
        self.import_converted_button.clicked.connect(self.choose_converted_folder)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("deleteModelButton")
        self.delete_button.setProperty("idleTip", "Remove the selected model from your models folder")
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.open_folder_button = QPushButton("Show Folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_clicked)
        self.location = QLabel()
        self.location.setObjectName("modelsLocation")
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        self.catalog = QTreeWidget()
        self.catalog.setObjectName("catalog")
        self.catalog.setAccessibleName("BLIP models to download")
        self.catalog.setRootIsDecorated(False)
        self.catalog.setUniformRowHeights(True)
        self.catalog.setHeaderLabels(["Model", "Task", "Download", "Status"])
        self.catalog.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.catalog.header().setStretchLastSection(True)
        self.catalog.itemSelectionChanged.connect(self._update_download_button)
        self.catalog.itemDoubleClicked.connect(lambda *_: self._on_download_clicked())
        self.download_button = QPushButton("Download and Convert")
        self.download_button.setObjectName("downloadButton")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.catalog_hint = QLabel()
        self.catalog_hint.setObjectName("catalogHint")
        self.catalog_hint.setWordWrap(True)
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
        selected = self.selected_model()
        self.installed.clear()
        self.location.setText(f"Your models are kept in {paths.models_dir()}")
        for model in library.installed():
            try:
                size = human_bytes(library.size_on_disk(model))
            except OSError:
                size = "?"
            item = QTreeWidgetItem(
                [
                    model.name,
                    TASKS.get(model.task, model.task),
                    precisions_text(model),
                    size,
                    source_text(model),
                ]
            )
            item.setData(0, PATH_ROLE, str(model.path))
            item.setToolTip(0, str(model.path))
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.installed.addTopLevelItem(item)
            if selected is not None and model.path == selected.path:
                item.setSelected(True)
        if self.installed.topLevelItemCount() == 0:
            self.installed.addTopLevelItem(QTreeWidgetItem(["No models yet: download one below."]))
        self._fill_catalog()
        self.refresh_buttons()

    def _fill_catalog(self) -> None:
        current = self.selected_entry()
        self.catalog.clear()
        for entry in CATALOG:
            item = QTreeWidgetItem(
                [
                    f"{entry.title}  ·  {entry.repo_id}",
                    TASKS.get(entry.task, entry.task),
                    f"≈ {human_bytes(entry.download_mb * 1e6)}",
                    self.entry_status(entry),
                ]
            )
            item.setData(0, PATH_ROLE, entry.repo_id)
            item.setToolTip(0, entry.description)
            self.catalog.addTopLevelItem(item)
            if current is not None and current.repo_id == entry.repo_id:
                item.setSelected(True)
        if not self.catalog.selectedItems():
            self.catalog.topLevelItem(0).setSelected(True)
        rows = self.catalog.topLevelItemCount()
        self.catalog.setFixedHeight(
            self.catalog.header().sizeHint().height() + rows * self.catalog.sizeHintForRow(0) + 8
        )
        self._update_download_button()

    def entry_status(self, entry: CatalogEntry) -> str:
        if self.installed_path(entry) is not None:
            return "Installed"
        cached = hub.cached_bytes(entry.repo_id)
        if cached:
            return f"Interrupted at {human_bytes(cached)}: resumes"
        return "Not downloaded"

    def installed_path(self, entry: CatalogEntry) -> Path | None:
        folder = paths.models_dir() / entry.folder_name
        return folder if (folder / "manifest.json").is_file() else None

    def selected_model(self) -> ConvertedModel | None:
        items = self.installed.selectedItems()
        path = items[0].data(0, PATH_ROLE) if items else None
        if not path:
            return None
        try:
            return ConvertedModel.open(path)
        except Exception:  # noqa: BLE001 - gone or damaged since the list was filled
            return None

    def select_model(self, path: Path) -> None:
        for i in range(self.installed.topLevelItemCount()):
            item = self.installed.topLevelItem(i)
            item.setSelected(item.data(0, PATH_ROLE) == str(path))

    def selected_entry(self) -> CatalogEntry | None:
        items = self.catalog.selectedItems() if hasattr(self, "catalog") else []
        return find_entry(items[0].data(0, PATH_ROLE)) if items else None

    def select_entry(self, repo_id: str) -> None:
        for i in range(self.catalog.topLevelItemCount()):
            item = self.catalog.topLevelItem(i)
            item.setSelected(item.data(0, PATH_ROLE) == repo_id)

    def can_start(self, button) -> bool:  # noqa: ANN001 - QAbstractButton
        if button is self.delete_button:
            model = self.selected_model()
            return model is not None and not library.is_bundled(model)
        if button is self.download_button:
            entry = self.selected_entry()
            return entry is not None and self.installed_path(entry) is None
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
        if self.installed_path(entry) is not None:
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
        out = paths.models_dir() / entry.folder_name
        if is_model_folder(out):
            self.show_notice(
                f"{entry.folder_name} is already installed. Delete it first to download it again."
            )
            return False
        if out.exists() or out.is_symlink():
            self.show_notice(f"{out} is in the way and is not a Glimpse model: move it elsewhere first.")
            return False
        resumed = hub.cached_bytes(entry.repo_id)
        verb = "Resuming the download of" if resumed else "Downloading"
        return self.start(
            Job(
                ConvertRequest(entry.repo_id, out),
                f"{verb} {entry.repo_id} and converting it",
                self.name,
                targets=[out],
            )
        )

    def import_hf_folder(self, folder: Path, name: str | None = None) -> bool:
        """Convert a local Hugging Face BLIP folder into the models folder."""
        if self.refused():
            return False
        folder = Path(folder)
        out = paths.models_dir() / (name or folder.name)
        if out.exists():
            self.show_notice(f"A model called {out.name} is already installed. Delete it first.")
            return False
        return self.start(
            Job(
                ConvertRequest(str(folder), out),
                f"Converting {folder.name}",
                self.name,
                targets=[out],
            )
        )

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
        return self.start(
            Job(
                ImportRequest(folder, name),
                f"Importing {folder.name}",
                self.name,
                targets=[out],
            )
        )

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
        return self.start(
            Job(
                None,
                f"Deleting {model.name}",
                self.name,
                call=lambda: library.delete(model),
            )
        )

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

    def _on_delete_clicked(self) -> None:
        self.request_delete()

    def _on_open_folder_clicked(self) -> None:
        model = self.selected_model()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(model.path if model else paths.models_dir())))
