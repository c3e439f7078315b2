"""The pieces under the Model Tools window that need no window: the job protocol and the report files."""

from __future__ import annotations

import copy
import errno

import pytest

from desktop_app.tools_panel.page import human_bytes, progress_text
from desktop_app.widgets.error_dialog import describe
from model_tools.jobs import wire as job_wire
from model_tools.jobs.progress import Progress, remove_temporaries
from model_tools.library import compare_report as compare_files
from model_tools.runtime import Cancelled, ConversionError, CorruptModelError, GlimpseError

REPORT = {
    "model": "m",
    "task": "vqa",
    "device": "CPU",
    "baseline": "fp16",
    "candidate": "int8",
    "runs": 3,
    "sizes_bytes": {
        "fp16": {
            "vision_model": 2_000_000,
            "text_encoder": 1_000_000,
            "text_decoder_cross_kv": 500_000,
            "text_decoder": 3_000_000,
            "total": 6_500_000,
        },
        "int8": {
            "vision_model": 1_000_000,
            "text_encoder": 500_000,
            "text_decoder_cross_kv": 250_000,
            "text_decoder": 800_000,
            "total": 2_550_000,
        },
    },
    "compression": {
        "vision_model": 2.0,
        "text_encoder": 2.0,
        "text_decoder_cross_kv": 2.0,
        "text_decoder": 3.75,
        "total": 2.549,
    },
    "latency_ms": {
        "vqa": {
            p: {
                "vision": 10.0,
                "text_encoder": 2.0,
                "first_token": 15.0,
                "per_token": 3.0,
                "end_to_end": 40.0 if p == "fp16" else 25.0,
            }
            for p in ("fp16", "int8")
        }
    },
    "speedup": {
        "vqa": {"vision": 1.0, "text_encoder": 1.0, "first_token": 1.0, "per_token": 1.0, "end_to_end": 1.6}
    },
    "tokens": {"vqa": {"fp16": 4.0, "int8": 4.0}},
    "agreement": 0.5,
    "compared": 2,
    "answers": [
        {"image": "a.png", "question": "what?", "baseline": "red", "candidate": "Red"},
        {"image": "b.png", "question": "how many?", "baseline": "two", "candidate": "three"},
    ],
    "differing": [{"image": "b.png", "question": "how many?", "baseline": "two", "candidate": "three"}],
    "weights": {"fp16": {}, "int8": {"vision_model": "int8", "text_decoder": "int4"}},
}


@pytest.mark.parametrize(
    "exc",
    [
        ConversionError("Not BLIP.", "Use BLIP."),
        CorruptModelError("Broken.", "Convert again."),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"),
        MemoryError(),
    ],
)
def test_errors_cross_the_process_boundary_as_themselves(exc):
    back = job_wire.error_from_record(job_wire.error_record(exc, "Traceback (in the job)"))
    assert type(back) is type(exc)
    assert describe(back) == describe(exc)
    assert back.remote_traceback == "Traceback (in the job)"


def test_other_errors_keep_their_sentence():
    class QuantizationError(GlimpseError):
        pass

    back = job_wire.error_from_record(job_wire.error_record(QuantizationError("No pictures.", "Add some.")))
    assert isinstance(back, job_wire.JobFailedError) and back.kind == "QuantizationError"
    assert describe(back) == ("No pictures.", "Add some.")
    unknown = job_wire.error_from_record(job_wire.error_record(KeyError("x")))
    assert describe(unknown)[0] == "Something went wrong: KeyError: 'x'."
    assert isinstance(job_wire.error_from_record(job_wire.error_record(Cancelled())), Cancelled)


def test_a_build_without_the_tools_says_so(monkeypatch):
    """The runtime bundle has no torch: a convert job there fails with a sentence, not "No module named"."""
    from model_tools.jobs import child as job_runner

    def convert_without_torch(args, on_progress, cancel):
        import torch_that_is_not_installed  # noqa: F401

    monkeypatch.setitem(job_runner.JOBS, "convert", convert_without_torch)
    monkeypatch.setattr(job_runner, "TOOLS_MODULES", {*job_runner.TOOLS_MODULES, "torch_that_is_not_installed"})
    with pytest.raises(GlimpseError) as info:
        job_runner.run("convert", {})
    assert describe(info.value) == (
        "This Glimpse has no model conversion tools (torch_that_is_not_installed is not installed).",
        "Use the full Glimpse bundle, or install from source with the tools extra: pip install -e '.[tools]'.",
    )
    monkeypatch.setattr(job_runner, "TOOLS_MODULES", set())
    with pytest.raises(ModuleNotFoundError):  # any other missing module is a bug, reported as one
        job_runner.run("convert", {})

    # Where the tools are missing, convert and quantize say so before they start; compare needs none.
    monkeypatch.setattr(job_runner.jobs, "missing_tools", lambda: ["torch", "nncf"])
    for kind in ("convert", "quantize"):
        with pytest.raises(GlimpseError, match=r"no model conversion tools \(torch, nncf missing\)"):
            job_runner.run(kind, {"source": "Salesforce/blip-vqa-base", "model": "x"})
    with pytest.raises(KeyError):  # compare went on to read its arguments
        job_runner.run("compare", {})


def test_protocol_lines_and_progress():
    p = Progress("download", 5, 10, "bytes", "Downloading")
    line = job_wire.encode(job_wire.progress_event(p))
    assert line.endswith("\n") and job_wire.progress_from(job_wire.decode(line)) == p
    assert job_wire.decode("Some library printed this\n") is None
    assert job_wire.encode(job_wire.CANCEL) == "cancel\n"


def test_chart_data_and_labels_say_where_int4_is():
    data = compare_files.chart_data(REPORT)
    sizes, latency = data["sizes"], data["latency"]
    assert sizes["unit"] == "MB" and sizes["categories"] == [
        "vision",
        "text enc.",
        "cross K/V",
        "decoder (INT4)",
    ]
    assert [s[0] for s in sizes["series"]] == ["FP16", "INT8 (INT4 decoder)"]
    assert sizes["series"][1][2] == [1.0, 0.5, 0.25, 0.8]
    assert latency["series"][0][2][-1] == 40.0 and latency["categories"][-1] == "end to end"
    assert "1.60x faster" in compare_files.headline(
        REPORT
    ) and "same answer on 1 of 2" in compare_files.headline(REPORT)
    small = copy.deepcopy(REPORT)
    small["sizes_bytes"]["fp16"]["vision_model"] = 200_000
    for p in ("fp16", "int8"):
        for part in small["sizes_bytes"][p]:
            small["sizes_bytes"][p][part] //= 100
    assert compare_files.chart_data(small)["sizes"]["unit"] == "kB"


def test_csv_rows_put_answers_side_by_side():
    rows = compare_files.csv_rows(REPORT)
    assert rows[0] == ["section", "item", "question", "fp16", "int8", "ratio", "same"]
    answers = [r for r in rows if r[0] == "answer"]
    assert answers == [
        ["answer", "a.png", "what?", "red", "Red", "", "yes"],
        ["answer", "b.png", "how many?", "two", "three", "", "no"],
    ]


def test_progress_words():
    assert (
        progress_text(Progress("download", 250_000_000, 1_540_000_000, "bytes")) == "250 MB of 1.54 GB (16%)"
    )
    assert progress_text(Progress("vision_model", 3, 8, "samples")) == "3 of 8 samples"
    assert progress_text(Progress("text_encoder", 2, 6, "steps")) == "Step 3 of 6"
    assert (
        human_bytes(990e6) == "990 MB"
        and human_bytes(6_640_000) == "6.64 MB"
        and human_bytes(614_000) == "614 kB"
    )


def test_remove_temporaries_restores_a_swapped_out_folder(tmp_path):
    target = tmp_path / "model"
    (tmp_path / ".model.tmp-1234abcd").mkdir()
    old = tmp_path / ".model.old-5678abcd"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    remove_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (target / "manifest.json").is_file(), "killed between the two renames: the old model comes back"


def test_page_options_are_the_functions_parameters(qtbot, tmp_path, monkeypatch):
    """The Quantize and Compare pages send option names that quantize() and compare() take (the CLI's too)."""
    import inspect

    from desktop_app.tools_panel import JobRunner
    from desktop_app.tools_panel.pages.compare import ComparePage
    from desktop_app.tools_panel.pages.quantize import QuantizePage
    from model_tools.measure.compare import compare
    from model_tools.quantize.blip import quantize

    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(tmp_path))
    runner = JobRunner()
    page = QuantizePage(runner)
    qtbot.addWidget(page)
    page.int4_radio.setChecked(True)
    page.accuracy.setChecked(True)
    page.max_drop.setValue(2.5)
    options = page.options()
    assert set(options) <= set(inspect.signature(quantize).parameters) | {"model"}
    assert (options["decoder"], options["group_size"], options["ratio"], options["max_drop"]) == (
        "int4",
        64,
        0.8,
        0.025,
    )
    compare_page = ComparePage(runner)
    qtbot.addWidget(compare_page)
    accepted = set(inspect.signature(compare).parameters) | {"model"}
    assert set(compare_page.options()) <= accepted
