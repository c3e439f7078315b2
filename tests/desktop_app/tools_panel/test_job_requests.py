"""What the Model Tools pages hand to the job wire: their requests, as the job process reads them, and the
words their progress bars show. (The wire itself is tested without Qt in tests/jobs.)"""

from __future__ import annotations

from desktop_app.tools_panel import JobRunner
from desktop_app.tools_panel.job_view import human_bytes, progress_text
from desktop_app.tools_panel.pages.compare import ComparePage
from desktop_app.tools_panel.pages.quantize import QuantizePage
from model_tools.jobs import wire as job_wire
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import CompareRequest, QuantizeRequest


def as_the_job_reads_it(request):
    """`request` after the trip a page's job makes: to a line on the job's stdin, and back."""
    return job_wire.request_from(job_wire.decode(job_wire.encode(job_wire.request_message(request))))


def test_the_quantize_page_s_request_reaches_the_job_as_the_form_says(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(tmp_path))
    page = QuantizePage(JobRunner())
    qtbot.addWidget(page)
    model = tmp_path / "blip"
    assert as_the_job_reads_it(page.request(model)) == QuantizeRequest(model)  # the form's defaults are its own
    page.int4_radio.setChecked(True)
    page.accuracy.setChecked(True)
    page.max_drop.setValue(2.5)
    page.set_calibration(tmp_path / "pictures", tmp_path / "questions.txt")
    sent = as_the_job_reads_it(page.request(model))
    assert (sent.decoder, sent.group_size, sent.ratio, sent.max_drop) == ("int4", 64, 0.8, 0.025)
    assert sent.accuracy_control and sent.calibration == str(tmp_path / "pictures")
    assert sent.questions == tmp_path / "questions.txt" and sent == page.request(model)


def test_the_compare_page_s_request_reaches_the_job_as_the_form_says(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(tmp_path))
    page = ComparePage(JobRunner())
    qtbot.addWidget(page)
    model = tmp_path / "blip"
    assert as_the_job_reads_it(page.request(model)) == CompareRequest(model)
    page.runs.setValue(3)
    page.max_tokens.setValue(7)
    page.folder_radio.setChecked(True)
    page.folder_field.set_path(tmp_path / "pictures")
    sent = as_the_job_reads_it(page.request(model))
    assert (sent.runs, sent.max_new_tokens, sent.images) == (3, 7, tmp_path / "pictures")
    assert (sent.baseline, sent.candidate, sent.device) == ("fp16", "int8", "CPU")


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
