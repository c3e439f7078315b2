"""`model-tools eval --family chat`: the demo chat model in the app's runtime, scored turn by turn.

Each fresh conversation (`synthetic.conversations`, a seed never trained on) is held with the converted
model through `ChatPipeline` as the window holds it: the pictures go with their turn, the model's own
answers stay in the history, greedy decoding. A turn is right when its answer states the turn's facts and
contradicts none (`conversations.score_turn`): reported for all turns, per question kind, and for the
follow-up turns (those that need the earlier turn) separately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_tools.synthetic.conversations import conversations, score_turn
from model_tools.synthetic.shapes import render

EVAL_SEED = 515151
PICTURE_SIZE = 192
MAX_NEW_TOKENS = 40
EXAMPLES = 12


def evaluate_chat(
    model_dir: str | Path,
    n: int = 300,
    precision: str = "fp16",
    *,
    device: str = "CPU",
    seed: int = EVAL_SEED,
    exact: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Hold `n` fresh conversations with the model in `model_dir`; turns right overall, by kind, follow-ups."""
    from model_tools.runtime import load
    from model_tools.runtime.chat.pipeline import ChatPipeline

    pipe = load(model_dir, precision, device, exact=exact)
    if not isinstance(pipe, ChatPipeline):
        raise ValueError(f"{model_dir} is not a chat model.")
    right: dict[str, list[bool]] = defaultdict(list)
    wrong: list[dict[str, Any]] = []
    for i, chat in enumerate(conversations(n, seed)):
        pictures = [render(scene, size=PICTURE_SIZE) for scene in chat.scenes]
        pipe.reset()
        for turn in chat.turns:
            answer = pipe.ask([pictures[k] for k in turn.pictures], turn.question, max_new_tokens=MAX_NEW_TOKENS)
            ok = score_turn(answer.text, turn)
            right["all"].append(ok)
            right[turn.kind].append(ok)
            if turn.followup:
                right["followup"].append(ok)
            if not ok and len(wrong) < EXAMPLES:
                wrong.append({"conversation": i, "question": turn.question, "expected": turn.answer,
                              "answer": answer.text.strip()})
        if log and (i + 1) % 50 == 0:
            log(f"{i + 1}/{n} conversations: {_percent(right['all'])}% of turns right")
    return {
        "model": str(model_dir),
        "precision": precision,
        "setup": pipe.setup_label,
        "conversations": n,
        "turns": len(right["all"]),
        "seed": seed,
        "right_percent": _percent(right["all"]),
        "followup_percent": _percent(right["followup"]),
        "by_kind": {k: {"turns": len(v), "right_percent": _percent(v)}
                    for k, v in sorted(right.items()) if k not in ("all", "followup")},
        "wrong_examples": wrong,
    }


def _percent(values: list[bool]) -> float:
    return round(100 * sum(values) / len(values), 1) if values else 0.0


def format_chat_result(result: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v['right_percent']}%" for k, v in result["by_kind"].items())
    return (f"{result['precision'].upper()}: {result['right_percent']}% of {result['turns']} turns right, "
            f"follow-ups {result['followup_percent']}% ({kinds})")
