"""Training the demo model end to end, a few steps only: the saved folders load and answer."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from model_tools.demo.train import (  # noqa: E402
    Batches,
    TextIds,
    TrainingCancelled,
    demo_config,
    demo_vocab,
    lr_factor,
    preprocess,
    train,
    vqa_loss,
)
from model_tools.synthetic import shapes as S  # noqa: E402
from model_tools.synthetic.tiny_blip import save_tokenizer  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = train(out, steps=3, batch=8, log=lines.append, eval_pictures=4, final_eval_pictures=4)
    return result, lines


def test_train_saves_folders_that_transformers_loads_and_that_answer(trained):
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoTokenizer,
        BlipForConditionalGeneration,
        BlipForQuestionAnswering,
    )

    out, lines = trained
    assert sorted(p.name for p in out.iterdir()) == ["caption", "train_report.json", "vqa"]
    image = S.render(S.random_scene(np.random.default_rng(0)))
    for name, cls in (("vqa", BlipForQuestionAnswering), ("caption", BlipForConditionalGeneration)):
        folder = out / name
        for file in (
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "vocab.txt",
            "preprocessor_config.json",
        ):
            assert (folder / file).is_file(), file
        model = cls.from_pretrained(folder).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        processor = AutoImageProcessor.from_pretrained(folder)
        config = model.config
        assert config.vision_config.image_size == 96 and config.vision_config.patch_size == 16
        assert config.text_config.bos_token_id == tokenizer.convert_tokens_to_ids("[DEC]")
        assert config.text_config.sep_token_id == tokenizer.sep_token_id
        pixel_values = processor(image, return_tensors="pt").pixel_values
        assert pixel_values.shape == (1, 3, 96, 96)
        assert np.allclose(pixel_values[0].numpy(), preprocess(image), atol=1e-5)
        with torch.no_grad():
            if name == "vqa":
                ids = tokenizer("what color is the circle?", return_tensors="pt").input_ids
                assert tokenizer.unk_token_id not in ids
                tokens = model.generate(input_ids=ids, pixel_values=pixel_values, max_new_tokens=4)
            else:
                tokens = model.generate(pixel_values=pixel_values, max_new_tokens=8)
        assert tokens[0, 0].item() == config.text_config.bos_token_id
        assert isinstance(tokenizer.decode(tokens[0], skip_special_tokens=True), str)
    vqa_params = sum(p.numel() for p in BlipForQuestionAnswering.from_pretrained(out / "vqa").parameters())
    assert 1.6e6 < vqa_params < 2.0e6


def test_train_logs_evaluations_and_writes_a_report(trained):
    out, lines = trained
    assert any(line.startswith("vqa eval step 3/3") and "overall" in line for line in lines)
    assert any(line.startswith("caption eval") and "captions" in line for line in lines)
    report = json.loads((out / "train_report.json").read_text())
    assert report["vqa"]["steps"] == 3 and report["caption"]["steps"] == 1
    assert set(report["vqa"]["final"]["accuracy"]) == {"color", "shape", "count", "yesno", "overall"}
    assert "caption_rate" in report["caption"]["final"]
    assert report["vqa"]["seconds"] > 0


def test_training_batches_start_answers_with_dec_and_match_the_model_forward(tmp_path):
    import torch
    from transformers import BlipForQuestionAnswering

    vocab = demo_vocab()
    save_tokenizer(vocab, tmp_path)
    text = TextIds(tmp_path / "tokenizer.json")
    batches = Batches("vqa", seed=0, batch=6, steps=2, text=text)
    first = batches[0]
    assert all(np.array_equal(first[k], batches[0][k]) for k in first)  # seeded per batch index
    dec, sep = vocab.index("[DEC]"), vocab.index("[SEP]")
    assert (first["decoder_input_ids"][:, 0] == dec).all()
    assert (first["labels"][:, -1] == sep).all() and (first["labels"][:, 0] == dec).all()
    assert first["pixel_values"].shape == (3, 3, 96, 96) and list(first["picture_of"]) == [0, 0, 1, 1, 2, 2]
    caption = Batches("caption", seed=0, batch=4, steps=1, text=text)[0]
    assert (caption["input_ids"][:, 0] == dec).all()
    assert ((caption["labels"] == -100) == (caption["attention_mask"] == 0)).all()

    torch.manual_seed(0)
    model = BlipForQuestionAnswering(demo_config(vocab))
    batch = {k: torch.from_numpy(v) for k, v in first.items()}
    full = {k: v for k, v in batch.items() if k != "picture_of"}
    full["pixel_values"] = batch["pixel_values"][batch["picture_of"]]
    assert torch.allclose(vqa_loss(model, batch), model(**full).loss, atol=1e-5)


def test_learning_rate_warms_up_then_decays():
    assert lr_factor(0, 0.0, warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 0.0, warmup=10) == pytest.approx(1.0)
    assert lr_factor(10, 0.0, warmup=10) == pytest.approx(1.0)
    assert lr_factor(50, 0.5, warmup=10) == pytest.approx(0.51)
    assert lr_factor(99, 1.0, warmup=10) == pytest.approx(0.02)


def test_cancel_stops_before_writing_anything(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        train(
            tmp_path,
            steps=3,
            batch=4,
            log=lambda _: None,
            cancel=cancel,
            eval_pictures=2,
            final_eval_pictures=0,
        )
    assert not (tmp_path / "vqa").exists() and not (tmp_path / "caption").exists()
