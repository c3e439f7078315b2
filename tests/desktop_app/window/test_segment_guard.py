"""A Segment Anything model in the models folder (convertible with model-tools) is not offered as a model to
ask or chat with, and opening one says so in the window instead of failing inside a BLIP call."""

from __future__ import annotations

import shutil

from desktop_app.session.settings import Settings
from tests.desktop_app.conftest import LOAD_TIMEOUT_MS, error_dialog


def test_a_segment_model_is_not_offered_and_opening_one_says_why(qtbot, make_window, private_models, tiny_sam_model):
    installed = private_models / "tiny-sam"
    shutil.copytree(tiny_sam_model, installed)
    win = make_window(None, settings=Settings())
    listed = [win.model_bar.model_combo.itemData(i) for i in range(win.model_bar.model_combo.count())]
    assert listed and str(installed.resolve()) not in listed and all("tiny-sam" not in str(p) for p in listed)
    before = win.models.current
    win.session.choose_model(installed)
    qtbot.waitUntil(lambda: error_dialog(win) is not None, timeout=LOAD_TIMEOUT_MS)
    assert "Segment Anything model" in error_dialog(win).summary.text()
    assert win.models.current is before  # the model in use stays
