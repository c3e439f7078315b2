"""Inputs shaped like real use for timing one part of a segment model on its own (Compare, benchmarks).

The encoder takes one padded S x S picture; the decoder one click: a positive point plus the padding point
the pipeline appends when there is no box. Imports only openvino and numpy.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from model_tools.runtime.model_folder import SEGMENT_DECODER, SEGMENT_ENCODER, ConvertedModel
from model_tools.runtime.segment import PAD_LABEL, POSITIVE


def representative_inputs(
    model: ConvertedModel, precision: str, part: str, ov_core: ov.Core | None = None
) -> dict[str, np.ndarray]:
    """Inputs of one part: a picture at the model's square; the embeddings of one with a click in the middle.

    (`precision` and `ov_core` are there for the same call as the other families; the shapes come from the
    manifest.)
    """
    spec = model.spec.segment
    if spec is None:
        raise ValueError(f"{model.name} is not a segment model.")
    rng = np.random.default_rng(0)
    height, width = spec.image.size
    if part == SEGMENT_ENCODER:
        return {"pixel_values": rng.standard_normal((1, 3, height, width), dtype=np.float32)}
    if part == SEGMENT_DECODER:
        return {
            "image_embeddings": rng.standard_normal((1, *spec.embedding), dtype=np.float32),
            "input_points": np.array([[[[width / 2, height / 2], [0.0, 0.0]]]], dtype=np.float32),
            "input_labels": np.array([[[POSITIVE, PAD_LABEL]]], dtype=np.int64),
        }
    raise ValueError(f"unknown part {part}")
