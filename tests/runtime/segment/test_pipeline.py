"""The segment pipeline: a picture encoded once, masks at the picture's size for each prompt, matching what
transformers' `SamProcessor` + `SamModel` + `post_process_masks` give (>= 99% of pixels, IoU within 1e-2),
and a damaged folder refused naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from model_tools.runtime import CorruptModelError, load
from model_tools.runtime.model_folder import ConvertedModel
from model_tools.runtime.segment import part_inputs
from model_tools.runtime.segment.pipeline import SegmentPipeline, preprocess, upsample_masks
from model_tools.runtime.segment.pipeline import load as load_segment

AGREE = 0.99
ATOL = 1e-2


class Reference:
    """transformers' processor and SamModel on the tiny checkpoint: masks post-processed to the picture."""

    def __init__(self, folder) -> None:
        import torch
        from transformers import SamModel, SamProcessor

        self.torch = torch
        self.model = SamModel.from_pretrained(folder, use_safetensors=True).eval()
        self.processor = SamProcessor.from_pretrained(folder)

    def inputs(self, picture, points=None, labels=None, box=None):
        kwargs = {}
        if points is not None:
            kwargs |= {"input_points": [[points]], "input_labels": [[labels]]}
        if box is not None:
            kwargs["input_boxes"] = [[box]]
        return self.processor(images=picture, return_tensors="pt", **kwargs)

    def segment(self, picture, points=None, labels=None, box=None):
        """(masks bool [3, H, W], iou [3])."""
        inputs = self.inputs(picture, points, labels, box)
        names = ("pixel_values", "input_points", "input_labels", "input_boxes")
        with self.torch.no_grad():
            out = self.model(**{k: v for k, v in inputs.items() if k in names}, multimask_output=True)
        masks = self.processor.post_process_masks(out.pred_masks, inputs["original_sizes"],
                                                  inputs["reshaped_input_sizes"])
        return masks[0][0].numpy(), out.iou_scores[0, 0].numpy()


@pytest.fixture(scope="module")
def reference(tiny_sam_hf):
    return Reference(tiny_sam_hf)


@pytest.fixture(scope="module")
def pipe(tiny_sam_model) -> SegmentPipeline:
    return load_segment(tiny_sam_model, exact=True)


@pytest.fixture(scope="module")
def pictures():
    """A landscape and a portrait picture, neither the model's square, with some structure."""
    rng = np.random.default_rng(3)
    out = []
    for height, width in ((90, 150), (200, 120)):
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) % 64 * 4], axis=-1)
        noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype("uint8")
        out.append(Image.fromarray(noisy))
    return out


def test_preprocessing_matches_the_processor(pipe, reference, pictures):
    for picture in pictures:
        pixels, resized = preprocess(picture, pipe.spec)
        inputs = reference.inputs(picture)
        assert resized == tuple(inputs["reshaped_input_sizes"][0].tolist())
        assert np.abs(pixels - inputs["pixel_values"].numpy()).max() < 1e-5


@pytest.mark.parametrize(
    "points, labels, box",
    [
        ([(40, 30)], [1], None),
        ([(40, 30), (120, 70)], [1, 0], None),
        (None, None, (20, 10, 110, 80)),
        ([(60, 40)], [1], (20, 10, 110, 80)),
    ],
)
def test_masks_match_pytorch_post_processed(pipe, reference, pictures, points, labels, box):
    for picture in pictures:
        scale = (picture.width / 150, picture.height / 90)  # the same places on the portrait picture
        pts = None if points is None else [(x * scale[0], y * scale[1]) for x, y in points]
        bx = None if box is None else (box[0] * scale[0], box[1] * scale[1], box[2] * scale[0], box[3] * scale[1])
        embedding = pipe.encode(picture)
        assert embedding.original_size == (picture.height, picture.width)
        got = pipe.segment(embedding, points=pts or (), labels=labels, box=bx)
        want_masks, want_iou = reference.segment(picture, [list(p) for p in pts] if pts else None, labels,
                                                 list(bx) if bx else None)
        assert got.masks.shape == (3, picture.height, picture.width) and got.masks.dtype == bool
        assert got.iou.shape == (3,) and 0 <= got.best < 3 and got.best == int(np.argmax(want_iou))
        assert np.abs(got.iou - want_iou).max() < ATOL
        agree = (got.masks == want_masks).mean(axis=(1, 2))
        assert agree.min() >= AGREE, agree
        assert 0.01 < want_masks.mean() < 0.99, "the reference masks are neither empty nor full"
        assert got.decoder_ms > 0 and embedding.encoder_ms > 0


def test_prompts_change_the_masks(pipe, pictures):
    embedding = pipe.encode(pictures[0])
    positive = pipe.segment(embedding, [(40, 30)], [1])
    negative = pipe.segment(embedding, [(40, 30)], [0])
    two = pipe.segment(embedding, [(40, 30), (120, 70)], [1, 0])
    boxed = pipe.segment(embedding, [(40, 30)], [1], box=(20, 10, 110, 80))
    for other in (negative, two, boxed):
        assert (other.masks != positive.masks).mean() > 0.01
        assert np.abs(other.iou - positive.iou).max() > 1e-3
    again = pipe.segment(embedding, [(40, 30)], [1])
    assert np.array_equal(again.masks, positive.masks), "the same prompt gives the same masks"


def test_upsampling_matches_torch_interpolate():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 32, 32)).astype(np.float32)
    for resized, original in (((77, 128), (90, 150)), ((128, 64), (401, 200)), ((128, 128), (50, 50))):
        square = F.interpolate(torch.from_numpy(logits)[None], (128, 128), mode="bilinear", align_corners=False)
        cropped = square[..., : resized[0], : resized[1]]
        want = F.interpolate(cropped, original, mode="bilinear", align_corners=False)[0].numpy()
        got = upsample_masks(logits, (128, 128), resized, original)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-5


def test_bad_prompts_are_refused(pipe, pictures):
    embedding = pipe.encode(pictures[0])
    with pytest.raises(ValueError, match="at least one point or a box"):
        pipe.segment(embedding)
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        pipe.segment(embedding, [(1, 2), (3, 4)], [1])
    with pytest.raises(ValueError, match="label is 1"):
        pipe.segment(embedding, [(1, 2)], [2])
    with pytest.raises(ValueError, match="finite"):
        pipe.segment(embedding, [(float("nan"), 2)])
    with pytest.raises(ValueError, match=r"\(x1, y1, x2, y2\)"):
        pipe.segment(embedding, box=(1, 2, 3))


def test_runtime_load_picks_the_segment_pipeline(tiny_sam_model):
    pipe = load(tiny_sam_model, hints={"*": "f32"})
    assert isinstance(pipe, SegmentPipeline) and pipe.task == "segment"
    assert pipe.sources == {"image_encoder": "fp16", "prompt_decoder": "fp16"} and pipe.setup_label.startswith("FP16")


def test_representative_inputs_run_each_part(tiny_sam_model, pipe):
    model = ConvertedModel.open(tiny_sam_model)
    for part, compiled in pipe.parts.items():
        outputs = compiled(part_inputs.representative_inputs(model, "fp16", part))
        assert all(np.isfinite(v).all() for v in outputs.values())


@pytest.fixture
def sam_copy(tiny_sam_model, tmp_path):
    return shutil.copytree(tiny_sam_model, tmp_path / "copy")


def test_an_altered_file_is_named(sam_copy):
    load_segment(sam_copy, exact=True)  # verified once: the checksum stamp is remembered
    path = sam_copy / "fp16" / "openvino_image_encoder.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="fp16/openvino_image_encoder.bin does not match its checksum"):
        load(sam_copy)


def test_a_missing_file_is_named(sam_copy):
    (sam_copy / "fp16" / "openvino_prompt_decoder.xml").unlink()
    with pytest.raises(CorruptModelError, match="is missing fp16/openvino_prompt_decoder.xml"):
        load(sam_copy)
