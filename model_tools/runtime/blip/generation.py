"""Greedy and beam search over a decoder that keeps its own key/value cache, in numpy.

Both follow transformers' `generate` (5.x) step for step, so with the same logits they pick the same tokens.
Cancellation is checked between decode steps; a cancelled search returns what it had.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

NEG_INF = -1.0e9


class Decoder(Protocol):
    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed tokens [beams, T], return next-token logits [beams, vocab]; the cache grows by T."""
        ...

    def reorder(self, beam_idx: np.ndarray) -> None:
        """Keep cache rows `beam_idx` (beam search picks which beams live on)."""
        ...


@dataclass
class Search:
    """What a search produced: generated ids (without the prompt; the end token included if reached)."""

    ids: list[int]
    cancelled: bool = False


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float32, copy=False)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _topk(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first (ties: lower index first)."""
    k = min(k, values.shape[-1])
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.lexsort((part, -values[part]))]


def greedy(
    decoder: Decoder,
    prompt: list[int],
    max_new_tokens: int,
    eos_id: int,
    on_tokens: Callable[[list[int]], None],
    cancel: threading.Event | None = None,
) -> Search:
    """Pick the most likely token each step until the end token or `max_new_tokens`."""
    ids: list[int] = []
    tokens = np.asarray([prompt], dtype=np.int64)
    for _ in range(max_new_tokens):
        if cancel is not None and cancel.is_set():
            return Search(ids, cancelled=True)
        logits = decoder.step(tokens)
        token = int(np.argmax(logits[0]))
        ids.append(token)
        on_tokens([token])
        if token == eos_id:
            break
        tokens = np.asarray([[token]], dtype=np.int64)
    return Search(ids)


def beam_search(
    decoder: Decoder,
    prompt: list[int],
    max_new_tokens: int,
    eos_id: int,
    num_beams: int,
    on_tokens: Callable[[list[int]], None],
    cancel: threading.Event | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool = False,
) -> Search:
    """Beam search as in transformers' `_beam_search` for one input.

    `on_tokens` receives tokens once no candidate that can still win disagrees on them: the common prefix of
    the live beams and the finished hypotheses still in the running. The rest arrives when the search ends.
    """
    nb = num_beams
    keep = 2 * nb  # transformers keeps (1 + number of end tokens) * beams candidates per step
    plen = len(prompt)
    max_length = plen + max_new_tokens

    running = np.zeros((nb, max_length), dtype=np.int64)
    running[:, :plen] = prompt
    running_scores = np.full(nb, NEG_INF, dtype=np.float32)
    running_scores[0] = 0.0
    finished = running.copy()
    finished_len = np.zeros(nb, dtype=np.int64)
    finished_scores = np.full(nb, NEG_INF, dtype=np.float32)
    is_finished = np.zeros(nb, dtype=bool)
    improvable = True
    decided = 0  # generated tokens already streamed

    cur_len = plen
    if cancel is not None and cancel.is_set():
        return Search([], cancelled=True)
    logits = decoder.step(np.asarray([prompt], dtype=np.int64))
    decoder.reorder(np.zeros(nb, dtype=np.int64))  # every beam starts from the prompt
    logits = np.repeat(logits, nb, axis=0)
    while True:
        vocab = logits.shape[-1]
        scores = (log_softmax(logits) + running_scores[:, None]).reshape(-1)
        top = _topk(scores, keep)
        top_scores = scores[top]
        top_beam = top // vocab
        top_tokens = top % vocab
        top_seqs = running[top_beam].copy()
        top_seqs[:, cur_len] = top_tokens
        hits = (top_tokens == eos_id) | (cur_len + 1 >= max_length)

        # Live beams for the next step: the best candidates that did not just end.
        live_scores = top_scores + hits.astype(np.float32) * NEG_INF
        nxt = _topk(live_scores, nb)
        running, running_scores, source_beam = top_seqs[nxt], live_scores[nxt], top_beam[nxt]

        # Finished hypotheses: keep the best `nb` of the old ones and those that just ended among the top nb.
        just_finished = hits & (np.arange(len(top)) < nb)
        cand = top_scores / np.float32((cur_len + 1 - plen) ** length_penalty)
        if early_stopping is True and is_finished.all():
            cand = cand + NEG_INF
        if not improvable:
            cand = cand + NEG_INF
        cand = cand + (~just_finished).astype(np.float32) * NEG_INF
        merged_scores = np.concatenate([finished_scores, cand.astype(np.float32)])
        merged_seqs = np.concatenate([finished, top_seqs])
        merged_len = np.concatenate([finished_len, np.full(len(top), cur_len + 1 - plen)])
        merged_done = np.concatenate([is_finished, just_finished])
        best = _topk(merged_scores, nb)
        finished, finished_scores = merged_seqs[best], merged_scores[best]
        finished_len, is_finished = merged_len[best], merged_done[best]

        decoder.reorder(source_beam)
        cur_len += 1
        best_possible = running_scores[0] / np.float32((cur_len - plen) ** length_penalty)
        worst_finished = np.where(is_finished, finished_scores.min(), NEG_INF)
        improvable = improvable and bool(np.any(best_possible > worst_finished))
        go_on = improvable and not (is_finished.all() and early_stopping is True) and not hits.all()

        # Stream what every candidate that can still win agrees on.
        if go_on:
            rows = [running[:, plen:cur_len]]
            alive = finished_scores > NEG_INF / 2
            rows += [finished[i : i + 1, plen : plen + finished_len[i]] for i in np.flatnonzero(alive)]
            common = _common_prefix(rows)
            if len(common) > decided:
                on_tokens([int(t) for t in common[decided:]])
                decided = len(common)
        if not go_on:
            n = int(finished_len[0])
            ids = [int(t) for t in finished[0, plen : plen + n]]
            break
        if cancel is not None and cancel.is_set():
            ids = [int(t) for t in running[0, plen:cur_len]]
            on_tokens(ids[decided:])
            return Search(ids, cancelled=True)
        logits = decoder.step(running[:, cur_len - 1 : cur_len])
    on_tokens(ids[decided:])
    return Search(ids)


def _common_prefix(blocks: list[np.ndarray]) -> list[int]:
    rows = [r for block in blocks for r in block]
    if not rows:
        return []
    n = min(len(r) for r in rows)
    out: list[int] = []
    for i in range(n):
        t = rows[0][i]
        if any(r[i] != t for r in rows[1:]):
            break
        out.append(int(t))
    return out
