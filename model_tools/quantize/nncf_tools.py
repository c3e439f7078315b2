"""What both families' quantizers need around NNCF: the model folder to quantize, checked; importing NNCF
with a clear message, the tool versions for the manifest, its bars and INFO lines silenced while we report progress ourselves, and its errors turned into
one sentence naming the part."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from model_tools import __version__
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import ModelResult, QuantizationError, QuantizeResult
from model_tools.runtime.errors import Cancelled, GlimpseError
from model_tools.runtime.model_folder import ConvertedModel


def open_fp16(model_dir: str | os.PathLike[str], family: str) -> ConvertedModel:
    """The model folder, refusing one of another family or without a complete, undamaged `fp16/`."""
    model = ConvertedModel.open(model_dir)
    if model.spec.family != family or not model.has("fp16") or not (model.path / "fp16").is_dir():
        kind = "chat model " if family == "chat" else ""
        raise QuantizationError(
            f"{model.name} has no {kind}fp16/ folder to quantize.",
            "Convert the model again with `model-tools convert`.",
        )
    model.verify("fp16")
    if not os.access(model.path, os.W_OK):
        raise QuantizationError(
            f"{model.name} is in a read-only folder ({model.path}).", "Copy it to your models folder first."
        )
    return model


def import_nncf() -> Any:
    try:
        import nncf
    except ImportError:
        raise QuantizationError("Quantization needs NNCF.", "Install it with `pip install nncf`.") from None
    return nncf


def tools_record(nncf: Any) -> dict[str, str]:
    """What made a precision folder, for its manifest entry."""
    import openvino as ov

    return {"glimpse": __version__, "nncf": nncf.__version__, "openvino": str(ov.__version__)}


_quiet_lock = threading.Lock()
_quiet_users = [0]
_quiet_saved: list[Any] = []


@contextmanager
def quiet_nncf(nncf: Any) -> Iterator[None]:
    """No rich progress bars or INFO lines from NNCF while we report progress ourselves.

    NNCF has no switch for its bars, so `track` is patched to start disabled; jobs running at the same time
    share one patch (counted), and the last one out restores NNCF as it was.
    """
    with _quiet_lock:
        if _quiet_users[0] == 0:
            logger = logging.getLogger("nncf")
            _quiet_saved[:] = [logger.level, [h.level for h in logger.handlers], None]
            nncf.set_log_level(logging.WARNING)
            try:
                from nncf.common.logging import track_progress

                original_init = track_progress.track.__init__

                def quiet_init(self: Any, *args: Any, **kwargs: Any) -> None:
                    kwargs["disable"] = True
                    original_init(self, *args, **kwargs)

                track_progress.track.__init__ = quiet_init  # type: ignore[method-assign]
                _quiet_saved[2] = (track_progress.track, original_init)
            except (ImportError, AttributeError):  # another NNCF layout: its bars show, nothing breaks
                pass
        _quiet_users[0] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users[0] -= 1
            if _quiet_users[0] == 0:
                level, handler_levels, patched = _quiet_saved
                if patched is not None:
                    patched[0].__init__ = patched[1]
                logger = logging.getLogger("nncf")
                logger.setLevel(level)
                for handler, old in zip(logger.handlers, handler_levels, strict=False):
                    handler.setLevel(old)


@contextmanager
def nncf_errors(part: str, verb: str) -> Iterator[None]:
    """NNCF's own errors become one sentence naming the part; ours and cancellation pass through."""
    try:
        yield
    except (GlimpseError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - NNCF raises many types, some wrapping ours
        cause = exc
        while cause is not None:
            if isinstance(cause, Cancelled):
                raise cause from None
            cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuantizationError(f"NNCF could not {verb} {part}: {first}") from exc


STATISTICS_PASSES = 2  # transformer models: SmoothQuant statistics, then min/max (+ fast bias correction)


class SampleCounter:
    """Counts calls of an nncf.Dataset transform: progress for a GUI, and the place where cancel is checked.

    NNCF goes over the samples once per statistics pass, so the count is the samples of the current pass
    ("3 of 4 samples", never more than there are) and the message says which pass it is.
    """

    def __init__(
        self,
        stage: str,
        samples: int,
        on_progress: OnProgress | None,
        cancel: threading.Event | None,
        message: str,
    ) -> None:
        self.stage, self.total, self.passes = stage, max(1, samples), STATISTICS_PASSES
        self.calls = self.done = 0
        self.on_progress, self.cancel, self.base = on_progress, cancel, message
        self.message = self._message(1)
        report(on_progress, stage, 0, self.total, "samples", self.message)

    def _message(self, current: int) -> str:
        return f"{self.base} (statistics pass {current} of {self.passes})"

    def tick(self) -> None:
        check_cancel(self.cancel)
        self.calls += 1
        current = (self.calls - 1) // self.total + 1
        self.passes = max(self.passes, current)  # NNCF made more passes than expected: say so
        self.done = (self.calls - 1) % self.total + 1
        self.message = self._message(current)
        report(self.on_progress, self.stage, self.done, self.total, "samples", self.message)

    def note(self, message: str) -> None:
        """Say something new without moving the count (a validation run under accuracy control)."""
        report(self.on_progress, self.stage, self.done, self.total, "samples", message)

    def finish(self) -> None:
        report(self.on_progress, self.stage, self.total, self.total, "samples", self.message)


def quantized_result(folder: Path, precision: str = "int8") -> QuantizeResult:
    """What a quantizer returns: the model, the new precision folder, sizes per part before and after, and the
    recipe the manifest recorded for it (calibration, parts, accuracy control, duration)."""
    from model_tools.library.store import component_sizes

    model = ConvertedModel.open(folder)
    entry = model.manifest["precisions"][precision]
    return QuantizeResult(
        **ModelResult.of(model.path).to_dict(),
        int8=model.path / precision,
        sizes_bytes={p: component_sizes(model, p) for p in ("fp16", precision)},
        calibration=entry.get("calibration"),
        parts=entry.get("parts"),
        accuracy_control=entry.get("accuracy_control"),
        duration_s=entry.get("duration_s"),
    )
