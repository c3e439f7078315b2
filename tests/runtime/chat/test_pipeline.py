"""The chat pipeline on the tiny LLaVA: token-exact with transformers, streaming, stop, new and restored
conversations."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model_tools.runtime import GlimpseError, load
from model_tools.runtime.answer import Answer
from model_tools.runtime.chat.pipeline import ChatPipeline, Turn

Q1, Q2, Q3 = "what is in the picture?", "what color is the shape?", "how many shapes are there?"
TOKENS = 12


@pytest.fixture(scope="module")
def pipe(tiny_chat_model) -> ChatPipeline:
    pipe = load(tiny_chat_model, exact=True)
    assert isinstance(pipe, ChatPipeline)
    return pipe


@pytest.fixture
def fresh(pipe) -> ChatPipeline:
    pipe.reset()
    return pipe


def test_load_dispatches_to_the_chat_family_with_the_exact_policy(fresh):
    assert fresh.task == "chat" and fresh.model_type == "llava"
    assert fresh.exact and set(fresh.hints.values()) == {"f32"}
    assert fresh.setup_label == "FP16 · exact · f32"
    assert fresh.history == ()


def test_first_turn_is_token_exact_with_transformers(fresh, reference, images):
    answer = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)
    assert isinstance(answer, Answer) and answer.task == "chat" and answer.question == Q1
    assert answer.token_ids == reference.generate([("user", Q1, [images[0]])], TOKENS)
    assert answer.metrics.new_tokens == len(answer.token_ids) and answer.metrics.ttft_s > 0
    assert answer.metrics.load_s >= 0 and answer.metrics.total_s >= answer.metrics.ttft_s
    assert set(answer.to_dict()) >= {"text", "token_ids", "metrics"}


def test_second_turn_sees_the_first_one(fresh, reference, images):
    first = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)
    second = fresh.ask(None, Q2, max_new_tokens=TOKENS)
    history = [("user", Q1, [images[0]]), ("assistant", first.text, []), ("user", Q2, [])]
    assert second.token_ids == reference.generate(history, TOKENS)
    assert second.token_ids != reference.generate([("user", Q2, [])], TOKENS)  # the history mattered
    assert [(t.role, t.text, t.pictures) for t in fresh.history] == [
        ("user", Q1, (images[0],)), ("assistant", first.text, ()), ("user", Q2, ()), ("assistant", second.text, ())
    ]


def test_several_pictures_in_a_turn_and_a_new_picture_later(fresh, reference, images):
    pictures = images[:2]
    both = fresh.ask(pictures, Q1, max_new_tokens=TOKENS)
    assert both.token_ids == reference.generate([("user", Q1, pictures)], TOKENS)
    fresh.reset()
    first = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)
    second = fresh.ask(np.asarray(images[2]), Q2, max_new_tokens=TOKENS)  # an array is a picture too
    history = [("user", Q1, [images[0]]), ("assistant", first.text, []), ("user", Q2, [images[2]])]
    assert second.token_ids == reference.generate(history, TOKENS)


def test_streamed_chunks_make_the_answer(fresh, images):
    chunks: list[str] = []
    answer = fresh.ask(images[1], Q1, max_new_tokens=30, on_text=chunks.append)
    assert len(chunks) > 1 and "".join(chunks) == answer.text
    assert answer.text and not answer.cancelled and len(answer.token_ids) == 30


class _StopAfter(threading.Event):
    """An Esc pressed while the pipeline looks at it for the n-th time: it looks once before it starts, then
    once per token, so `_StopAfter(3)` is pressed while the 2nd token is decided."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.looks = n, 0

    def is_set(self) -> bool:
        self.looks += 1
        if self.looks >= self.n:
            self.set()
        return super().is_set()


def test_cancel_stops_within_a_token_and_keeps_the_partial_answer(fresh, images):
    full = fresh.ask(images[0], Q1, max_new_tokens=30)
    fresh.reset()
    chunks: list[str] = []
    answer = fresh.ask(images[0], Q1, max_new_tokens=30, on_text=chunks.append, cancel=_StopAfter(3))
    assert answer.cancelled and 2 <= len(answer.token_ids) <= 3
    assert answer.token_ids == full.token_ids[: len(answer.token_ids)]
    assert "".join(chunks) == answer.text
    assert [(t.role, t.text) for t in fresh.history] == [("user", Q1), ("assistant", answer.text)]
    follow = fresh.ask(None, Q2, max_new_tokens=4)  # the conversation goes on after a stop
    assert len(follow.token_ids) == 4 and len(fresh.history) == 4


def test_esc_from_the_text_callback_stops_the_answer(fresh, images):
    full = fresh.ask(images[0], Q1, max_new_tokens=30)
    fresh.reset()
    cancel, chunks = threading.Event(), []

    def on_text(chunk: str) -> None:
        chunks.append(chunk)
        if len(chunks) == 2:
            cancel.set()

    answer = fresh.ask(images[0], Q1, max_new_tokens=30, on_text=on_text, cancel=cancel)
    assert answer.cancelled and 2 <= len(answer.token_ids) < len(full.token_ids)
    assert "".join(chunks) == answer.text and fresh.history[-1].text == answer.text


def test_cancel_without_keeping_forgets_the_turn(fresh, reference, images):
    first = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)
    dropped = fresh.ask(None, Q3, max_new_tokens=30, cancel=_StopAfter(3), keep_partial=False)
    assert dropped.cancelled and 2 <= len(dropped.token_ids) <= 3
    assert len(fresh.history) == 2
    second = fresh.ask(None, Q2, max_new_tokens=TOKENS)
    history = [("user", Q1, [images[0]]), ("assistant", first.text, []), ("user", Q2, [])]
    assert second.token_ids == reference.generate(history, TOKENS)


def test_a_cancel_set_before_the_call_answers_nothing(fresh, images):
    cancel = threading.Event()
    cancel.set()
    answer = fresh.ask(images[0], Q1, cancel=cancel)
    assert answer.cancelled and answer.token_ids == [] and fresh.history == ()


def test_reset_forgets_the_conversation(fresh, reference, images):
    first = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)
    fresh.reset()
    assert fresh.history == ()
    again = fresh.ask(images[0], Q1, max_new_tokens=TOKENS)  # the very same first turn, a new conversation
    assert again.token_ids == first.token_ids
    fresh.ask(None, Q2, max_new_tokens=TOKENS)
    fresh.reset()
    alone = fresh.ask(None, Q2, max_new_tokens=TOKENS)
    assert alone.token_ids == reference.generate([("user", Q2, [])], TOKENS)
    assert len(fresh.history) == 2


def test_a_saved_conversation_continues_where_it_stopped(fresh, tiny_chat_model, images, tmp_path):
    picture = tmp_path / "picture.png"
    images[0].save(picture)
    fresh.ask(str(picture), Q1, max_new_tokens=TOKENS)
    fresh.ask(images[1], Q2, max_new_tokens=TOKENS)
    saved = [turn.to_dict() if not turn.pictures or isinstance(turn.pictures[0], str) else None
             for turn in fresh.history]
    assert saved[0] == {"role": "user", "text": Q1, "pictures": [str(picture)]}
    with pytest.raises(ValueError, match="not a file"):
        fresh.history[2].to_dict()  # a picture given as data has no path to save
    turns = list(fresh.history)
    expected = fresh.ask(None, Q3, max_new_tokens=TOKENS)

    other = load(tiny_chat_model, exact=True)
    other.restore([Turn.from_dict(saved[0]), *turns[1:]])
    assert other.history[0].pictures == (str(picture),)
    assert other.ask(None, Q3, max_new_tokens=TOKENS).token_ids == expected.token_ids


def test_a_message_needs_words_or_a_picture(fresh, images):
    with pytest.raises(GlimpseError, match="nothing to answer"):
        fresh.ask(None, "  \n ")
    answer = fresh.ask(images[0], "", max_new_tokens=3)
    assert answer.question == "Describe this picture." and len(answer.token_ids) == 3


def test_text_is_told_in_whole_characters_and_bytes_that_are_not_utf8_do_not_abort(tiny_chat_hf, tiny_chat_model):
    """A character split across byte tokens comes out whole; a byte that starts no character becomes U+FFFD
    (genai's own TextStreamer hands such bytes to Python, whose str conversion then aborts the process)."""
    import openvino_genai as og
    from transformers import AutoTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from model_tools.runtime.chat.pipeline import AnswerText

    hf = AutoTokenizer.from_pretrained(tiny_chat_hf)
    byte = {b: hf.convert_tokens_to_ids(c) for b, c in bytes_to_unicode().items()}
    ov_tokenizer = og.Tokenizer(str(tiny_chat_model / "fp16"))
    pieces: list[str] = []
    text = AnswerText(ov_tokenizer, pieces.append)
    e_acute = [byte[b] for b in "é".encode()]  # two byte tokens
    ascii_ = [byte[b] for b in b"ok"]
    text.add(ascii_[:1])
    text.add(e_acute[:1])  # half a character: held back
    assert pieces == ["o"]
    text.add(e_acute[1:])
    assert pieces == ["o", "é"]
    text.add([byte[0xED]])  # a lead byte whose character never comes
    for t in ascii_ * 2:
        text.add([t])
    text.end()
    assert text.text == "".join(pieces)
    assert text.text.startswith("oé") and "\ufffd" in text.text and text.text.endswith("okok"[-2:])
