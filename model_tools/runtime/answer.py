"""What every family's pipeline returns for one answer: the text, its token ids and timings.

The same object for BLIP and chat models, so the app and `model-tools ask --json` read one shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Metrics:
    """Timings of one answer, in seconds (tokens/s for throughput)."""

    load_s: float = 0.0  # reading and compiling the model (when this call loaded it)
    vision_s: float = 0.0
    text_encoder_s: float = 0.0
    ttft_s: float = 0.0  # from the call to the first decided token
    tpot_s: float = 0.0  # per output token after the first
    tokens_per_s: float = 0.0
    total_s: float = 0.0
    new_tokens: int = 0


@dataclass
class Answer:
    text: str
    token_ids: list[int]
    metrics: Metrics
    cancelled: bool = False
    truncated_question: bool = False
    precision: str = ""
    device: str = ""
    task: str = ""
    question: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
