"""Our OpenVINO runtime picks exactly the tokens transformers' PyTorch `generate` picks."""

from __future__ import annotations

import pytest
from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipProcessor

from model_tools.runtime import load
from tests.conftest import QUESTIONS

F32 = {"*": "f32"}  # the reference runs in f32; bf16 would round differently


@pytest.fixture(scope="module")
def torch_vqa(tiny_hf):
    return BlipProcessor.from_pretrained(tiny_hf["vqa"]), BlipForQuestionAnswering.from_pretrained(tiny_hf["vqa"]).eval()


@pytest.fixture(scope="module")
def torch_caption(tiny_hf):
    folder = tiny_hf["caption"]
    return BlipProcessor.from_pretrained(folder), BlipForConditionalGeneration.from_pretrained(folder).eval()


@pytest.mark.parametrize("beams", [1, 3])
def test_vqa_tokens_match_pytorch(tiny_models, torch_vqa, images, beams):
    processor, model = torch_vqa
    pipe = load(tiny_models["vqa"], hints=F32)
    answers = set()
    for image in images:
        for question in QUESTIONS:
            inputs = processor(images=image, text=question, return_tensors="pt")
            expected = model.generate(**inputs, max_new_tokens=10, num_beams=beams)[0, 1:].tolist()
            answer = pipe.ask(image, question, max_new_tokens=10, num_beams=beams)
            assert answer.token_ids == expected, (question, beams)
            assert answer.text == processor.decode(expected, skip_special_tokens=True)
            answers.add(answer.text)
    assert len(answers) >= 3, "the tiny model should give varied answers, or this test proves little"


@pytest.mark.parametrize("beams", [1, 4])
def test_caption_tokens_match_pytorch(tiny_models, torch_caption, images, beams):
    processor, model = torch_caption
    pipe = load(tiny_models["caption"], hints=F32)
    for image in images:
        inputs = processor(images=image, return_tensors="pt")
        expected = model.generate(**inputs, max_new_tokens=12, num_beams=beams)[0, 1:].tolist()
        answer = pipe.caption(image, max_new_tokens=12, num_beams=beams)
        assert answer.token_ids == expected


def test_caption_with_prompt_matches_pytorch(tiny_models, torch_caption, images):
    processor, model = torch_caption
    pipe = load(tiny_models["caption"], hints=F32)
    prompt = "a picture of"
    for image in images:
        inputs = processor(images=image, text=prompt, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=8)[0].tolist()
        prompt_len = inputs["input_ids"].shape[1] - 1  # [DEC] + prompt words; BLIP drops the closing [SEP]
        answer = pipe.caption(image, prompt=prompt, max_new_tokens=8)
        assert answer.token_ids == out[prompt_len:]
        assert answer.text == processor.decode(out, skip_special_tokens=True)


def test_max_new_tokens_is_respected(tiny_models, images):
    pipe = load(tiny_models["vqa"], hints=F32)
    for n in (1, 2, 5):
        assert len(pipe.ask(images[0], "what?", max_new_tokens=n).token_ids) <= n
