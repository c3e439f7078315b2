"""Seeded conversations about generated shape pictures, and a scorer that reads the facts an answer states.

A `Conversation` holds one picture (sometimes two) from `shapes.random_scene` and 1-4 `ChatTurn`s. Only
the first turn carries the pictures. Each turn has a question, the expected answer (a short sentence,
numbers as words, lowercase colours and kinds, ending with "."), its kind, and the facts a right answer
must state. The forms, question -> answer:

- describe: "Describe the picture." / "What is in the picture?" / "What do you see?" ->
  "There are three shapes: a red square, two green circles and a blue triangle." (left to right, the
  same colour and kind counted together) or "There is one shape: a red circle."
  facts {"count": n, "shapes": sorted [(colour, kind), ...] with repeats}
- count_all: "How many shapes are there?" -> "There are two shapes." / "There is one shape." {"count"}
- count_kind: "How many triangles are there?" -> "There are two triangles." / "There is one triangle." /
  "There are no triangles." {"count", "kind"}
- color: "What color is the triangle?" (or "colour"), asked only of a kind that is there once ->
  "The triangle is blue." {"color", "kind"}
- shape: "What shape is the yellow object?", asked only of a colour that is there once ->
  "The yellow object is a triangle." {"kind", "color"}
- yesno: "Is there a circle?" / "Is there a red circle?" -> "Yes, there is one circle, on the left." (the
  place only for one), "Yes, there are two circles.", "No, there is no red circle."
  {"yes", "count" (0 for no), "kind", "color" (when asked), "position" (when one)}. Half of the "no"
  questions are hard: the colour or the kind is in the picture, the pair is not.
- followup_color: "And what color is it?" / "What colour is it?", right after a turn about a single shape
  (a yes with one, a shape question, a count of one) -> "It is blue." {"color"}
- followup_count: "And how many circles are there?" after a describe or count_all turn, "And squares?"
  after a count of a kind -> "There is one square." {"count", "kind"}
- compare (two pictures, the only turn): "Which picture has more shapes?" ->
  "The first picture has more shapes: three against one." / "The second picture ..." /
  "Both pictures have two shapes." {"more": "first" | "second" | "same", "counts": (first, second)}

Questions are sometimes all lowercase, so the app's sample questions ("what color is the circle?",
"how many shapes are there?", ...) occur verbatim. Only numpy, pillow and the standard library are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from model_tools.synthetic.shapes import COLORS, KINDS, NUMBERS, Scene, Shape, caption_for, random_scene

QUESTION_KINDS = (
    "describe",
    "count_all",
    "count_kind",
    "color",
    "shape",
    "yesno",
    "followup_color",
    "followup_count",
    "compare",
)
DESCRIBE_SHARE = 0.25  # of fresh (non-follow-up) turns
FOLLOWUP_SHARE = 0.4  # of later turns, when a follow-up is possible
LOWERCASE_SHARE = 0.3  # questions typed all lowercase
COLOUR_SPELLING_SHARE = 0.3  # "colour" rather than "color"

DESCRIBE_QUESTIONS = (  # the runtime asks "Describe this picture." for a picture sent without words
    "Describe the picture.", "Describe this picture.", "What is in the picture?", "What do you see?")
FOLLOWUP_COLOR_QUESTIONS = ("And what {color} is it?", "What {color} is it?")
COUNT_TOPICS = ("describe", "count_all", "count_kind", "followup_count")  # may be followed by a count


@dataclass(frozen=True)
class ChatTurn:
    question: str  # what the user types
    answer: str  # the expected answer, a short sentence
    kind: str  # one of QUESTION_KINDS
    facts: dict[str, Any]  # what a right answer must state
    followup: bool = False  # needs the earlier turn to be understood
    pictures: tuple[int, ...] = ()  # indices into Conversation.scenes attached to this turn


@dataclass(frozen=True)
class Conversation:
    scenes: tuple[Scene, ...]  # 1 picture, sometimes 2
    turns: tuple[ChatTurn, ...]  # 1-4 turns


# ---------------------------------------------------------------------------------------------
# Wording


def _pick(rng: np.random.Generator, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[int(rng.integers(len(items)))]


def _typed(rng: np.random.Generator, question: str) -> str:
    return question.lower() if rng.random() < LOWERCASE_SHARE else question


def _color_word(rng: np.random.Generator) -> str:
    return "colour" if rng.random() < COLOUR_SPELLING_SHARE else "color"


def _noun(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


def _there_are(n: int, word: str) -> str:
    """'There is one square', 'There are two squares', 'There are no squares' (no full stop)."""
    return f"There {'is' if n == 1 else 'are'} {'no' if n == 0 else NUMBERS[n]} {_noun(word, n)}"


def position_word(shape: Shape) -> str:
    if shape.cx < 0.38:
        return "on the left"
    if shape.cx > 0.62:
        return "on the right"
    return "in the middle"


def _only(scene: Scene, kind: str | None = None, color: str | None = None) -> Shape:
    (shape,) = [s for s in scene.shapes if kind in (None, s.kind) and color in (None, s.color)]
    return shape


# ---------------------------------------------------------------------------------------------
# Turns


def _describe(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    n = len(scene.shapes)
    answer = f"{_there_are(n, 'shape')}: {caption_for(scene)}."
    facts = {"count": n, "shapes": sorted((s.color, s.kind) for s in scene.shapes)}
    return ChatTurn(_typed(rng, _pick(rng, DESCRIBE_QUESTIONS)), answer, "describe", facts)


def _count_all(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    n = len(scene.shapes)
    return ChatTurn(
        _typed(rng, "How many shapes are there?"), _there_are(n, "shape") + ".", "count_all", {"count": n}
    )


def _count_kind(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    kind = _pick(rng, KINDS)
    n = scene.count(kind)
    question = _typed(rng, f"How many {kind}s are there?")
    return ChatTurn(question, _there_are(n, kind) + ".", "count_kind", {"count": n, "kind": kind})


def _color(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    kind = _pick(rng, [k for k in KINDS if scene.count(k) == 1])
    color = _only(scene, kind=kind).color
    question = _typed(rng, f"What {_color_word(rng)} is the {kind}?")
    return ChatTurn(question, f"The {kind} is {color}.", "color", {"color": color, "kind": kind})


def _shape(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    color = _pick(rng, [c for c in COLORS if scene.count(color=c) == 1])
    kind = _only(scene, color=color).kind
    question = _typed(rng, f"What shape is the {color} object?")
    return ChatTurn(question, f"The {color} object is a {kind}.", "shape", {"kind": kind, "color": color})


def _yesno_subject(rng: np.random.Generator, scene: Scene, want_yes: bool) -> tuple[str, str | None]:
    """(kind, colour or None) to ask about: present when `want_yes`, else absent, half of those hard."""
    pairs = [(k, c) for k in KINDS for c in COLORS if bool(scene.count(k, c)) == want_yes]
    if want_yes:
        return _pick(rng, [(k, None) for k in sorted(scene.kinds)] if rng.random() < 0.4 else pairs)
    hard = [(k, c) for k, c in pairs if k in scene.kinds or c in scene.colors]
    easy = [(k, None) for k in KINDS if k not in scene.kinds] + [p for p in pairs if p not in hard]
    return _pick(rng, hard if rng.random() < 0.5 or not easy else easy)


def _yesno(rng: np.random.Generator, scene: Scene) -> ChatTurn:
    kind, color = _yesno_subject(rng, scene, want_yes=bool(rng.random() < 0.5))
    named = f"{color} {kind}" if color else kind
    n = scene.count(kind, color)
    facts: dict[str, Any] = {"yes": n > 0, "count": n, "kind": kind}
    if color:
        facts["color"] = color
    if n == 0:
        answer = f"No, there is no {named}."
    elif n == 1:
        place = position_word(_only(scene, kind, color))
        facts["position"] = place.split()[-1]
        answer = f"Yes, there is one {named}, {place}."
    else:
        answer = f"Yes, there are {NUMBERS[n]} {named}s."
    return ChatTurn(_typed(rng, f"Is there a {named}?"), answer, "yesno", facts)


def _followup_color(rng: np.random.Generator, shape: Shape) -> ChatTurn:
    question = _typed(rng, _pick(rng, FOLLOWUP_COLOR_QUESTIONS).format(color=_color_word(rng)))
    return ChatTurn(
        question, f"It is {shape.color}.", "followup_color", {"color": shape.color}, followup=True
    )


def _followup_count(rng: np.random.Generator, scene: Scene, last: ChatTurn, kinds: list[str]) -> ChatTurn:
    kind = _pick(rng, kinds)
    n = scene.count(kind)
    short = last.kind in ("count_kind", "followup_count")
    question = _typed(rng, f"And {kind}s?" if short else f"And how many {kind}s are there?")
    facts = {"count": n, "kind": kind}
    return ChatTurn(question, _there_are(n, kind) + ".", "followup_count", facts, followup=True)


def _compare(rng: np.random.Generator, scenes: tuple[Scene, Scene]) -> ChatTurn:
    a, b = (len(s.shapes) for s in scenes)
    if a == b:
        more, answer = "same", f"Both pictures have {NUMBERS[a]} {_noun('shape', a)}."
    else:
        more = "first" if a > b else "second"
        answer = f"The {more} picture has more shapes: {NUMBERS[max(a, b)]} against {NUMBERS[min(a, b)]}."
    question = _typed(rng, "Which picture has more shapes?")
    return ChatTurn(question, answer, "compare", {"more": more, "counts": (a, b)}, pictures=(0, 1))


FRESH = {
    "describe": _describe,
    "count_all": _count_all,
    "count_kind": _count_kind,
    "color": _color,
    "shape": _shape,
    "yesno": _yesno,
}


# ---------------------------------------------------------------------------------------------
# Conversations


def _topic(turn: ChatTurn) -> tuple[str, str | None, str | None]:
    """What a turn asks about, so a conversation does not ask it twice (a follow-up count is a count)."""
    kind = "count_kind" if turn.kind == "followup_count" else turn.kind
    return kind, turn.facts.get("kind"), turn.facts.get("color")


def single_subject(turn: ChatTurn, scene: Scene) -> Shape | None:
    """The one shape a turn is about (a yes with one, a shape question, a count of one), else None."""
    f = turn.facts
    counted_one = turn.kind in ("yesno", "count_kind", "followup_count") and f["count"] == 1
    if turn.kind != "shape" and not counted_one:
        return None
    return _only(scene, f.get("kind"), f.get("color"))


def _fresh_kinds(scene: Scene) -> list[str]:
    kinds = ["count_all", "count_kind", "yesno"]
    if any(scene.count(k) == 1 for k in KINDS):
        kinds.append("color")
    if any(scene.count(color=c) == 1 for c in COLORS):
        kinds.append("shape")
    return kinds


def _fresh_turn(rng: np.random.Generator, scene: Scene, asked: set[tuple[Any, ...]]) -> ChatTurn | None:
    for _ in range(20):
        kind = "describe" if rng.random() < DESCRIBE_SHARE else _pick(rng, _fresh_kinds(scene))
        turn = FRESH[kind](rng, scene)
        if _topic(turn) not in asked:
            return turn
    return None


def _followup_turn(rng: np.random.Generator, scene: Scene, turns: list[ChatTurn]) -> ChatTurn | None:
    last, asked = turns[-1], {_topic(t) for t in turns}
    subject = single_subject(last, scene)
    kinds = [k for k in KINDS if ("count_kind", k, None) not in asked]
    options = (["color"] if subject is not None else []) + (
        ["count"] if last.kind in COUNT_TOPICS and kinds else []
    )
    if not options or rng.random() >= FOLLOWUP_SHARE:
        return None
    if _pick(rng, options) == "color":
        return _followup_color(rng, subject)  # type: ignore[arg-type]
    return _followup_count(rng, scene, last, kinds)


def random_conversation(
    rng: np.random.Generator, max_turns: int = 4, two_pictures: float = 0.1
) -> Conversation:
    """One conversation: with probability `two_pictures` a single compare turn about two pictures, else
    1-`max_turns` turns about one picture, follow-ups preferred where one is possible."""
    if rng.random() < two_pictures:
        scenes = (random_scene(rng), random_scene(rng))
        return Conversation(scenes, (_compare(rng, scenes),))
    scene = random_scene(rng)
    n_turns = int(rng.integers(1, max_turns + 1))
    first = _fresh_turn(rng, scene, set())
    assert first is not None  # nothing is asked yet
    turns = [replace(first, pictures=(0,))]
    while len(turns) < n_turns:
        turn = _followup_turn(rng, scene, turns) or _fresh_turn(rng, scene, {_topic(t) for t in turns})
        if turn is None:
            break
        turns.append(turn)
    return Conversation((scene,), tuple(turns))


def conversations(n: int, seed: int) -> list[Conversation]:
    rng = np.random.default_rng(seed)
    return [random_conversation(rng) for _ in range(n)]


def corpus(n: int, seed: int) -> list[str]:
    """Every question and answer of `conversations(n, seed)`, in order (text to train a tokenizer on)."""
    return [text for c in conversations(n, seed) for t in c.turns for text in (t.question, t.answer)]


# ---------------------------------------------------------------------------------------------
# Scoring

NUMBER_VALUES = {word: i for i, word in enumerate(NUMBERS)}
SINGULAR = {**{k + "s": k for k in KINDS}, "shapes": "shape", "pictures": "picture", "colour": "color"}
POSITIONS = {"left": "left", "right": "right", "middle": "middle", "centre": "middle", "center": "middle"}
MORE = {"first": "first", "second": "second", "both": "same", "same": "same"}
# Which stated set each single-valued fact is checked against.
SLOTS = {"color": "colors", "kind": "kinds", "yes": "yes", "position": "positions", "more": "more"}


def _number(word: str, before: str) -> int | None:
    """A count word's value; 'no' counts as zero after 'is' / 'are' ('there are no squares')."""
    if word == "no" and before in ("is", "are"):
        return 0
    return NUMBER_VALUES.get(word)


def facts_stated(text: str) -> dict[str, Any]:
    """What an answer states, as sets: colors, kinds, counts (every count word), totals (counts of
    "shapes"), yes, positions, more; and shapes, the sorted (colour, kind) pairs it names, with repeats."""
    words = [SINGULAR.get(w, w) for w in re.findall(r"[a-z]+", text.lower())]
    counts: set[int] = set()
    totals: set[int] = set()
    shapes: list[tuple[str, str]] = []
    yes: set[bool] = set()
    for i, word in enumerate(words):
        before, after = words[i - 1] if i else "", words[i + 1] if i + 1 < len(words) else ""
        n = _number(word, before)
        if n is not None:
            counts.add(n)
            if after == "shape":
                totals.add(n)
        elif word in ("yes", "no"):
            yes.add(word == "yes")
        if word in COLORS and after in KINDS:
            many = 0 if before == "no" else NUMBER_VALUES.get(before, 1)
            shapes += [(word, after)] * many
    return {
        "colors": {w for w in words if w in COLORS},
        "kinds": {w for w in words if w in KINDS},
        "counts": counts,
        "totals": totals,
        "shapes": sorted(shapes),
        "yes": yes,
        "positions": {POSITIONS[w] for w in words if w in POSITIONS},
        "more": {MORE[w] for w in words if w in MORE},
    }


def score_turn(answer_text: str, turn: ChatTurn) -> bool:
    """True when the answer states every fact of the turn and no other value for the same slot."""
    said, facts = facts_stated(answer_text), turn.facts
    if "shapes" in facts and said["shapes"] != sorted(facts["shapes"]):
        return False
    if "count" in facts and said["totals" if turn.kind == "describe" else "counts"] != {facts["count"]}:
        return False
    if "counts" in facts and said["counts"] != set(facts["counts"]):
        return False
    return all(said[key] == {facts[slot]} for slot, key in SLOTS.items() if slot in facts)
