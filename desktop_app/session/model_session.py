"""Which model to load: the policy behind the model bar, in a Qt object without widgets.

    session = ModelSession(controller, settings)
    session.start(None)              # `--model`, else the last one used, else the demo, else any installed
    session.choose_precision("int8") # the user's picks: a model, a precision, a device, exact or not
    session.shown.connect(...)       # what the switches should show; `ready`, `noticed`, `failed` besides

It decides what to ask the `ModelLoader` for (a precision the model has, the device that still exists,
the CPU when the remembered device is gone), which models to offer, and whether Describe can work (a
captioning model, or a VQA model with a captioning partner). The window only shows what it says.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop_app.session.model_loader import ASKABLE_FAMILIES, ModelSpec, not_askable
from desktop_app.session.settings import Settings
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, DeviceUnavailableError, GlimpseError
from model_tools.runtime.errors import explain

if TYPE_CHECKING:
    from desktop_app.session.chat_controller import ChatController
    from model_tools.runtime import BlipPipeline

__all__ = ["ModelSession", "ModelSpec", "precision_for", "resolve_model"]

log = logging.getLogger("glimpse.app.models")


def resolve_model(explicit: Path | None, remembered: str | None) -> tuple[Path | None, GlimpseError | None]:
    """The model to start with: `--model`, else the last one used, else the demo model, else any installed.

    Returns the folder (None when there is none) and the error met on the way, if any, to show.
    """
    if explicit is not None:
        return Path(explicit), None
    if remembered and (Path(remembered) / "manifest.json").is_file():
        return Path(remembered), None
    try:
        return library.default_model("vqa"), None
    except GlimpseError as exc:
        models = [m for m in library.installed() if m.spec.family in ASKABLE_FAMILIES]
        if models:
            return models[0].path, None
        return None, exc


def precision_for(model: ConvertedModel, preferred: str | None) -> str:
    """`preferred` if `model` has it, else the first precision it has (FP16 before INT8)."""
    if preferred and model.has(preferred):
        return preferred
    return (model.precisions or ["fp16"])[0]


class ModelSession(QObject):
    """The model choice of one window. Signals: `listed(list[ConvertedModel], Path | None)` the models to
    offer and the one to select; `shown(ConvertedModel | None, precision, device, exact)` what the switches
    show; `ready(BlipPipeline)` a model is loaded and `can_describe`
    says what it can do; `noticed(message, level)`; `failed(exception)` for the error presenter."""

    listed = Signal(object, object)
    shown = Signal(object, str, str, bool)
    ready = Signal(object)
    noticed = Signal(str, str)
    failed = Signal(object)

    def __init__(self, controller: ChatController, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.loader = controller.models
        self.settings = settings
        self.has_models = False
        self.can_describe = True  # until a loaded model says otherwise
        self.describe_blocker = ""  # why not, in words
        self._extra_models: list[ConvertedModel] = []  # opened from a folder, not installed
        self.loader.loaded.connect(self._on_loaded)
        self.loader.load_failed.connect(self._on_load_failed)

    @property
    def wanted(self) -> ModelSpec | None:
        """The model being loaded, else the one in use."""
        return self.loader.wanted or self.loader.spec

    @property
    def device(self) -> str:
        spec = self.wanted
        return spec.device if spec else self.settings.device

    # -- choosing --------------------------------------------------------------------------------------------

    def start(self, explicit: Path | None) -> GlimpseError | None:
        """Load the model to start with (see `resolve_model`); returns the error to show once the window is up."""
        s = self.settings
        path, problem = resolve_model(explicit, s.model)
        self._list(path)
        if path is None:
            self._show(None)
            log.info("No model to start with: %s", problem)
            return None
        try:
            model = ConvertedModel.open(path)
        except GlimpseError as exc:
            self._show(None)
            return exc
        self._remember(model)
        precision = precision_for(model, s.precision)
        self._show_and_switch(model, ModelSpec(model.path, precision, s.device, s.exact_precision))
        return None

    def refresh(self) -> None:
        """Read the installed models again (a Model Tools job added, changed or removed one): the model in use
        stays, and its precision switch learns about a new INT8 version; with none yet, the first one is used."""
        self._extra_models = [m for m in self._extra_models if (m.path / "manifest.json").is_file()]
        spec = self.wanted
        self._list(spec.path if spec else None)
        if spec is not None:
            self.show_wanted()
        elif self.has_models and self.loader.current is None and not self.loader.busy:
            self.start(None)  # the first model arrived: use it

    def choose_model(self, path: Path) -> None:
        """A model from the list or a folder: the precision and device in use carry over where they can."""
        try:
            model = ConvertedModel.open(path)
            refusal = not_askable(model)
            if refusal is not None:
                raise refusal
        except GlimpseError as exc:
            self.failed.emit(exc)
            self.show_wanted()
            return
        current = self.wanted
        precision = precision_for(model, current.precision if current else None)
        self._remember(model)
        self._show_and_switch(model, ModelSpec(model.path, precision, self.device, self.settings.exact_precision))

    def choose_precision(self, precision: str) -> None:
        spec = self.wanted
        if spec is not None and spec.precision != precision:
            self.switch(ModelSpec(spec.path, precision, spec.device, spec.exact))

    def choose_device(self, device: str) -> None:
        spec = self.wanted
        if spec is None:
            self.settings.device = device
        elif spec.device != device:
            self.switch(ModelSpec(spec.path, spec.precision, device, spec.exact))

    def choose_exact(self, exact: bool) -> None:
        """Exact precision on or off; the model in use is loaded again that way."""
        self.settings.exact_precision = exact
        spec = self.wanted
        if spec is not None and spec.exact != exact:
            self.switch(ModelSpec(spec.path, spec.precision, spec.device, exact))

    def switch(self, spec: ModelSpec) -> None:
        """Load `spec` in the background; the answer in progress stops first, questions waiting run after."""
        self.controller.stop_current()
        self.loader.switch(spec)

    def show_wanted(self) -> None:
        """Put the switches back to what is actually loaded (or being loaded)."""
        spec = self.wanted
        if spec is None:
            return
        try:
            model = ConvertedModel.open(spec.path)
        except GlimpseError:
            return
        self._show(model, spec)

    def _show(self, model: ConvertedModel | None, spec: ModelSpec | None = None) -> None:
        """What the switches show: `spec`, or with no model the settings' choices."""
        s = self.settings
        if spec is None:
            self.shown.emit(model, s.precision, s.device, s.exact_precision)
        else:
            self.shown.emit(model, spec.precision, spec.device, spec.exact)

    def _show_and_switch(self, model: ConvertedModel, spec: ModelSpec) -> None:
        self._show(model, spec)
        self.switch(spec)

    def _remember(self, model: ConvertedModel) -> None:
        if all(m.path.resolve() != model.path.resolve() for m in self._extra_models):
            self._extra_models.append(model)
        self._list(model.path)

    def _list(self, current: Path | None) -> None:
        models = [m for m in library.installed() if m.spec.family in ASKABLE_FAMILIES]
        known = {m.path.resolve() for m in models}
        models += [m for m in self._extra_models if m.path.resolve() not in known]
        self.has_models = bool(models)
        self.listed.emit(models, current)

    # -- the loader's news -----------------------------------------------------------------------------------

    def _on_loaded(self, pipe: BlipPipeline) -> None:
        self.can_describe = pipe.task in ("caption", "chat") or library.caption_partner(pipe.model) is not None
        self.describe_blocker = (
            ""
            if self.can_describe
            else f"{pipe.model.name} answers questions only and has no captioning partner: type a question, "
            "or choose a captioning model to describe pictures."
        )
        s = self.settings
        s.model, s.precision, s.device = str(pipe.model.path), pipe.precision, pipe.device
        self.ready.emit(pipe)
        if pipe.model.spec.demo:
            self.noticed.emit(library.DEMO_CHAT_NOTE if pipe.task == "chat" else library.DEMO_NOTE, "info")
        for note in pipe.notes:  # e.g. running without a compile cache: said once per process
            self.noticed.emit(note, "warning")

    def _on_load_failed(self, spec: ModelSpec, exc: BaseException) -> None:
        if self.loader.current is None and isinstance(exc, DeviceUnavailableError) and spec.device != "CPU":
            # Nothing loaded yet (e.g. the remembered GPU is gone): carry on with the CPU, and say so.
            self.noticed.emit(f"{explain(exc).message} Glimpse uses the CPU instead.", "warning")
            self.switch(ModelSpec(spec.path, spec.precision, "CPU", spec.exact))
            return
        self.failed.emit(exc)
        self.show_wanted()

    # -- for the settings file and error reports -------------------------------------------------------------

    def collect_settings(self) -> None:
        """Write the model in use into the settings (saved on close)."""
        spec = self.loader.spec
        if spec is not None:
            s = self.settings
            s.model, s.precision, s.device = str(spec.path), spec.precision, spec.device
            s.exact_precision = spec.exact

    def error_context(self) -> dict[str, str]:
        spec, wanted = self.loader.spec, self.loader.wanted
        out = {}
        if spec is not None:
            out["Model in use"] = f"{spec.path} ({spec.precision}) on {spec.device}"
        if wanted is not None and wanted != spec:
            out["Model requested"] = f"{wanted.path} ({wanted.precision}) on {wanted.device}"
        return out
