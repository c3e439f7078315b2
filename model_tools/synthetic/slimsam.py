"""A random Segment Anything of SlimSAM-50's shapes (nielsr/slimsam-50-uniform's), built from a config.

SlimSAM-50 is SAM ViT-B pruned by half ("0.1% Data Makes Segment Anything Slim", arXiv 2312.05284). Its
checkpoint's config.json changes two numbers of transformers' `SamConfig` defaults, which are SAM ViT-B's:
the image encoder's width 768 -> 384 and its MLP 3072 -> 1536 (transformers' SAM attention is as wide as the
encoder, so the pruned attention is the narrower width: 12 heads of 32). The rest is ViT-B's: 1024 px pictures
in 16 px patches (64 x 64 tokens), 12 layers, windowed attention (14 x 14 windows) but for the global layers
2, 5, 8 and 11, relative positions, a neck to 256 channels; SAM's prompt encoder and two-layer mask decoder
(256 wide). 27,962,032 parameters (the checkpoint's 112 MB of float32; 23.9M of them the image encoder).
Its preprocessor_config.json is SAM's: longest side 1024, padded to 1024 x 1024, ImageNet mean and std.

The weights are random at a trained network's scale: matrices and convolution kernels normal with variance
1 / fan-in (each layer keeps its input's scale; with transformers' initialisation, normal 0.02, the mask logits
come out around 0.005 and the least rounding flips half the pixels, so FP16 against INT8 would measure noise),
biases, positional embeddings and relative positions normal 0.02, LayerNorms at 1 and 0, the prompt
encoder's random Fourier features normal 1 (as SAM's). The mask logits are then of order 1 and a click moves
them. Every weight is rounded to float16, so the FP16 files hold exactly the weights PyTorch runs. The same
builder with small sizes makes a tiny one for the tests. torch and transformers are imported inside the
functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = "nielsr/slimsam-50-uniform"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SMALL_STD = 0.02  # biases, positional embeddings, relative positions


@dataclass(frozen=True)
class SamShapes:
    """The sizes of a Segment Anything model (transformers' `SamConfig`)."""

    image_size: int = 1024
    patch_size: int = 16
    hidden: int = 384  # SAM ViT-B: 768
    mlp_dim: int = 1536  # SAM ViT-B: 3072
    layers: int = 12
    heads: int = 12
    global_attn: tuple[int, ...] = (2, 5, 8, 11)
    window: int = 14
    channels: int = 256  # the neck's output, the prompt encoder's and the mask decoder's width
    decoder_mlp: int = 2048
    decoder_heads: int = 8
    pos_feats: int = 128  # of the vision encoder's config (SAM's default)

    @property
    def grid(self) -> int:
        """Image embeddings per side (64 for 1024 px pictures in 16 px patches)."""
        return self.image_size // self.patch_size


SLIMSAM_50 = SamShapes()
# A tiny one of the same kind (a windowed layer whose window does not divide the grid, then a global one).
TINY_SAM = SamShapes(
    image_size=128, hidden=32, mlp_dim=64, layers=2, heads=2, global_attn=(1,), window=3, channels=32,
    decoder_mlp=64, decoder_heads=2, pos_feats=16,
)  # fmt: skip


def sam_config(shapes: SamShapes) -> Any:
    """A SamConfig of `shapes`; at `SLIMSAM_50` it holds what nielsr/slimsam-50-uniform's config.json holds."""
    from transformers import SamConfig

    return SamConfig(
        vision_config=dict(
            hidden_size=shapes.hidden,
            mlp_dim=shapes.mlp_dim,
            num_hidden_layers=shapes.layers,
            num_attention_heads=shapes.heads,
            image_size=shapes.image_size,
            patch_size=shapes.patch_size,
            output_channels=shapes.channels,
            window_size=shapes.window,
            global_attn_indexes=list(shapes.global_attn),
            num_pos_feats=shapes.pos_feats,
        ),
        prompt_encoder_config=dict(
            hidden_size=shapes.channels, image_size=shapes.image_size, patch_size=shapes.patch_size
        ),
        mask_decoder_config=dict(
            hidden_size=shapes.channels,
            mlp_dim=shapes.decoder_mlp,
            num_attention_heads=shapes.decoder_heads,
            iou_head_hidden_dim=shapes.channels,
        ),
    )


def preprocessor_config(shapes: SamShapes) -> dict[str, Any]:
    """SAM's preprocessor_config.json (as the Hub's SAM and SlimSAM checkpoints have it) for `shapes`."""
    return {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_pad": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": list(IMAGENET_MEAN),
        "image_processor_type": "SamImageProcessor",
        "image_std": list(IMAGENET_STD),
        "pad_size": {"height": shapes.image_size, "width": shapes.image_size},
        "processor_class": "SamProcessor",
        "resample": 2,
        "rescale_factor": 1 / 255,
        "size": {"longest_edge": shapes.image_size},
    }


def make_sam(folder: Path, shapes: SamShapes = SLIMSAM_50, *, seed: int = 0) -> Path:
    """Save a random `SamModel` of `shapes` (safetensors) with SAM's preprocessor_config.json in `folder`."""
    import torch
    from transformers import SamModel

    torch.manual_seed(seed)
    model = SamModel(sam_config(shapes)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:  # LayerNorms as initialised: 1 and 0
                continue
            if name.endswith("shared_image_embedding.positional_embedding"):
                std = 1.0  # SAM's random Fourier features
            elif name.endswith(("pos_embed", "rel_pos_h", "rel_pos_w")) or param.dim() < 2:
                std = SMALL_STD
            else:  # a matrix or a kernel: [out, in, ...]
                std = 1 / math.sqrt(param[0].numel())
            param.copy_(torch.randn(param.shape, generator=gen) * std)
            param.copy_(param.to(torch.float16).to(torch.float32))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors
    text = json.dumps(preprocessor_config(shapes), indent=2)
    (folder / "preprocessor_config.json").write_text(text + "\n", encoding="utf-8")
    return folder


def parameters(shapes: SamShapes = SLIMSAM_50) -> dict[str, int]:
    """Parameters of a SamModel of `shapes`, counted without memory (on torch's meta device): the image
    encoder's, the prompt encoder's and mask decoder's (with the shared positional embedding), the total."""
    import torch
    from transformers import SamModel

    with torch.device("meta"):
        model = SamModel(sam_config(shapes))
    total = sum(p.numel() for p in model.parameters())
    encoder = sum(p.numel() for p in model.vision_encoder.parameters())
    return {"image_encoder": encoder, "prompt_decoder": total - encoder, "total": total}
