"""Nothing leaves the machine: OpenVINO's and NNCF's usage telemetry is turned off before openvino is imported."""

from __future__ import annotations

import sys


def disable_telemetry() -> None:
    """Keep OpenVINO and NNCF from reporting usage to Google Analytics: Glimpse promises that nothing leaves
    the machine.

    `import openvino` alone sends an event (a random client id kept in ~/intel/openvino_ga_cid, a usage count
    kept in ~/intel/stats, the OpenVINO version and OS), the converter and NNCF send more, from processes they
    fork. Both fall back to a silent stub when their `openvino_telemetry` package cannot be imported, so make
    it unimportable for this process: nothing is sent and no ~/intel files are written. Costs nothing; call
    first thing in every entry point, before anything imports openvino.
    """
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import raises ImportError
        return
    # Imported already (openvino came first): what it sent at import is gone, but decline from now on.
    module = sys.modules["openvino_telemetry"]
    if module is None:
        return
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED  # type: ignore[method-assign]
    try:
        module.Telemetry().consent = False
    except RuntimeError:  # never set up
        pass
