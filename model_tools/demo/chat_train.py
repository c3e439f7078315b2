"""Train the demo chat model (`model-tools demo train --family chat --out DIR`): resumable, with a report.

Every batch is a set of freshly generated conversations (`synthetic.conversations`), drawn from a generator
seeded by (seed, step), so a resumed run sees the batches a straight one would. The loss is the language
loss on the answers plus `AUX_WEIGHT` times the vision tower's patch loss (`chat_model.patch_labels`).
AdamW, linear warm-up then cosine decay over the steps or the time budget, whichever ends first.

    DIR/checkpoint.pt        model, patch head, optimizer, step, curve (every `save_every` steps; resumes)
    DIR/hf/                  the trained Hugging Face folder (safetensors, tokenizer, processor, template)
    DIR/train_report.json    sizes, loss curve, held-out answers right (teacher-forced), minutes

The held-out check is cheap: a turn counts as right when every answer token is the model's first choice
given the conversation so far (then greedy decoding says exactly that answer). The real evaluation runs the
converted model through the app's runtime (`chat_evaluate`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.demo.chat_model import (
    IMAGE_SIZE,
    MODEL,
    PATCH_CLASSES,
    encode,
    forward,
    make_model,
    make_tokenizer,
    patch_labels,
)
from model_tools.demo.train import TrainingCancelled, lr_factor, preprocess
from model_tools.synthetic.conversations import Conversation, conversations, random_conversation
from model_tools.synthetic.shapes import render

AUX_WEIGHT = 0.5
HELDOUT_SEED = 424242
RENDER_SIZES = (96, 128, 192, 256)
Log = Callable[[str], None]


class ChatBatches:
    """Map-style dataset: item i is training batch i (conversations drawn from a generator seeded (seed, i))."""

    def __init__(self, tokenizer: Any, seed: int, batch: int, steps: int, two_pictures: float) -> None:
        self.tokenizer, self.seed, self.batch, self.steps, self.two = tokenizer, seed, batch, steps, two_pictures

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 3, index])
        chats = [random_conversation(rng, two_pictures=self.two) for _ in range(self.batch)]
        return collate(chats, self.tokenizer, rng)


def collate(chats: list[Conversation], tokenizer: Any, rng: np.random.Generator | None = None) -> dict[str, Any]:
    """A padded batch (right padding) of conversations with their pictures in order and patch labels."""
    encoded = [encode(c, tokenizer) for c in chats]
    width = max(len(e.input_ids) for e in encoded)
    ids = np.full((len(chats), width), tokenizer.pad_token_id, dtype=np.int64)
    labels = np.full((len(chats), width), -100, dtype=np.int64)
    mask = np.zeros((len(chats), width), dtype=np.int64)
    for i, e in enumerate(encoded):
        ids[i, : len(e.input_ids)] = e.input_ids
        labels[i, : len(e.labels)] = e.labels
        mask[i, : len(e.input_ids)] = 1
    pixels, patches = [], []
    for chat in chats:
        for turn in chat.turns:
            for k in turn.pictures:
                size = int(rng.choice(RENDER_SIZES)) if rng is not None else IMAGE_SIZE
                pixels.append(preprocess(render(chat.scenes[k], size=size, rng=rng), IMAGE_SIZE))
                patches.append(patch_labels(chat.scenes[k]))
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "pixel_values": np.stack(pixels),
            "patch_labels": np.stack(patches)}


def losses(model: Any, aux_head: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(language loss on the answers, patch loss, logits)."""
    import torch.nn.functional as F

    logits, patch_logits, _ = forward(model, aux_head, batch)
    text = F.cross_entropy(logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100)
    aux = F.cross_entropy(patch_logits.flatten(0, 1), batch["patch_labels"].flatten())
    return text, aux, logits


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    return {k: torch.as_tensor(v) for k, v in batch.items()}


class HeldOut:
    """Fresh conversations never trained on, batched for the teacher-forced check."""

    def __init__(self, tokenizer: Any, n: int, seed: int = HELDOUT_SEED) -> None:
        self.chats = conversations(n, seed)
        self.batches = [collate(self.chats[i : i + 32], tokenizer) for i in range(0, n, 32)]


def check(model: Any, aux_head: Any, tokenizer: Any, held: HeldOut) -> dict[str, Any]:
    """Share of held-out turns whose answer is the model's first choice token by token: all, by kind, follow-ups."""
    import torch

    right: dict[str, list[bool]] = defaultdict(list)
    model.eval()
    with torch.no_grad():
        for b, batch in enumerate(held.batches):
            logits, patch_logits, _ = forward(model, aux_head, _tensors(batch))
            guess = logits.argmax(-1).numpy()
            right["patches"] += (patch_logits.argmax(-1).numpy() == batch["patch_labels"]).ravel().tolist()
            for i, chat in enumerate(held.chats[b * 32 : b * 32 + 32]):
                spans = encode(chat, tokenizer).answer_spans
                for turn, (start, end) in zip(chat.turns, spans, strict=True):
                    ok = bool((guess[i, start - 1 : end - 1] == batch["input_ids"][i, start:end]).all())
                    right[turn.kind].append(ok)
                    right["all"].append(ok)
                    if turn.followup:
                        right["followup"].append(ok)
    model.train()
    return {k: round(100 * sum(v) / len(v), 1) for k, v in sorted(right.items())}


def save_hf(model: Any, tokenizer: Any, folder: Path) -> None:
    """The Hugging Face folder, written atomically (a temporary sibling, then renamed)."""
    from model_tools.synthetic.tiny_llava import save_llava

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_llava(model, tokenizer, tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def train_chat(
    out: Path,
    steps: int = 12000,
    *,
    seed: int = 0,
    batch: int = 32,
    minutes: float | None = None,
    lr: float = 2e-3,
    two_pictures: float = 0.1,
    eval_every: int = 500,
    save_every: int = 200,
    heldout: int = 256,
    workers: int | None = None,
    log: Log = print,
    cancel: threading.Event | None = None,
) -> Path:
    """Train (or go on training, from `out/checkpoint.pt`) and write `out/hf` and `out/train_report.json`."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see demo.train: idle threads must not spin
    import torch
    from torch.utils.data import DataLoader

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    tokenizer = make_tokenizer()
    model = make_model(tokenizer, seed)
    aux_head = torch.nn.Linear(MODEL["vision_hidden"], PATCH_CLASSES)
    params = list(model.parameters()) + list(aux_head.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=lr, betas=(0.9, 0.98))
    state: dict[str, Any] = {"step": 0, "train_seconds": 0.0, "curve": []}
    checkpoint = out / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(saved["model"])
        aux_head.load_state_dict(saved["aux_head"])
        optim.load_state_dict(saved["optim"])
        state = json.loads(saved["state"])
        log(f"chat demo: resuming at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"chat demo: {n_params / 1e6:.2f} M parameters, {steps} steps of {batch} conversations, out {out}")
    held = HeldOut(tokenizer, heldout)
    warmup = min(300, max(1, steps // 20))

    def progress(step: int) -> float:
        done = (step - warmup) / max(1, steps - warmup)
        if minutes:
            done = max(done, state["train_seconds"] / (60 * minutes))
        return done

    def save() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "aux_head": aux_head.state_dict(), "optim": optim.state_dict(),
                    "state": json.dumps(state)}, tmp)
        tmp.replace(checkpoint)

    if workers is None:
        workers = 1 if steps - state["step"] >= 50 else 0
    loader = DataLoader(
        ChatBatches(tokenizer, seed, batch, steps, two_pictures),
        batch_size=None,
        sampler=range(state["step"], steps),
        num_workers=workers,
        worker_init_fn=_one_thread if workers else None,
        prefetch_factor=4 if workers else None,
    )
    model.train()
    ema: dict[str, float] = {}
    t_window = time.perf_counter()
    step = state["step"]
    for step, data in enumerate(loader, start=state["step"] + 1):
        if cancel is not None and cancel.is_set():
            save()
            raise TrainingCancelled(f"chat training stopped at step {step - 1} (resumable)")
        t0 = time.perf_counter()
        current = lr * lr_factor(step - 1, progress(step - 1), warmup)
        for group in optim.param_groups:
            group["lr"] = current
        text, aux, _ = losses(model, aux_head, _tensors(data))
        loss = text + AUX_WEIGHT * aux
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        state["train_seconds"] += time.perf_counter() - t0
        for name, value in (("text", float(text)), ("patches", float(aux))):
            ema[name] = value if name not in ema else 0.98 * ema[name] + 0.02 * value
        finished = step >= steps or (minutes is not None and step > warmup and progress(step) >= 1.0)
        if step % 50 == 0 or finished:
            per_step = (time.perf_counter() - t_window) / 50
            log(f"chat step {step}/{steps} loss {ema['text']:.4f} patches {ema['patches']:.4f} lr {current:.2e} "
                f"{per_step:.3f} s/step ({state['train_seconds'] / 60:.1f} min)")
            t_window = time.perf_counter()
        if step % eval_every == 0 or finished:
            result = check(model, aux_head, tokenizer, held)
            state["curve"].append({"step": step, "minutes": round(state["train_seconds"] / 60, 2),
                                   "loss": round(ema["text"], 4), "patch_loss": round(ema["patches"], 4), **result})
            log(f"chat held-out step {step}: {result['all']}% of turns right "
                f"(follow-ups {result.get('followup', 0)}%), by kind {result}")
        if step % save_every == 0 or finished:
            state["step"] = step
            save()
        if finished:
            break
    state["step"] = step
    save()
    save_hf(model, tokenizer, out / "hf")
    report = {"seed": seed, "batch": batch, "model": MODEL, "parameters": n_params, "aux_weight": AUX_WEIGHT,
              "lr": lr, "steps": step, "planned_steps": steps, "minutes_budget": minutes,
              "train_minutes": round(state["train_seconds"] / 60, 1), "heldout_seed": HELDOUT_SEED,
              "heldout_conversations": heldout, "curve": state["curve"]}
    (out / "train_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    log(f"chat demo: saved {out / 'hf'} after {report['train_minutes']} min of training")
    return out / "hf"


def _one_thread(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)
