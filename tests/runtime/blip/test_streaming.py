"""Streaming: chunks arrive as tokens are decided and add up to the answer; cancel stops within one step."""

from __future__ import annotations

import threading

import pytest

from model_tools.runtime import load
from model_tools.runtime.blip.pipeline import DecoderSession
from tests.conftest import QUESTIONS


@pytest.fixture(scope="module")
def vqa(tiny_models):
    return load(tiny_models["vqa"], hints={"*": "f32"})


@pytest.mark.parametrize("beams", [1, 3])
def test_chunks_concatenate_to_the_answer(vqa, images, beams):
    pieces_seen = False
    for image in images:
        for question in QUESTIONS:
            chunks: list[str] = []
            answer = vqa.ask(image, question, max_new_tokens=12, num_beams=beams, on_text=chunks.append)
            assert "".join(chunks) == answer.text
            if beams == 1:
                # Greedy decides one token per step: every token that carries text gives exactly one chunk.
                texty = [t for t in answer.token_ids if t not in vqa.tokenizer.special_ids]
                assert len(chunks) == len(texty)
            pieces_seen |= any(not c.startswith(" ") for c in chunks[1:])
    assert pieces_seen, "expected some WordPiece continuation or punctuation joined without a space"


def test_greedy_streams_before_the_end(vqa, images):
    """The first chunk arrives while the answer is still being generated, not all at once at the end."""
    steps_at_chunk: list[int] = []
    steps = [0]
    original = DecoderSession.step

    def counting_step(self, tokens):
        steps[0] += 1
        return original(self, tokens)

    DecoderSession.step = counting_step
    try:
        answer = vqa.ask(images[0], QUESTIONS[0], max_new_tokens=10, on_text=lambda c: steps_at_chunk.append(steps[0]))
    finally:
        DecoderSession.step = original
    assert len(answer.token_ids) > 2
    assert steps_at_chunk[0] == 1


@pytest.mark.parametrize("beams", [1, 3])
def test_cancel_stops_within_one_decode_step(vqa, images, beams):
    cancel = threading.Event()
    steps = [0]
    original = DecoderSession.step

    def step_then_cancel(self, tokens):
        steps[0] += 1
        if steps[0] == 3:
            cancel.set()
        return original(self, tokens)

    DecoderSession.step = step_then_cancel
    try:
        answer = vqa.ask(images[1], QUESTIONS[1], max_new_tokens=40, num_beams=beams, cancel=cancel)
    finally:
        DecoderSession.step = original
    assert answer.cancelled
    assert steps[0] == 3, "no decode step may run after the one during which cancel was set"
    assert len(answer.token_ids) == 3
    assert answer.text == vqa.tokenizer.decode(answer.token_ids)


def test_cancel_before_start_returns_empty_cancelled_answer(vqa, images):
    cancel = threading.Event()
    cancel.set()
    answer = vqa.ask(images[0], "what?", cancel=cancel)
    assert answer.cancelled and answer.token_ids == [] and answer.text == ""


def test_metrics_are_filled(vqa, images):
    answer = vqa.ask(images[0], QUESTIONS[0], max_new_tokens=8)
    m = answer.metrics
    assert m.vision_s > 0 and m.text_encoder_s > 0 and m.total_s > 0
    assert 0 < m.ttft_s <= m.total_s
    assert m.new_tokens == len(answer.token_ids)
    assert m.tokens_per_s > 0
    assert answer.precision == "fp16" and answer.device == "CPU" and answer.task == "vqa"
