"""The conversation as data: turns (image, question, answer, metrics), saved as JSON and exported as Markdown.

No widgets here; the chat pane shows a `Conversation` and the window saves and opens it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT = "glimpse-conversation"
VERSION = 1

PENDING, WAITING, STREAMING, DONE, STOPPED, FAILED = (
    "pending",
    "waiting",
    "streaming",
    "done",
    "stopped",
    "failed",
)


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


@dataclass
class Turn:
    """One question (or Describe) and its answer."""

    question: str
    image: str | None  # path of the picture asked about
    describe: bool = False
    answer: str = ""
    status: str = PENDING  # pending | waiting | streaming | done | stopped | failed
    error: str = ""
    model: str = ""
    task: str = ""
    precision: str = ""
    device: str = ""
    max_new_tokens: int = 0
    num_beams: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    asked_at: str = field(default_factory=_now)

    @property
    def finished(self) -> bool:
        return self.status in (DONE, STOPPED, FAILED)

    def set_answer(self, answer: Any, model: str) -> None:
        """Fill in from a runtime `Answer`."""
        self.answer = answer.text
        self.status = STOPPED if answer.cancelled else DONE
        self.model = model
        self.task = answer.task
        self.precision = answer.precision
        self.device = answer.device
        self.metrics = asdict(answer.metrics)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if not isinstance(values.get("question", ""), str):
            raise ValueError("a turn's question is not text")
        values.setdefault("question", "")
        values.setdefault("image", None)
        turn = cls(**values)
        if turn.status not in (DONE, STOPPED, FAILED):
            turn.status = STOPPED  # an answer that was still running when saved
        if not isinstance(turn.metrics, dict):
            turn.metrics = {}
        return turn


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)
    created: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created,
            "turns": [t.to_dict() for t in self.turns],
        }

    def save_json(self, path: Path) -> None:
        _write_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    def save_markdown(self, path: Path) -> None:
        _write_atomic(path, self.to_markdown())

    @classmethod
    def load_json(cls, path: Path) -> Conversation:
        """Raises ValueError with a readable reason for a file that is not a saved conversation."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{Path(path).name} is not a text file") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{Path(path).name} is not valid JSON (line {exc.lineno})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{Path(path).name} is not a Glimpse conversation")
        if int(data.get("version", 0)) > VERSION:
            raise ValueError(f"{Path(path).name} was saved by a newer Glimpse")
        turns = data.get("turns")
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            raise ValueError(f"{Path(path).name} has no list of turns")
        return cls([Turn.from_dict(t) for t in turns], str(data.get("created") or _now()))

    def to_markdown(self) -> str:
        lines = ["# Glimpse conversation", "", f"_Started {self.created}_", ""]
        for i, turn in enumerate(self.turns, 1):
            title = (
                "Describe"
                if turn.describe
                else turn.question.strip().splitlines()[0]
                if turn.question
                else "Question"
            )
            lines += [f"## {i}. {title}", ""]
            if turn.image:
                lines += [
                    f"![{Path(turn.image).name}]({Path(turn.image).as_uri() if Path(turn.image).is_absolute() else turn.image})",
                    "",
                ]
            if turn.describe:
                lines += ["**You:** _Describe the picture._", ""]
            else:
                quoted = "  \n".join(turn.question.splitlines()) or "_(empty)_"
                lines += [f"**You:** {quoted}", ""]
            answer = turn.answer or ("_(no answer)_" if turn.status != FAILED else "")
            lines += [f"**Glimpse:** {answer}"]
            if turn.status == STOPPED:
                lines[-1] += " _(stopped)_"
            if turn.status == FAILED and turn.error:
                lines[-1] += f"_Could not answer: {turn.error}_"
            lines.append("")
            metrics = metrics_text(turn)
            if metrics:
                lines += [f"<sub>{metrics}</sub>", ""]
        return "\n".join(lines).rstrip() + "\n"


def metrics_text(turn: Turn) -> str:
    """`first token 45 ms · total 0.31 s · 32.1 tokens/s · 10 tokens · FP16 · CPU · model`"""
    m = turn.metrics
    parts = []
    if m:
        if m.get("ttft_s"):
            parts.append(f"first token {m['ttft_s'] * 1000:.0f} ms")
        if m.get("total_s"):
            parts.append(f"total {m['total_s']:.2f} s")
        if m.get("tokens_per_s"):
            parts.append(f"{m['tokens_per_s']:.1f} tokens/s")
        if "new_tokens" in m:
            parts.append(f"{m['new_tokens']} tokens")
    if turn.precision:
        parts.append(turn.precision.upper())
    if turn.device:
        parts.append(turn.device)
    if turn.model:
        parts.append(turn.model)
    return " · ".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
