"""The two lists of the Models page: the installed models (task, precisions, size, source) and the
catalog (each entry installed, interrupted part-way, or not downloaded). Each row keeps its key (a model's
folder, a repository id) under KEY_ROLE, so a selection survives a refill."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from desktop_app.tools_panel.job_view import human_bytes
from model_tools.library import hub
from model_tools.library import store as library
from model_tools.library.catalog import CATALOG, CatalogEntry, memory_warning
from model_tools.library.catalog import find as find_entry
from model_tools.runtime import ConvertedModel, GlimpseError, paths

KEY_ROLE = Qt.ItemDataRole.UserRole
TASKS = {"vqa": "Questions", "caption": "Captions", "chat": "Chat"}


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


def installed_folder(entry: CatalogEntry) -> Path | None:
    """Where the catalog entry is installed; None while it is not."""
    folder = paths.models_dir() / entry.folder_name
    return folder if (folder / "manifest.json").is_file() else None


def _has_precision(folder: Path, precision: str) -> bool:
    try:
        return ConvertedModel.open(folder).has(precision)
    except GlimpseError:
        return False


def entry_status(entry: CatalogEntry) -> str:
    folder = installed_folder(entry)
    if folder is not None and (not entry.ready or _has_precision(folder, entry.precision)):
        return "Installed"
    if memory_warning(entry):
        return f"Needs {entry.needs_mb / 1000:.0f} GB of memory: too big here"
    cached = hub.cached_bytes(entry.repo_id)
    if cached:
        return f"Interrupted at {human_bytes(cached)}: resumes"
    return "Not downloaded"


class KeyedList(QTreeWidget):
    """A flat list whose rows carry a key under KEY_ROLE."""

    def __init__(self, name: str, spoken: str, headers: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setAccessibleName(spoken)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setHeaderLabels(headers)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(True)

    def selected_key(self) -> str | None:
        items = self.selectedItems()
        return items[0].data(0, KEY_ROLE) if items else None

    def select_key(self, key: str) -> None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            item.setSelected(item.data(0, KEY_ROLE) == key)

    def add_row(self, key: str, cells: list[str], tip: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(cells)
        item.setData(0, KEY_ROLE, key)
        item.setToolTip(0, tip)
        self.addTopLevelItem(item)
        return item


class InstalledList(KeyedList):
    """The models in the models folder and those bundled with Glimpse."""

    def __init__(self, parent: QWidget | None = None) -> None:
        headers = ["Name", "Task", "Precisions", "Size", "Source"]
        super().__init__("installedModels", "Installed models", headers, parent)
        self.setAlternatingRowColors(True)

    def fill(self) -> None:
        """Re-read the installed models; the one selected stays selected."""
        selected = self.selected_key()
        self.clear()
        for model in library.installed():
            try:
                size = human_bytes(library.size_on_disk(model))
            except OSError:
                size = "?"
            task = TASKS.get(model.task, model.task)
            cells = [model.name, task, precisions_text(model), size, source_text(model)]
            item = self.add_row(str(model.path), cells, str(model.path))
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setSelected(str(model.path) == selected)
        if self.topLevelItemCount() == 0:
            self.addTopLevelItem(QTreeWidgetItem(["No models yet: download one below."]))

    def selected_model(self) -> ConvertedModel | None:
        path = self.selected_key()
        if not path:
            return None
        try:
            return ConvertedModel.open(path)
        except Exception:  # noqa: BLE001 - gone or damaged since the list was filled
            return None


class CatalogList(KeyedList):
    """The BLIP models Glimpse knows on Hugging Face, each with its state; one is always selected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("catalog", "BLIP models to download", ["Model", "Task", "Download", "Status"], parent)

    def fill(self) -> None:
        """Re-read each entry's state; the list is exactly as tall as its rows."""
        current = self.selected_key()
        self.clear()
        for entry in CATALOG:
            cells = [
                f"{entry.title}  ·  {entry.repo_id}",
                TASKS.get(entry.task, entry.task),
                f"≈ {human_bytes(entry.download_mb * 1e6)}",
                entry_status(entry),
            ]
            self.add_row(entry.repo_id, cells, entry.description).setSelected(entry.repo_id == current)
        if not self.selectedItems():
            self.topLevelItem(0).setSelected(True)
        rows = self.topLevelItemCount()
        self.setFixedHeight(self.header().sizeHint().height() + rows * self.sizeHintForRow(0) + 8)

    def selected_entry(self) -> CatalogEntry | None:
        repo_id = self.selected_key()
        return find_entry(repo_id) if repo_id else None
