"""Reading answers aloud with QtTextToSpeech, where the platform has a voice.

QtTextToSpeech lives in pyside6-addons and needs the platform's speech service (and, on Linux, audio
libraries); when any of that is missing, `Speaker.available` stays False and the window hides the feature.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("glimpse.app.speech")


class Speaker(QObject):
    """Wraps one QTextToSpeech engine; `availability_changed(bool)` after the (deferred) probe."""

    availability_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = False
        self.engine_name = ""
        self._tts: Any = None

    def probe(self) -> bool:
        """Look for an engine with at least one voice; call once the window is up (engines may be slow)."""
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except (ImportError, OSError) as exc:  # e.g. libpulse missing on a headless Linux
            log.info("Read aloud unavailable: %s", exc)
            return self._set(False)
        try:
            engines = [e for e in QTextToSpeech.availableEngines() if e != "mock"]
            for engine in engines:
                tts = QTextToSpeech(engine, self)
                if tts.state() != QTextToSpeech.State.Error and tts.availableVoices():
                    self._tts, self.engine_name = tts, engine
                    return self._set(True)
                tts.deleteLater()
        except Exception as exc:  # noqa: BLE001 - a missing voice is not an error the user must see
            log.info("Read aloud unavailable: %s", exc)
        return self._set(False)

    def _set(self, available: bool) -> bool:
        self.available = available
        self.availability_changed.emit(available)
        return available

    def say(self, text: str) -> None:
        if self._tts is not None and text.strip():
            self._tts.say(text)

    def stop(self) -> None:
        if self._tts is not None:
            self._tts.stop()
