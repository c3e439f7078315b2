"""`glimpse` / `python -m desktop_app`: start the window.

glimpse [--model FOLDER] [--precision fp16|int8] [--device CPU|GPU|AUTO...] [PICTURE ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from desktop_app import __version__
from model_tools.jobs.progress import disable_telemetry

disable_telemetry()  # before anything imports openvino: nothing leaves the machine (README, Privacy)
log = logging.getLogger("glimpse.app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glimpse", description="Ask questions about pictures and caption them, with BLIP on OpenVINO."
    )
    parser.add_argument("pictures", nargs="*", type=Path, help="pictures to open")
    parser.add_argument(
        "--model", type=Path, help="converted model folder (default: the last used, or the demo model)"
    )
    parser.add_argument("--precision", choices=("fp16", "int8"), help="precision to start with")
    parser.add_argument("--device", help="OpenVINO device to start with (CPU, GPU, NPU, AUTO...)")
    parser.add_argument("--version", action="version", version=f"Glimpse {__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="check the installation offscreen, print JSON, exit 0 if all is well"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.self_test:
        from desktop_app.diagnostics.selftest import run

        return run()

    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from desktop_app.diagnostics.logs import set_exception_sink, setup_logging
    from desktop_app.session.aio import close_event_loop, install_event_loop

    log_path = setup_logging()
    log.info("Glimpse %s starting (log: %s)", __version__, log_path)
    QCoreApplication.setOrganizationName("Glimpse")
    QCoreApplication.setApplicationName("Glimpse")
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    QGuiApplication.setDesktopFileName("glimpse")

    from desktop_app.resources import app_icon
    from desktop_app.session.settings import load_settings
    from desktop_app.widgets.error_dialog import show_error
    from desktop_app.widgets.theme import ensure_theme
    from desktop_app.window.main_window import MainWindow

    app.setWindowIcon(app_icon())
    ensure_theme(app)
    install_event_loop(app)
    settings, notice = load_settings()
    if args.precision:
        settings.precision = args.precision
    if args.device:
        settings.device = args.device
    window = MainWindow(args.model, settings, images=args.pictures)
    if notice:
        window.notify(notice, "warning")

    def show_uncaught(exc: BaseException) -> None:
        show_error(window, exc)

    set_exception_sink(show_uncaught)
    window.show()
    if os.environ.get("GLIMPSE_STARTUP_PROBE"):
        from desktop_app.diagnostics.startup_probe import attach

        attach(window, app, Path(os.environ["GLIMPSE_STARTUP_PROBE"]))
    code = app.exec()
    set_exception_sink(None)
    stopped = window.threads_stopped
    if stopped is None:  # quit without closing the window (e.g. a signal): close it now
        window.close()
        stopped = window.threads_stopped
    close_event_loop()
    log.info("Glimpse exiting (%s)", "clean" if stopped else "a worker was still busy")
    logging.shutdown()
    if not stopped:
        # A model still compiling cannot be interrupted; do not make the user wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
