"""The inference devices OpenVINO reports on this machine, with their full names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from model_tools.runtime.errors import DeviceUnavailableError

if TYPE_CHECKING:
    import openvino as ov


@dataclass(frozen=True)
class Device:
    id: str  # what OpenVINO calls it: CPU, GPU.0, NPU, AUTO
    name: str  # the full name, e.g. "AMD EPYC 9B14"

    @property
    def label(self) -> str:
        return self.id if self.name == self.id else f"{self.id} ({self.name})"


@lru_cache(maxsize=1)
def core() -> ov.Core:
    """One OpenVINO Core per process: plugins load once. (openvino is imported here, on first use, so that
    the window can show before the ~0.4 s import.)"""
    import openvino as ov

    return ov.Core()


def list_devices() -> list[Device]:
    """Hardware devices OpenVINO reports, then AUTO (which picks among them)."""
    found = []
    for dev in core().available_devices:
        try:
            name = str(core().get_property(dev, "FULL_DEVICE_NAME"))
        except RuntimeError:
            name = dev
        found.append(Device(dev, name))
    found.append(Device("AUTO", "Automatic: OpenVINO picks the best device"))
    return found


def check_device(device: str) -> str:
    """Return `device` if OpenVINO can use it, else raise naming the devices that exist.

    AUTO, MULTI and HETERO may name their devices (AUTO:GPU,CPU; MULTI:CPU,GPU; HETERO:GPU,CPU): each must exist.
    """
    ids = [d.id for d in list_devices()]
    families = {i.split(".")[0] for i in ids}  # "GPU" is fine when "GPU.0" exists
    kind, _, listed = device.partition(":")
    if kind in ("AUTO", "MULTI", "HETERO") and listed:
        wanted = [d.strip() for d in listed.split(",")]
        if all(d in ids or d in families for d in wanted if d):
            return device
    elif device in ids or device in families:
        return device
    raise DeviceUnavailableError(
        f"The device '{device}' is not available.", f"Devices on this computer: {', '.join(ids)}."
    )
