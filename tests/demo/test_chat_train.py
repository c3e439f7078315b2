"""The chat demo's training pieces: conversations as token ids, the hand-made forward equal to LLaVA's, patch
labels where the shapes are, a few resumable training steps, and the chat template read alike by transformers
and openvino-genai (the earlier answers trimmed, so the history reads as it was trained)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

pytest.importorskip("torch")

from model_tools.demo import chat_model as M  # noqa: E402
from model_tools.demo.chat_train import ChatBatches, HeldOut, check, collate, losses, train_chat  # noqa: E402
from model_tools.demo.train import TrainingCancelled  # noqa: E402
from model_tools.synthetic.conversations import conversations  # noqa: E402
from model_tools.synthetic.shapes import Scene, Shape  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return M.make_tokenizer()


def test_the_tokenizer_is_the_same_every_time_and_knows_the_image_token(tokenizer):
    again = M.make_tokenizer()
    assert again.get_vocab() == tokenizer.get_vocab()
    assert len(tokenizer.tokenize("<image>")) == 1
    text = "How many triangles are there? There are two triangles."
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= 12  # words are whole tokens


def test_labels_cover_each_answer_and_its_end_only(tokenizer):
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    for chat in conversations(40, seed=3):
        enc = M.encode(chat, tokenizer)
        pictures = sum(len(t.pictures) for t in chat.turns)
        assert enc.input_ids.count(image_id) == pictures * M.IMAGE_TOKENS
        assert len(enc.answer_spans) == len(chat.turns)
        labelled = [i for i, label in enumerate(enc.labels) if label != -100]
        assert labelled == [i for a, b in enc.answer_spans for i in range(a, b)]
        for turn, (a, b) in zip(chat.turns, enc.answer_spans, strict=True):
            assert tokenizer.decode(enc.input_ids[a:b]).strip() == turn.answer + "</s>"


def test_the_hand_made_forward_is_llavas(tokenizer):
    import torch

    model = M.make_model(tokenizer).eval()
    head = torch.nn.Linear(M.MODEL["vision_hidden"], M.PATCH_CLASSES)
    batch = {k: torch.as_tensor(v) for k, v in collate(conversations(4, seed=5), tokenizer).items()}
    with torch.no_grad():
        logits, patch_logits, _ = M.forward(model, head, batch)
        reference = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                          pixel_values=batch["pixel_values"]).logits
    assert torch.allclose(logits, reference, atol=1e-5)
    assert patch_logits.shape == (batch["pixel_values"].shape[0], M.IMAGE_TOKENS, M.PATCH_CLASSES)


def test_patch_labels_mark_the_shapes_where_they_are():
    red_circle = Shape("circle", "red", cx=0.25, cy=0.25, size=0.4)
    blue_square = Shape("square", "blue", cx=0.75, cy=0.75, size=0.3)
    labels = M.patch_labels(Scene((red_circle, blue_square))).reshape(M.GRID, M.GRID)
    red = 1 + 0 * 3 + 0  # colours (red, green, blue, yellow) x kinds (circle, square, triangle)
    blue_sq = 1 + 2 * 3 + 1
    assert labels[1, 1] == red and labels[4, 4] == blue_sq
    assert labels[0, 5] == 0 and labels[5, 0] == 0  # the empty corners
    assert set(np.unique(labels)) == {0, red, blue_sq}


def test_batches_are_reproducible_and_the_losses_fall(tokenizer):
    import torch

    a, b = ChatBatches(tokenizer, 0, 8, 10, 0.1)[3], ChatBatches(tokenizer, 0, 8, 10, 0.1)[3]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    model = M.make_model(tokenizer)
    head = torch.nn.Linear(M.MODEL["vision_hidden"], M.PATCH_CLASSES)
    optim = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=3e-3)
    batch = {k: torch.as_tensor(v) for k, v in a.items()}
    first = None
    for _ in range(25):  # one batch, learnt by heart: both losses must fall
        text, aux, _ = losses(model, head, batch)
        first = first or (float(text.detach()), float(aux.detach()))
        optim.zero_grad()
        (text + aux).backward()
        optim.step()
    assert float(text.detach()) < 0.5 * first[0] and float(aux.detach()) < 0.7 * first[1]


def test_training_resumes_from_its_checkpoint(tmp_path):
    logs: list[str] = []
    hf = train_chat(tmp_path, steps=3, batch=4, eval_every=3, heldout=8, workers=0, log=logs.append)
    report = json.loads((tmp_path / "train_report.json").read_text())
    assert report["steps"] == 3 and report["curve"][-1]["step"] == 3
    assert (hf / "model.safetensors").is_file() and (hf / "processor_config.json").is_file()
    logs.clear()
    train_chat(tmp_path, steps=5, batch=4, eval_every=5, heldout=8, workers=0, log=logs.append)
    assert any("resuming at step 3" in line for line in logs)
    report = json.loads((tmp_path / "train_report.json").read_text())
    assert report["steps"] == 5 and [c["step"] for c in report["curve"]] == [3, 5]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        train_chat(tmp_path, steps=8, batch=4, heldout=8, workers=0, log=logs.append, cancel=cancel)


def test_the_held_out_check_reads_every_turn(tokenizer):
    import torch

    model = M.make_model(tokenizer)
    head = torch.nn.Linear(M.MODEL["vision_hidden"], M.PATCH_CLASSES)
    held = HeldOut(tokenizer, 16)
    result = check(model, head, tokenizer, held)
    assert set(result) >= {"all", "patches"} and 0 <= result["all"] <= 100
    assert result["all"] < 50  # an untrained model does not say the answers


def test_genai_reads_the_history_as_transformers_does(tmp_path, tokenizer):
    """The trimmed template: an answer that comes back with the detokenizer's leading space reads as trained."""
    import openvino_genai as og

    from model_tools.convert.chat import write_tokenizers

    write_tokenizers(tokenizer, tmp_path)
    ov_tokenizer = og.Tokenizer(str(tmp_path))
    history = [{"role": "user", "content": "<image>\nWhat color is the circle?"},
               {"role": "assistant", "content": " The circle is red."},
               {"role": "user", "content": "How many shapes are there?"}]
    theirs = ov_tokenizer.apply_chat_template(og.ChatHistory(history), add_generation_prompt=True)
    ours = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    assert theirs == ours
    assert "ASSISTANT: The circle is red.</s>\nUSER: How many" in ours
