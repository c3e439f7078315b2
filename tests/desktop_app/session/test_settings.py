"""Settings persist across restarts in <config dir>/settings.json; a bad file never stops the app."""

from __future__ import annotations

import json

from desktop_app.session.settings import Settings, load_settings, save_settings, settings_file
from tests.desktop_app.conftest import LOAD_TIMEOUT_MS, open_pictures


def test_settings_round_trip_across_restarts(qtbot, make_window, tiny_models, picture_files, private_config):
    win = make_window(tiny_models["vqa"])
    qtbot.waitUntil(lambda: win.model_bar.device_combo.findData("AUTO") >= 0, timeout=LOAD_TIMEOUT_MS)
    index = win.model_bar.device_combo.findData("AUTO")
    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
        win.model_bar.device_combo.setCurrentIndex(index)
        win.model_bar.device_combo.activated.emit(index)
    win.model_bar.max_tokens.setValue(7)
    win.model_bar.beams.setValue(2)
    open_pictures(qtbot, win, [picture_files[0], picture_files[2]])
    win.resize(720, 540)  # the offscreen screen is 800 x 600
    size = (win.width(), win.height())
    win.close()

    path = settings_file()
    assert path.parent == private_config
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["model"] == str(tiny_models["vqa"])
    assert (data["precision"], data["device"]) == ("fp16", "AUTO")
    assert (data["max_new_tokens"], data["num_beams"]) == (7, 2)
    assert data["recent_files"][:2] == [str(picture_files[2].resolve()), str(picture_files[0].resolve())]
    assert data["geometry"] and data["splitter"]

    # A new window without --model comes back as it was left.
    again = make_window()
    assert again.models.spec.path == tiny_models["vqa"]
    assert again.models.spec.device == "AUTO"
    assert (again.controller.max_new_tokens, again.controller.num_beams) == (7, 2)
    assert (again.model_bar.max_tokens.value(), again.model_bar.beams.value()) == (7, 2)
    assert (again.width(), again.height()) == size
    assert again.settings.recent_files[0] == str(picture_files[2].resolve())
    again.recent_menu.aboutToShow.emit()
    titles = [a.text() for a in again.recent_menu.actions()]
    assert any(picture_files[2].name in t for t in titles)
    assert not again.notification.isVisible()


def test_corrupt_settings_file_gives_defaults_and_a_notice(qtbot, make_window, tiny_models, private_config):
    private_config.mkdir(parents=True, exist_ok=True)
    (private_config / "settings.json").write_text('{"device": "GPU", "max_new_tok', encoding="utf-8")
    win = make_window(tiny_models["vqa"])
    assert win.notification.isVisible()
    assert "settings could not be read" in win.notification.message()
    defaults = Settings()
    assert (win.settings.max_new_tokens, win.settings.num_beams) == (
        defaults.max_new_tokens,
        defaults.num_beams,
    )
    assert win.settings.recent_files == []
    assert (private_config / "settings.json.bad").is_file()  # kept for the curious
    assert win.models.spec.device == "CPU"
    win.close()
    # The next start is clean.
    assert load_settings()[1] is None


def test_wrong_values_fall_back_one_by_one(private_config):
    private_config.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(
        json.dumps(
            {
                "max_new_tokens": "lots",
                "num_beams": 3,
                "precision": "int2",  # int4 is a chat model precision now
                "recent_files": "x.png",
                "device": "AUTO",
                "unknown": 1,
            }
        ),
        encoding="utf-8",
    )
    settings, notice = load_settings()
    assert notice is None
    assert (settings.max_new_tokens, settings.num_beams, settings.precision) == (30, 3, "fp16")
    assert settings.recent_files == [] and settings.device == "AUTO"
    # Unreadable kinds: not an object, not UTF-8.
    settings_file().write_text("[1, 2]", encoding="utf-8")
    assert load_settings()[1] is not None
    settings_file().write_bytes(b"\xff\xfe\x00garbage")
    settings, notice = load_settings()
    assert notice is not None and settings == Settings()


def test_save_is_atomic_and_recent_list_is_bounded(private_config):
    settings = Settings()
    for i in range(15):
        settings.add_recent(f"/pictures/{i}.png")
    settings.add_recent("/pictures/3.png")
    assert len(settings.recent_files) == 10 and settings.recent_files[0] == "/pictures/3.png"
    save_settings(settings)
    assert load_settings()[0] == settings
    assert [p.name for p in private_config.iterdir()] == ["settings.json"]  # no temporary left behind


def test_exact_precision_setting_loads_exactly_shows_the_setup_and_persists(
    qtbot, make_window, tiny_models, picture_files, private_config
):
    win = make_window(tiny_models["vqa"])
    bar = win.model_bar
    pipe = win.models.current
    assert not bar.exact.isChecked() and not pipe.exact and not win.settings.exact_precision
    assert bar.exact.accessibleName() == "Exact precision" and bar.exact.accessibleDescription()
    # The set-up the runtime chose is shown, and a screen reader hears it.
    assert pipe.setup_label and bar.setup.text() == pipe.setup_label and bar.setup.isVisible()
    assert pipe.setup_label in bar.setup.accessibleDescription()

    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        bar.exact.click()  # the model in use loads again, exactly
    exact = blocker.args[0]
    assert exact.exact and win.models.spec.exact and win.settings.exact_precision
    assert bar.exact.isChecked() and bar.setup.text() == exact.setup_label and "exact" in exact.setup_label
    assert all(source == "fp16" for source in exact.sources.values())
    open_pictures(qtbot, win, [picture_files[0]])
    with qtbot.waitSignal(win.controller.answer_finished, timeout=LOAD_TIMEOUT_MS):
        win.ask("what color is the circle?")
    win.close()
    assert json.loads(settings_file().read_text(encoding="utf-8"))["exact_precision"] is True

    again = make_window()
    assert again.models.spec.exact and again.models.current.exact and again.model_bar.exact.isChecked()
    with qtbot.waitSignal(again.models.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        again.model_bar.exact.click()
    assert not blocker.args[0].exact and not again.settings.exact_precision
    # A value of the wrong type falls back to the default alone.
    settings_file().write_text(json.dumps({"exact_precision": "yes", "num_beams": 2}), encoding="utf-8")
    settings, _ = load_settings()
    assert (settings.exact_precision, settings.num_beams) == (False, 2)
