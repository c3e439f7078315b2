"""The conversation as data: turns (image, question, answer, metrics), saved as JSON and exported as Markdown.

No widgets here; the chat pane shows a `Conversation` and the window saves and opens it. A chat model keeps
the conversation itself too (its pipeline's `history`); `chat_history(conversation)` is what it should hold,
so a saved conversation, an Undo Clear or a new chat model continues from the turns shown.

A Markdown export `chat.md` takes copies of its pictures along in `chat_files/` beside it, linked relatively,
so the folder can be moved or shared; a file already there is never overwritten (a copy gets a new name).
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from model_tools.runtime.files import atomic_write, atomic_write_json

FORMAT = "glimpse-conversation"
VERSION = 1
HEADING_CHARS = 60  # a longer question is cut short in its heading; the body has it all

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
    image: str | None  # path of the picture asked about (with a chat model: the first sent with the message)
    describe: bool = False
    images: list[str] = field(default_factory=list)  # a chat message's pictures, all of them (may be none)
    prompt: str = ""  # a chat model's turn: the message as the model read it (cleaned; Describe in words)
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

    @property
    def pictures(self) -> list[str]:
        """The pictures this message went with: a chat message's (none, one or several), else BLIP's one."""
        return list(self.images) if self.images else [self.image] if self.image else []

    @property
    def in_history(self) -> bool:
        """Part of what the model remembers: answered, or stopped with part of an answer."""
        return self.status == DONE or (self.status == STOPPED and bool(self.answer))

    def set_answer(self, answer: Any, model: str) -> None:
        """Fill in from a runtime `Answer`."""
        self.answer = answer.text
        self.status = STOPPED if answer.cancelled else DONE
        self.model = model
        self.task = answer.task
        self.precision = answer.precision
        self.device = answer.device
        self.metrics = asdict(answer.metrics)
        if answer.task == "chat":
            self.prompt = answer.question

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
        if not isinstance(turn.images, list) or not all(isinstance(p, str) for p in turn.images):
            turn.images = []
        if not isinstance(turn.prompt, str):
            turn.prompt = ""
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
        atomic_write_json(path, self.to_dict())

    def save_markdown(self, path: Path) -> None:
        """Write Markdown at `path`, with copies of the pictures in `<name>_files/` beside it."""
        path = Path(path)
        links = _copy_pictures([p for t in self.turns for p in t.pictures], path.with_name(f"{path.stem}_files"))
        atomic_write(path, self.to_markdown(links))

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

    def to_markdown(self, pictures: dict[str, str] | None = None) -> str:
        """Markdown of the turns, their text escaped; `pictures` maps a turn's picture path to its link
        (a picture not in it is named, not linked: it was not found to be copied)."""
        pictures = pictures or {}
        lines = ["# Glimpse conversation", "", f"_Started {self.created}_", ""]
        for i, turn in enumerate(self.turns, 1):
            title = "Describe" if turn.describe else _heading(turn.question) or "Question"
            lines += [f"## {i}. {title}", ""]
            for picture in turn.pictures:
                name = escape_markdown(Path(picture).name)
                link = pictures.get(picture)
                lines += [f"![{name}]({link})" if link else f"_Picture {name} (not found when exported)_", ""]
            if turn.describe:
                lines += ["**You:** _Describe the picture._", ""]
            else:
                lines += [f"**You:** {_paragraph(turn.question) or '_(empty)_'}", ""]
            answer = _paragraph(turn.answer) or ("_(no answer)_" if turn.status != FAILED else "")
            lines += [f"**Glimpse:** {answer}"]
            if turn.status == STOPPED:
                lines[-1] += " _(stopped)_"
            if turn.status == FAILED and turn.error:
                lines[-1] += f" _Could not answer: {_paragraph(turn.error)}_"
            lines.append("")
            metrics = metrics_text(turn)
            if metrics:
                lines += [f"<sub>{escape_markdown(metrics)}</sub>", ""]
        return "\n".join(lines).rstrip() + "\n"


def chat_history(conversation: Conversation) -> list[Any]:
    """The turns a chat model should remember of `conversation`, as its pipeline takes them (`restore`).

    Every answered turn counts, a BLIP model's too (a caption is the answer to "Describe this picture."),
    with the pictures it went with that still exist; unanswered and failed turns are left out, as the
    pipeline leaves them out. runs in: any thread (imports openvino-genai: call once a chat model is loaded).
    """
    from model_tools.runtime.chat.pipeline import DESCRIBE
    from model_tools.runtime.chat.pipeline import Turn as ChatTurn

    out: list[Any] = []
    for turn in conversation.turns:
        if not turn.in_history:
            continue
        text = turn.prompt or (DESCRIBE if turn.describe or not turn.question.strip() else turn.question)
        pictures = tuple(p for p in turn.pictures if Path(p).is_file())
        out += [ChatTurn("user", text, pictures), ChatTurn("assistant", turn.answer)]
    return out


_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&$])")
_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=])")


def escape_markdown(text: str) -> str:
    """`text` shown as itself in Markdown: no emphasis, links, headings, lists or HTML made of it."""
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", _SPECIAL.sub(r"\\\1", text))


def _paragraph(text: str) -> str:
    """Lines of `text`, escaped, as one paragraph with line breaks (blank lines and indents dropped)."""
    return "  \n".join(escape_markdown(line.strip()) for line in text.splitlines() if line.strip())


def _heading(question: str) -> str:
    """The question's first line, cut at a word to about HEADING_CHARS, escaped."""
    first = next((line.strip() for line in question.splitlines() if line.strip()), "")
    if len(first) > HEADING_CHARS:
        cut = first[:HEADING_CHARS]
        first = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"
    elif first != question.strip():
        first += " …"
    return escape_markdown(first)


def _copy_pictures(images: list[str], folder: Path) -> dict[str, str]:
    """Copy each picture that exists into `folder` (made if missing); picture path -> relative link.

    A name already taken there by a different file gets a new one (`photo-2.png`); an identical file (from
    an earlier export) is used as it is. Nothing in `folder` is ever overwritten.
    """
    links: dict[str, str] = {}
    taken: set[str] = set()
    for image in dict.fromkeys(images):
        source = Path(image)
        if not source.is_file():
            continue
        folder.mkdir(exist_ok=True)
        target = folder / source.name
        n = 1
        while target.name in taken or (target.exists() and not _same_file(source, target)):
            n += 1
            target = folder / f"{source.stem}-{n}{source.suffix}"
        if not target.exists():
            shutil.copyfile(source, target)
        taken.add(target.name)
        links[image] = quote(f"{folder.name}/{target.name}")
    return links


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and filecmp.cmp(a, b, shallow=False)


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

