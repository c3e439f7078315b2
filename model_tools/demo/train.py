"""Train the demo models: a tiny BLIP for questions (`out/vqa`) and one for captions (`out/caption`).

Both see only freshly generated shape pictures (`model_tools.synthetic.shapes`), on CPU, with a fixed seed.
Model: `tiny_blip_config(hidden=128, 3 vision / 2 text layers, 96 x 96 pictures, patch 16)`, about 1.8 M
parameters for VQA. AdamW 1e-3, linear warm-up then cosine decay; shape and yes/no questions are drawn
more often (they are learned last). Each folder is a Hugging Face folder (safetensors weights,
tokenizer, preprocessor_config.json) that `BlipForQuestionAnswering` / `BlipForConditionalGeneration`
load, written atomically (temporary sibling, then rename).

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model_tools.demo.evaluate import (
    HELDOUT_SEED,
    HeldOutPicture,
    format_result,
    heldout,
    normalize_answer,
    score_answers,
)
from model_tools.runtime.images import CLIP_MEAN, CLIP_STD
from model_tools.synthetic.shapes import (
    DEMO_PIECES,
    DEMO_WORDS,
    caption_for,
    caption_names_all,
    random_scene,
    render,
    sample_question,
)
from model_tools.synthetic.tiny_blip import (
    build_vocab,
    save_image_processor,
    save_tokenizer,
    tiny_blip_config,
)

IMAGE_SIZE = 96
# How often each question type is drawn in training (among the types a picture allows).
VQA_WEIGHTS = {"color": 0.18, "shape": 0.30, "count": 0.22, "yesno": 0.30}
# VQA batches hold batch/2 pictures with two questions each: drawing a picture and running the vision
# encoder on it are the costly parts, so both are done once per picture (see `vqa_loss`).
QUESTIONS_PER_PICTURE = 2
# Pictures are drawn at several sizes, so the bicubic resize to 96 sees varied inputs.
RENDER_SIZES = (96, 128, 160, 192, 224)
RENDER_P = (0.25, 0.25, 0.2, 0.2, 0.1)
MODEL_CONFIG = dict(
    hidden=128,
    vision_layers=3,
    text_layers=2,
    heads=4,
    image_size=IMAGE_SIZE,
    patch_size=16,
    intermediate=512,
    max_positions=40,
)

Log = Callable[[str], None]


class TrainingCancelled(RuntimeError):
    """Raised by `train` when its cancel event is set; folders finished before stay in place."""


def demo_vocab() -> list[str]:
    return build_vocab(DEMO_WORDS, pieces=DEMO_PIECES)


def demo_config(vocab: list[str] | None = None) -> Any:
    return tiny_blip_config(vocab or demo_vocab(), **MODEL_CONFIG)


def preprocess(image: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Like BlipImageProcessor: RGB, bicubic resize to size x size, rescale 1/255, normalise. float32 [3, H, W]."""
    rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), resample=Image.Resampling.BICUBIC)
    arr = np.asarray(rgb, dtype=np.float32) * np.float32(1 / 255)
    arr = (arr - np.asarray(CLIP_MEAN, dtype=np.float32)) / np.asarray(CLIP_STD, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class TextIds:
    """Token ids from the saved tokenizer.json (cached: the templates repeat), with [DEC] for decoder inputs."""

    def __init__(self, tokenizer_json: Path):
        from tokenizers import Tokenizer

        self.path = Path(tokenizer_json)
        self.tok = Tokenizer.from_file(str(self.path))
        self.pad = self.tok.token_to_id("[PAD]")
        self.dec = self.tok.token_to_id("[DEC]")
        self.unk = self.tok.token_to_id("[UNK]")
        self._cache: dict[str, list[int]] = {}

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers started with spawn
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def encode(self, text: str) -> list[int]:
        """[CLS] text [SEP]."""
        ids = self._cache.get(text)
        if ids is None:
            ids = self.tok.encode(text).ids
            if self.unk in ids:
                raise ValueError(f"{text!r} has words outside the demo vocabulary")
            self._cache[text] = ids
        return ids

    def decoder_ids(self, text: str) -> list[int]:
        """[DEC] text [SEP]: what the decoder is trained on (BLIP starts decoding from [DEC], not [CLS])."""
        return [self.dec, *self.encode(text)[1:]]

    def decode(self, ids: Any) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def pad_batch(self, seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, attention_mask) padded on the right with [PAD]."""
        width = max(len(s) for s in seqs)
        ids = np.full((len(seqs), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1
        return ids, mask


class Batches:
    """Map-style dataset: item i is the whole training batch i, drawn from a generator seeded (seed, i).

    The same seed gives the same batches whatever the number of DataLoader workers.
    """

    def __init__(self, task: str, seed: int, batch: int, steps: int, text: TextIds):
        self.task, self.seed, self.batch, self.steps, self.text = task, seed, batch, steps, text

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1 if self.task == "vqa" else 2, index])
        per_picture = QUESTIONS_PER_PICTURE if self.task == "vqa" else 1
        pixels, scenes = [], []
        for _ in range(math.ceil(self.batch / per_picture)):
            scene = random_scene(rng)
            size = int(rng.choice(RENDER_SIZES, p=RENDER_P))
            pixels.append(preprocess(render(scene, size=size, rng=rng)))
            scenes.append(scene)
        pixel_values = np.stack(pixels)
        if self.task == "vqa":
            picture_of = np.arange(self.batch, dtype=np.int64) // per_picture
            qa = [sample_question(scenes[i], rng, weights=VQA_WEIGHTS) for i in picture_of]
            input_ids, attention_mask = self.text.pad_batch([self.text.encode(q) for q, _, _ in qa])
            dec_ids, dec_mask = self.text.pad_batch([self.text.decoder_ids(a) for _, a, _ in qa])
            return {
                "pixel_values": pixel_values,
                "picture_of": picture_of,
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "decoder_input_ids": dec_ids,
                "decoder_attention_mask": dec_mask,
                "labels": np.where(dec_mask == 1, dec_ids, -100),
            }
        ids, mask = self.text.pad_batch([self.text.decoder_ids(caption_for(s)) for s in scenes])
        return {
            "pixel_values": pixel_values,
            "input_ids": ids,
            "attention_mask": mask,
            "labels": np.where(mask == 1, ids, -100),
        }


def vqa_loss(model: Any, batch: dict[str, Any]) -> Any:
    """`BlipForQuestionAnswering.forward(...).loss`, with the vision encoder run once per picture.

    `batch["picture_of"][i]` is the picture of question i. The same as calling the model with
    `pixel_values[picture_of]`, only cheaper when pictures carry several questions.
    """
    import torch

    image_embeds = model.vision_model(pixel_values=batch["pixel_values"]).last_hidden_state
    image_embeds = image_embeds[batch["picture_of"]]
    image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
    question_embeds = model.text_encoder(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_mask,
    ).last_hidden_state
    return model.text_decoder(
        input_ids=batch["decoder_input_ids"],
        attention_mask=batch["decoder_attention_mask"],
        encoder_hidden_states=question_embeds,
        encoder_attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        reduction="mean",
    ).loss


def _worker_init(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)


def lr_factor(step: int, progress: float, warmup: int, floor: float = 0.02) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `floor` as `progress` goes from 0 to 1."""
    if step < warmup:
        return (step + 1) / warmup
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------------------------------
# Held-out evaluation with batched greedy generation


class HeldOut:
    """The held-out pictures of `evaluate.heldout`, preprocessed once."""

    def __init__(self, n: int, seed: int = HELDOUT_SEED):
        self.pictures: list[HeldOutPicture] = heldout(n, seed)
        self.pixels = np.stack([preprocess(p.image) for p in self.pictures])


def eval_vqa(model: Any, text: TextIds, held: HeldOut, chunk: int = 128) -> dict[str, Any]:
    """Exact-match accuracy per question type: greedy `generate`, batched by question length (no padding)."""
    import torch

    groups: dict[int, list[tuple[int, str, str, str]]] = {}
    for i, pic in enumerate(held.pictures):
        for question, answer, qtype in pic.questions:
            groups.setdefault(len(text.encode(question)), []).append((i, question, answer, qtype))
    triples = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for items in groups.values():
            for start in range(0, len(items), chunk):
                part = items[start : start + chunk]
                ids = torch.tensor([text.encode(q) for _, q, _, _ in part])
                pixels = torch.from_numpy(held.pixels[[i for i, _, _, _ in part]])
                out = model.generate(
                    input_ids=ids,
                    pixel_values=pixels,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=4,
                    do_sample=False,
                    num_beams=1,
                )
                for (_, _, answer, qtype), seq in zip(part, out, strict=True):
                    triples.append((qtype, answer, text.decode(seq)))
    model.train(was_training)
    return score_answers(triples)


def eval_caption(model: Any, text: TextIds, held: HeldOut, chunk: int = 128) -> dict[str, Any]:
    """Share of greedy captions naming every shape kind and colour present, and of exact captions."""
    import torch

    named = exact = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(held.pictures), chunk):
            pics = held.pictures[start : start + chunk]
            pixels = torch.from_numpy(held.pixels[start : start + len(pics)])
            out = model.generate(pixel_values=pixels, max_new_tokens=24, do_sample=False, num_beams=1)
            for pic, seq in zip(pics, out, strict=True):
                got = text.decode(seq)
                named += caption_names_all(got, pic.scene)
                exact += normalize_answer(got) == normalize_answer(pic.caption)
    model.train(was_training)
    n = max(1, len(held.pictures))
    return {"caption_rate": named / n, "caption_exact": exact / n}


# ---------------------------------------------------------------------------------------------
# Training


def _fit(
    model: Any,
    task: str,
    steps: int,
    *,
    seed: int,
    batch: int,
    text: TextIds,
    held: HeldOut,
    log: Log,
    cancel: threading.Event | None,
    eval_every: int,
    workers: int,
    minutes: float | None = None,
    lr: float = 1e-3,
) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    warmup = min(500, max(1, steps // 20))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name.lower() or "embedding" in name.lower() else decay).append(p)
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
    )
    loader = DataLoader(
        Batches(task, seed, batch, steps, text),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    evaluate = eval_vqa if task == "vqa" else eval_caption
    curve: list[dict[str, Any]] = []
    model.train()
    start = time.perf_counter()
    eval_seconds = 0.0
    loss_ema = None
    window = time.perf_counter()
    last_step = 0
    step = 0

    def progress(step: int) -> float:
        """Share of the run done: by steps, or by training wall time when `minutes` is given (whichever is further)."""
        done = (step - warmup) / max(1, steps - warmup)
        if minutes:
            train_seconds = time.perf_counter() - start - eval_seconds
            done = max(done, train_seconds / (60 * minutes))
        return done

    def check(step: int) -> dict[str, Any]:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        result = evaluate(model, text, held)
        eval_seconds += time.perf_counter() - t0
        elapsed = (time.perf_counter() - start) / 60
        entry = {"step": step, "minutes": round(elapsed, 2), "loss": loss_ema, **result}
        curve.append(entry)
        log(f"{task} eval step {step}/{steps} ({elapsed:.1f} min): {format_result(result)}")
        return result

    for step, data in enumerate(loader, start=1):
        if cancel is not None and cancel.is_set():
            log(f"{task}: cancelled at step {step - 1}/{steps}")
            raise TrainingCancelled(f"{task} training cancelled at step {step - 1}")
        done = progress(step - 1)
        current_lr = lr * lr_factor(step - 1, done, warmup)
        for group in optim.param_groups:
            group["lr"] = current_lr
        loss = vqa_loss(model, data) if task == "vqa" else model(**data).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        value = float(loss.detach())
        loss_ema = value if loss_ema is None else 0.98 * loss_ema + 0.02 * value
        finished = step >= steps or (minutes is not None and step > warmup and progress(step) >= 1.0)
        if step % 50 == 0 or finished:
            now = time.perf_counter()
            per_step = (now - window) / (step - last_step)
            last_step = step
            log(
                f"{task} step {step}/{steps} loss {loss_ema:.4f} lr {current_lr:.2e} {per_step:.3f} s/step "
                f"({(now - start) / 60:.1f} min)"
            )
            window = time.perf_counter()  # do not count logging/eval time in the next window
        if finished:
            break
        if eval_every and step % eval_every == 0:
            check(step)
            window = time.perf_counter()
    if step < steps:
        log(f"{task}: time budget of {minutes} min reached at step {step}/{steps}")
    final = check(step)
    seconds = time.perf_counter() - start
    return {
        "steps": step,
        "seconds": round(seconds, 1),
        "train_seconds_per_step": round((seconds - eval_seconds) / max(1, step), 4),
        "final": final,
        "curve": curve,
    }


def _save(model: Any, vocab: list[str], folder: Path) -> None:
    """Write the Hugging Face folder atomically: build `<name>.tmp`, then rename."""
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    save_tokenizer(vocab, tmp)
    save_image_processor(tmp, IMAGE_SIZE)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def train(
    out: Path,
    steps: int,
    seed: int = 0,
    batch: int = 64,
    log: Log = print,
    cancel: threading.Event | None = None,
    *,
    caption_steps: int | None = None,
    minutes: float | None = None,
    caption_minutes: float | None = None,
    tasks: tuple[str, ...] = ("vqa", "caption"),
    init: Path | None = None,
    lr: float = 1e-3,
    eval_every: int | None = None,
    eval_pictures: int = 150,
    final_eval_pictures: int = 400,
    workers: int | None = None,
) -> Path:
    """Train the demo VQA model (`steps` steps) then the caption model (`caption_steps`, default steps // 3).

    Saves Hugging Face folders `out/vqa` and `out/caption` and `out/train_report.json` (accuracy curves,
    wall times); returns `out`. The caption model starts from the trained VQA vision encoder.
    Held-out accuracy (greedy `generate` on `evaluate.heldout(eval_pictures)`) is logged every
    `eval_every` steps (default: 10 checks per run) and at the end on `final_eval_pictures` pictures.
    `workers` DataLoader processes draw the pictures (default 1, 0 for runs under 50 steps).
    `minutes` / `caption_minutes` cap the training wall time (evaluation excluded): the cosine decay then
    follows whichever of steps or time runs out first, so a busy machine still ends with a decayed model
    (runs are then no longer reproducible step for step).
    `init` continues from an earlier run's folders (`init/vqa`, `init/caption`) instead of fresh weights,
    e.g. with a lower `lr` to polish a model that ran out of time.
    Raises `TrainingCancelled` when `cancel` is set; folders completed before stay.
    """
    import os

    # Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine (or with the picture worker)
    # spinning threads make a step 3-10x slower. Only effective if torch is not imported yet.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

    for task in tasks:
        if task not in ("vqa", "caption"):
            raise ValueError(f"unknown task {task!r} (vqa | caption)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    vocab = demo_vocab()
    config = demo_config(vocab)
    work = out / ".tokenizer"
    save_tokenizer(vocab, work)
    text = TextIds(work / "tokenizer.json")
    try:
        if workers is None:
            workers = 1 if steps >= 50 else 0
        report: dict[str, Any] = {
            "seed": seed,
            "batch": batch,
            "model": MODEL_CONFIG,
            "heldout_seed": HELDOUT_SEED,
        }
        report_path = out / "train_report.json"
        held = HeldOut(eval_pictures)
        log(f"demo training: tasks {', '.join(tasks)}, seed {seed}, batch {batch}, out {out}")

        def fit_and_save(task: str, model: Any, n_steps: int, every: int, task_minutes: float | None) -> None:
            """Train `model` for `task`, check it on the large held-out set, save it and the report so far."""
            params = sum(p.numel() for p in model.parameters())
            log(f"{task}: {params / 1e6:.2f} M parameters, {n_steps} steps")
            result = _fit(
                model,
                task,
                n_steps,
                seed=seed,
                batch=batch,
                text=text,
                held=held,
                log=log,
                cancel=cancel,
                eval_every=every,
                workers=workers,
                minutes=task_minutes,
                lr=lr,
            )
            evaluate = eval_vqa if task == "vqa" else eval_caption
            final = evaluate(model, text, HeldOut(final_eval_pictures)) if final_eval_pictures else None
            if final:
                log(f"{task} final on {final_eval_pictures} held-out pictures: {format_result(final)}")
            _save(model, vocab, out / task)
            report[task] = {**result, "parameters": params, "final_large": final}
            report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
            log(f"{task}: saved {out / task} after {result['seconds'] / 60:.1f} min")

        vqa_model = None
        if "vqa" in tasks:
            torch.manual_seed(seed)
            if init is not None:
                vqa_model = BlipForQuestionAnswering.from_pretrained(Path(init) / "vqa")
                log(f"vqa: starting from {Path(init) / 'vqa'}")
            else:
                vqa_model = BlipForQuestionAnswering(config)
            every = eval_every if eval_every is not None else max(50, steps // 10)
            fit_and_save("vqa", vqa_model, steps, every, minutes)

        if "caption" in tasks:
            n_caption = caption_steps if caption_steps is not None else max(1, steps // 3)
            torch.manual_seed(seed + 1)
            cap_model = BlipForConditionalGeneration(config)
            if init is not None and (Path(init) / "caption").is_dir():
                cap_model = BlipForConditionalGeneration.from_pretrained(Path(init) / "caption")
                log(f"caption: starting from {Path(init) / 'caption'}")
            elif vqa_model is not None:
                cap_model.vision_model.load_state_dict(vqa_model.vision_model.state_dict())
                emb = vqa_model.text_decoder.bert.embeddings.state_dict()
                cap_model.text_decoder.bert.embeddings.load_state_dict(emb)
                log("caption: vision encoder and word embeddings start from the VQA model")
            every = eval_every if eval_every is not None else max(50, n_caption // 6)
            fit_and_save("caption", cap_model, n_caption, every, caption_minutes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("demo training: done")
    return out
