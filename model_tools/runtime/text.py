"""Tokenization with the `tokenizers` library, and turning a growing list of token ids into text chunks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

from tokenizers import Tokenizer

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_question(text: str | bytes) -> str:
    """`text` as the tokenizer can take it, and as the answer repeats it.

    Bytes that are not UTF-8 (given as bytes, or as a str with surrogate escapes, as a command line gives
    them) and lone surrogates become U+FFFD; control and invisible format characters go; each run of
    whitespace becomes one space, none at the ends. A question of control characters only is empty.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise TypeError(f"A question is text (str), not {type(text).__name__}.")
    text = _SURROGATE.sub("\ufffd", text)
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))
    return " ".join(text.split())


class BlipTokenizer:
    """Encodes questions and decodes answers for one converted model (tokenizer.json)."""

    def __init__(self, path: Path, max_length: int, special_ids: set[int]) -> None:
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self.max_length = max_length
        added = self._tok.get_added_tokens_decoder()
        self.special_ids = set(special_ids) | {i for i, tok in added.items() if tok.special}

    def encode(self, text: str) -> tuple[list[int], bool]:
        """Token ids of `text` with [CLS] ... [SEP], cut to the model's limit; also whether it was cut."""
        enc = self._tok.encode(text)
        ids = list(enc.ids)
        if len(ids) <= self.max_length:
            return ids, False
        return ids[: self.max_length - 1] + [ids[-1]], True

    def decode(self, ids: list[int]) -> str:
        kept = [i for i in ids if i not in self.special_ids]
        return self._tok.decode(kept, skip_special_tokens=True)


class TextStream:
    """Turns token ids, as they are decided, into text chunks whose concatenation is the decoded text.

    WordPiece pieces (`##ing`) attach to the word before them, so the whole prefix is decoded each time
    and only the new suffix is emitted.
    """

    def __init__(self, tokenizer: BlipTokenizer, on_text: Callable[[str], object] | None) -> None:
        self._tok = tokenizer
        self._on_text = on_text
        self.ids: list[int] = []
        self.text = ""

    def extend(self, new_ids: list[int]) -> None:
        if not new_ids:
            return
        self.ids.extend(new_ids)
        decoded = self._tok.decode(self.ids)
        if decoded.startswith(self.text) and len(decoded) > len(self.text):
            chunk, self.text = decoded[len(self.text) :], decoded
            if self._on_text is not None:
                self._on_text(chunk)
