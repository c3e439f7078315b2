"""`model-tools`: convert, ask, devices, bench... from the command line.

Bad input gives one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_tools.jobs.requests import CompareRequest, ConvertRequest, QuantizeRequest
from model_tools.runtime.errors import Cancelled, GlimpseError, explain

log = logging.getLogger("glimpse.cli")

BLIP_MAX_NEW_TOKENS = 20
CHAT_MAX_NEW_TOKENS = 256  # the chat runtime's own default (runtime.chat.pipeline.DEFAULT_MAX_NEW_TOKENS)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="model-tools", description="Glimpse model tools: BLIP, chat and Segment Anything models on OpenVINO."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="Hugging Face BLIP or LLaVA (id or folder) -> converted model folder (FP16)")
    p.add_argument("--model", required=True, help="Hugging Face id (Salesforce/blip-vqa-base) or local folder")
    p.add_argument("--out", required=True, type=Path, help="folder to create")
    p.add_argument("--revision", help="branch, tag or commit on the hub")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    p = sub.add_parser("ask", help="answer a question about an image (no question: a caption)")
    p.add_argument("--model", type=Path, help="converted model folder, BLIP or chat (default: the demo model)")
    p.add_argument("--image", required=True, type=Path, action="append",
                   help="the picture (a chat model takes several: repeat --image)")
    p.add_argument("--question", default="", help="leave out for a caption (a chat model: a description)")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8", "int4"], help="int4: chat models")
    p.add_argument("--device", default="CPU", help="CPU, GPU, NPU, AUTO... (see `model-tools devices`)")
    p.add_argument("--beams", type=_positive, default=1, help="BLIP only (chat models answer greedily)")
    p.add_argument("--max-new-tokens", type=_positive,
                   help=f"default {BLIP_MAX_NEW_TOKENS} (BLIP), {CHAT_MAX_NEW_TOKENS} (chat)")
    p.add_argument("--exact", action="store_true", help="every part from --precision's own files, at full precision")
    p.add_argument("--json", action="store_true", help="print one JSON object (text, token ids, metrics)")

    p = sub.add_parser("chat", help="a conversation about pictures with a chat model, in the terminal")
    p.add_argument("--model", required=True, type=Path, help="converted or installed chat model folder")
    p.add_argument("--image", type=Path, action="append", default=[],
                   help="a picture for the first message (repeat for several)")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8", "int4"])
    p.add_argument("--device", default="CPU", help="CPU, GPU, NPU, AUTO... (see `model-tools devices`)")
    p.add_argument("--max-new-tokens", type=_positive, default=CHAT_MAX_NEW_TOKENS,
                   help=f"longest answer in tokens (default {CHAT_MAX_NEW_TOKENS})")
    p.add_argument("--exact", action="store_true", help="full precision and an f32 key/value cache")

    p = sub.add_parser("segment", help="cut out what a click or a box points at (Segment Anything): a mask PNG")
    p.add_argument("--model", required=True, type=Path, help="converted Segment Anything model folder")
    p.add_argument("--image", required=True, type=Path, help="the picture")
    p.add_argument("--point", action="append", default=[], metavar="X,Y[:neg]",
                   help="a click in the picture's pixels, on the object (add :neg for one off it); repeat for more")
    p.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box around the object, top left and bottom right")
    p.add_argument("--out", required=True, type=Path, help="the mask PNG to write (white: the object)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8"])
    p.add_argument("--device", default="CPU", help="CPU, GPU, NPU, AUTO... (see `model-tools devices`)")
    p.add_argument("--exact", action="store_true", help="every part from --precision's own files, at full precision")
    p.add_argument("--json", action="store_true", help="print one JSON object (IoU scores, timings, setup)")

    sub.add_parser("devices", help="list the devices OpenVINO reports")

    p = sub.add_parser("doctor", help="CPU features, the precision each model part runs with here, compile cache")
    p.add_argument("--device", default="CPU", help="CPU, GPU, AUTO... (see `model-tools devices`)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("bench", help="benchmark PyTorch eager against our OpenVINO pipeline")
    p.add_argument("--synthetic", choices=["base", "tiny", "llava-small", "slimsam"], required=True,
                   help="base: blip-vqa-base's real configuration with random weights; llava-small: "
                        "llava-interleave-qwen-0.5b's shapes (FP16 / INT8 / INT4 chat pipeline); slimsam: "
                        "nielsr/slimsam-50-uniform's shapes (segment pipeline, FP16 / INT8 encoder)")
    p.add_argument("--runs", type=_positive, help="timed runs (default 10; llava-small 3; slimsam 5)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--workdir", type=Path, help="where to build the synthetic models (default: a temp folder)")
    p.add_argument("--no-int8", action="store_true", help="skip the INT8 variant")

    # Defaults are the requests' own; values are checked when the request is made, so a bad one is a
    # one-line error, worded as the app words it.
    q = QuantizeRequest
    p = sub.add_parser("quantize", help="converted model folder -> int8/ beside fp16/ (NNCF)")
    p.add_argument("--model", required=True, type=Path, help="converted model folder")
    p.add_argument("--calibration", default=q.calibration, help="builtin (default), a folder of pictures or vqav2")
    p.add_argument("--questions", type=Path, help="text file of questions, one a line (with a folder or builtin)")
    p.add_argument("--subset-size", type=int, default=q.subset_size, help=f"calibration samples (default {q.subset_size})")
    p.add_argument("--decoder", default=q.decoder, help="text decoder weights: int8 (default) or int4")
    p.add_argument("--weights", default=q.weights, help="a chat model's weights: int8 (default) or int4 (int4/)")
    p.add_argument("--group-size", type=int, default=q.group_size, help=f"INT4 group size (default {q.group_size})")
    p.add_argument("--ratio", type=float, default=q.ratio, help=f"share of INT4 decoder layers (default {q.ratio})")
    p.add_argument("--preset", default=q.preset, help="mixed (default) or performance")
    p.add_argument("--accuracy-control", action="store_true",
                   help="keep layers in float until answers (a segment model: masks) agree with FP16 within --max-drop")
    p.add_argument("--max-drop", type=float, default=q.max_drop,
                   help=f"allowed drop in agreement (a segment model: in mask IoU; default {q.max_drop})")

    c = CompareRequest
    p = sub.add_parser("compare", help="FP16 against INT8 (or INT4): sizes, latencies, answer agreement")
    p.add_argument("--model", required=True, type=Path, help="converted model folder")
    p.add_argument("--device", default=c.device)
    p.add_argument("--runs", type=int, default=c.runs, help=f"timed answers per precision (default {c.runs})")
    p.add_argument("--images", type=Path, help="folder of pictures (default: the built-in samples)")
    p.add_argument("--questions", type=Path, help="text file of questions, one a line")
    p.add_argument("--baseline", default=c.baseline)
    p.add_argument("--candidate", default=c.candidate, help="int8 (default), or int4 for a chat model")
    p.add_argument("--max-new-tokens", type=int, default=c.max_new_tokens)
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--csv", type=Path, help="write the report as a flat CSV table here")
    p.add_argument("--png", type=Path, help="draw a chart here")
    p = sub.add_parser("profile", help="per-layer times of the vision model, FP16 against INT8 (OpenVINO counters); "
                                       "a chat model: its language model's decode step, per precision")
    p.add_argument("--model", type=Path, required=True, help="converted model folder")
    p.add_argument("--device", default="CPU")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--hint", default="f32", help="INFERENCE_PRECISION_HINT on CPU (f32, bf16, or none)")
    p.add_argument("--context", type=_positive, default=768, help="chat: prompt tokens before the decode steps")
    p.add_argument("--precision", action="append", help="chat: a precision to profile (default: every one)")
    p.add_argument("--json", type=Path, help="write the report here too")

    p = sub.add_parser("demo", help="make the demo models (tiny BLIP and LLaVA trained on generated shapes)")
    demo = p.add_subparsers(dest="demo_command", required=True)
    d = demo.add_parser("train", help="train, convert and quantize the demo models into --out")
    d.add_argument("--family", default="blip", choices=["blip", "chat"],
                   help="blip: the VQA and caption models; chat: the chat model (resumes from --out/chat)")
    d.add_argument("--out", required=True, type=Path,
                   help="folder for hf/, demo-shapes-vqa/, demo-shapes-caption/ (chat: chat/, demo-shapes-chat/)")
    d.add_argument("--steps", type=_positive, help="training steps (blip: 16000 for VQA, captions a third; "
                   "chat: 12000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--batch", type=_positive, help="pictures (blip, 64) or conversations (chat, 32) a step")
    d.add_argument("--minutes", type=float, help="cap the training time (blip: VQA, captions get a third)")
    d = demo.add_parser("convert", help="convert and quantize already trained demo models (--hf folder)")
    d.add_argument("--family", default="blip", choices=["blip", "chat"])
    d.add_argument("--hf", required=True, type=Path,
                   help="folder holding vqa/ and caption/ Hugging Face models (chat: the chat model's folder)")
    d.add_argument("--out", required=True, type=Path)

    p = sub.add_parser("eval", help="accuracy on freshly generated shape pictures (chat: conversations)")
    p.add_argument("--family", default="blip", choices=["blip", "chat"],
                   help="chat: conversations with the demo chat model, each turn scored by the facts it states")
    p.add_argument("--model", type=Path, help="converted model folder (default: the family's demo model)")
    p.add_argument("--set", default="shapes", choices=["shapes"])
    p.add_argument("--n", type=_positive, help="pictures (blip, 500) or conversations (chat, 300)")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8", "int4"])
    p.add_argument("--device", default="CPU")
    p.add_argument("--seed", type=int, help="picture seed (default: one training never used)")
    p.add_argument("--json", type=Path, help="write the result here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from model_tools.jobs.progress import disable_telemetry, stop_on_signals

    disable_telemetry()
    # Ctrl+C and SIGTERM: one line and 128 + the signal, whatever error the interrupted library made of them.
    with stop_on_signals() as stop:
        try:
            return int(COMMANDS[args.command](args) or 0)
        except (Cancelled, KeyboardInterrupt):
            print("Cancelled.", file=sys.stderr)
            return 128 + (stop.signum or 2)
        except Exception as exc:  # noqa: BLE001 - an interrupted import or OpenVINO call fails in its own words
            if stop.signum is not None:
                print("Cancelled.", file=sys.stderr)
                return 128 + stop.signum
            if not isinstance(exc, (GlimpseError, OSError, ValueError)):
                raise
            print(f"error: {_error_line(exc)}", file=sys.stderr)
            return 2


def _error_line(exc: BaseException) -> str:
    """An error in the app's words (what happened, what to do); a bad value is said in its own."""
    return str(exc if isinstance(exc, ValueError) else explain(exc))


def _cmd_convert(args: argparse.Namespace) -> int:
    from model_tools.convert import convert

    def show(p: Any) -> None:
        print(f"[{p.done}/{p.total}] {p.message}", file=sys.stderr, flush=True)

    convert(ConvertRequest(args.model, args.out, revision=args.revision, overwrite=args.overwrite), on_progress=show)
    print(args.out)
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from model_tools.library import store as library
    from model_tools.runtime import ConvertedModel, load_image
    from model_tools.runtime.text import clean_question

    images = [load_image(path) for path in args.image]  # fail on a bad picture before compiling anything
    question = clean_question(args.question)  # undecodable bytes, control characters: see `clean_question`
    folder = args.model or library.default_model("vqa" if question else "caption")
    model = ConvertedModel.open(folder)
    if model.spec.family == "chat":
        return _ask_chat(args, folder, images)
    if model.spec.family == "segment":
        raise GlimpseError(f"{model.name} is a Segment Anything model: it finds shapes, it does not answer.",
                           "Ask a question-answering or chat model (--model).")
    if len(images) > 1:
        raise GlimpseError(f"{model.name} answers about one picture at a time.", "Pass one --image.")
    image = images[0]
    if not question and model.task == "vqa":
        folder = library.caption_partner(model) or folder
    if model.spec.demo and not args.json:
        print(f"note: {library.DEMO_NOTE}", file=sys.stderr)
    pipe = _load_pipe(args, folder)
    answer = _answer(
        pipe, args, image, question, max_new_tokens=args.max_new_tokens or BLIP_MAX_NEW_TOKENS, num_beams=args.beams
    )
    if answer.truncated_question and not args.json:
        print("note: the question was longer than the model allows and was shortened.", file=sys.stderr)
    return 0


def _answer(pipe: Any, args: argparse.Namespace, *ask: Any, **options: Any) -> Any:
    """`pipe.ask(*ask, **options)`, streamed to stdout (or printed as one JSON object with --json); Ctrl+C
    stops the answer."""
    cancel = threading.Event()
    answer = _off_the_main_thread(
        lambda: pipe.ask(*ask, on_text=None if args.json else _stream, cancel=cancel, **options), cancel
    )
    if args.json:
        _print_answer_json(answer, pipe)
    else:
        sys.stdout.write("\n")
    return answer


def _off_the_main_thread(work: Callable[[], Any], cancel: threading.Event) -> Any:
    """`work()` on a worker thread while the main thread waits in Python: signal handlers run only on the main
    thread, and only between Python steps, so a main thread inside genai's generate (whose streamer is called
    from genai's own threads) would never see Ctrl+C. On a KeyboardInterrupt `cancel` is set, the work ends
    (within a few tokens) and the interrupt goes on."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread as it is
            done["error"] = exc

    worker = threading.Thread(target=run, name="glimpse-answer", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        cancel.set()
        worker.join()
        raise
    if "error" in done:
        raise done["error"]
    return done["value"]


def _print_answer_json(answer: Any, pipe: Any) -> None:
    """`ask --json`: the answer (text, token ids, metrics...), the setup it ran with and the files of each part."""
    print(json.dumps({**answer.to_dict(), "setup": pipe.setup_label, "files": pipe.sources}, ensure_ascii=False))


def _stream(chunk: str) -> None:
    sys.stdout.write(chunk)
    sys.stdout.flush()


def _load_pipe(args: argparse.Namespace, folder: Path) -> Any:
    """The pipeline of `folder` with the command's precision, device and exactness; its notes on stderr."""
    from model_tools.runtime import load

    pipe = load(folder, args.precision, args.device, exact=args.exact)
    for note in pipe.notes:
        print(f"note: {note}", file=sys.stderr)
    return pipe


def _ask_chat(args: argparse.Namespace, folder: Path, images: list[Any]) -> int:
    """`ask` with a chat model: one turn about the pictures, streamed (or one JSON object, as for BLIP)."""
    if args.beams != 1:
        raise GlimpseError("A chat model answers greedily, one token at a time.", "Leave out --beams.")
    pipe = _load_pipe(args, folder)
    _answer(pipe, args, images, args.question, max_new_tokens=args.max_new_tokens or CHAT_MAX_NEW_TOKENS)
    return 0


CHAT_HELP = (
    "/image PATH attaches a picture to your next message, /reset starts over, Ctrl+C stops an answer, "
    "Ctrl+D quits."
)


class _ChatSession:
    """`model-tools chat`: lines from stdin, each a message or a command; answers streamed to stdout.

    Messages and errors other than the answers go to stderr, one line each; a bad picture or command is said
    and the conversation goes on. Ctrl+C while an answer is written stops it (the partial answer stays in the
    conversation, as Esc does in the window); at the prompt it quits, as Ctrl+D does.
    runs in: the main thread (the SIGINT handler is Python's, called there).
    """

    def __init__(self, pipe: Any, pictures: list[Path], max_new_tokens: int) -> None:
        self.pipe = pipe
        self.pending = pictures  # attached to the next message
        self.max_new_tokens = max_new_tokens
        self.answering: threading.Event | None = None  # the cancel of the answer being written
        self.interrupted = False  # Ctrl+C came outside an answer: quit

    def on_sigint(self, signum: int, frame: object) -> None:
        if self.answering is not None:
            self.answering.set()  # the streamer stops at the next token
            return
        self.interrupted = True
        raise KeyboardInterrupt

    def run(self, tty: bool) -> int:
        while True:
            try:
                line = input("> ") if tty else sys.stdin.readline()
                if not tty and not line:
                    raise EOFError
                if not self.handle(line.rstrip("\n")):
                    return 0
            except EOFError:
                if tty:
                    print(file=sys.stderr)  # end the prompt's line
                return 0
            except KeyboardInterrupt:
                if not self.interrupted:
                    raise  # SIGTERM (stop_on_signals): "Cancelled." and 128 + the signal
                print(file=sys.stderr)
                return 0

    def handle(self, line: str) -> bool:
        """One line: a command or a message. False: quit."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self.command(*text.partition(" ")[::2])
        self.answer(line)
        return True

    def command(self, name: str, rest: str) -> bool:
        if name == "/image":
            self.attach(rest.strip())
        elif name == "/reset":
            self.pipe.reset()
            self.pending = []
            _say("New conversation.")
        elif name in ("/quit", "/exit"):
            return False
        elif name == "/help":
            _say(CHAT_HELP)
        else:
            _say(f"Unknown command {name}. {CHAT_HELP}")
        return True

    def attach(self, path_text: str) -> None:
        from model_tools.runtime import load_image

        path_text = path_text.strip().strip("'\"")  # a path dropped into a terminal comes quoted
        if not path_text:
            _say("Which picture? /image PATH")
            return
        path = Path(path_text).expanduser()
        try:
            load_image(path)  # a bad picture is said now, not when the message is sent
        except (GlimpseError, OSError, ValueError) as exc:
            _say(f"error: {_error_line(exc)}")
            return
        self.pending.append(path)
        count = f" ({len(self.pending)} pictures)" if len(self.pending) > 1 else ""
        _say(f"Attached {path.name} to your next message{count}.")

    def answer(self, text: str) -> None:
        pictures, self.pending = self.pending, []
        self.answering = threading.Event()
        try:
            cancel = self.answering
            answer = _off_the_main_thread(
                lambda: self.pipe.ask(pictures or None, text, max_new_tokens=self.max_new_tokens, on_text=_stream,
                                      cancel=cancel),
                cancel,
            )
        except (GlimpseError, OSError, ValueError, RuntimeError) as exc:
            sys.stdout.flush()
            _say(f"error: {_error_line(exc)}")
            return
        finally:
            self.answering = None
        sys.stdout.write("\n")
        sys.stdout.flush()
        if answer.cancelled:
            _say("(stopped)")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cmd_chat(args: argparse.Namespace) -> int:
    import signal

    from model_tools.runtime import ConvertedModel, load_image

    pictures = [path.expanduser() for path in args.image]
    for path in pictures:
        load_image(path)  # fail on a bad picture before compiling anything
    model = ConvertedModel.open(args.model)
    if model.spec.family != "chat":
        raise GlimpseError(
            f"{model.name} is a {model.spec.family.upper()} model: it answers one question about one picture "
            "and cannot hold a conversation.",
            f"Ask it with `model-tools ask --model {args.model} --image PICTURE --question ...`, "
            "or choose a chat model.",
        )
    pipe = _load_pipe(args, model.path)
    tty = sys.stdin.isatty()
    if tty:
        _say(f"{model.name} ({pipe.setup_label}). {CHAT_HELP}")
    session = _ChatSession(pipe, pictures, args.max_new_tokens)
    previous = signal.signal(signal.SIGINT, session.on_sigint)
    try:
        return session.run(tty)
    finally:
        signal.signal(signal.SIGINT, previous)


def _cmd_segment(args: argparse.Namespace) -> int:
    """The best of the three masks for the prompt, as a black and white PNG the picture's size."""
    from PIL import Image

    from model_tools.runtime import ConvertedModel, load_image
    from model_tools.runtime.segment.pipeline import load

    points = [_point(text) for text in args.point]
    box = None
    if args.box:
        x0, y0, x1, y1 = _numbers(args.box, 4, "--box X0,Y0,X1,Y1")
        box = (x0, y0, x1, y1)
    if not points and box is None:
        raise GlimpseError("Nothing to segment: no point and no box.", "Give --point X,Y or --box X0,Y0,X1,Y1.")
    if args.out.suffix.lower() != ".png":
        raise GlimpseError(f"The mask is written as a PNG, not {args.out.name}.", "Give --out a .png name.")
    if args.out.exists() and not args.force:
        raise GlimpseError(f"{args.out} already exists.", "Choose another --out, or add --force to replace it.")
    if not args.out.parent.is_dir():
        raise GlimpseError(f"There is no folder {args.out.parent} to write the mask in.", "Create it first.")
    image = load_image(args.image)  # a bad picture fails before compiling anything
    for x, y in [xy for xy, _ in points] + ([box[:2], box[2:]] if box else []):
        if not (0 <= x <= image.width and 0 <= y <= image.height):
            raise GlimpseError(f"The point {x:g},{y:g} is outside the picture ({image.width} x {image.height} "
                               "pixels).", "Give x from 0 to the width and y from 0 to the height.")
    if box and not (box[0] < box[2] and box[1] < box[3]):
        raise GlimpseError(f"The box {args.box} is empty.", "Give its top left corner, then its bottom right.")
    model = ConvertedModel.open(args.model)
    if model.spec.family != "segment":
        raise GlimpseError(f"{model.name} is a {model.spec.family.upper()} model: it answers, it does not find "
                           "shapes.", "Choose a Segment Anything model (--model).")
    pipe = load(model.path, args.precision, args.device, exact=args.exact)
    for note in pipe.notes:
        print(f"note: {note}", file=sys.stderr)
    embedding = pipe.encode(image)
    masks = pipe.segment(embedding, [xy for xy, _ in points], [label for _, label in points], box)
    mask = masks.best_mask
    with open(args.out, "wb" if args.force else "xb") as fh:  # xb: a file that appeared meanwhile is kept
        Image.fromarray(mask.astype("uint8") * 255, "L").save(fh, format="PNG")
    timings = {"preprocess": embedding.preprocess_ms, "encoder": embedding.encoder_ms,
               "decoder": masks.decoder_ms, "upsample": masks.upsample_ms}
    scores = [round(float(v), 4) for v in masks.iou]
    result = {
        "out": str(args.out),
        "size": [image.width, image.height],
        "best": masks.best,
        "iou": scores,
        "pixels": int(mask.sum()),
        "timings_ms": {name: round(ms, 2) for name, ms in timings.items()},
        "load_s": round(pipe.load_s, 2),
        "setup": pipe.setup_label,
        "files": pipe.sources,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{args.out}: mask {masks.best + 1} of 3, {int(mask.sum())} of {mask.size} pixels")
    print(f"IoU scores: {' '.join(f'{v:.3f}' for v in scores)}")
    print(f"encoder {timings['encoder']:.1f} ms, decoder {timings['decoder']:.1f} ms ({pipe.setup_label})")
    return 0


def _point(text: str) -> tuple[tuple[float, float], int]:
    """--point "x,y" (on the object) or "x,y:neg" (off it): ((x, y), label)."""
    from model_tools.runtime.segment import NEGATIVE, POSITIVE

    xy, _, kind = text.partition(":")
    if kind.strip().lower() not in ("", "pos", "neg"):
        raise GlimpseError(f"Unknown point kind {kind!r} in --point {text}.", "Write X,Y or X,Y:neg.")
    x, y = _numbers(xy, 2, "--point X,Y or X,Y:neg")
    return (x, y), NEGATIVE if kind.strip().lower() == "neg" else POSITIVE


def _numbers(text: str, count: int, form: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise GlimpseError(f"{text!r} is not {count} numbers.", f"Write {form}.")
    return values


def _cmd_devices(args: argparse.Namespace) -> int:
    from model_tools.runtime import list_devices

    for dev in list_devices():
        print(f"{dev.id}\t{dev.name}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    import openvino as ov

    from model_tools.runtime import check_device
    from model_tools.runtime import precision as policy
    from model_tools.runtime.compile_cache import cache_root

    device = check_device(args.device)
    report: dict[str, Any] = {"openvino": ov.get_version(), "device": device, **policy.report(device)}
    cache = cache_root()
    blobs = list(cache.glob("*/*.blob")) if cache.is_dir() else []
    existing = next(d for d in (cache, *cache.parents) if d.exists())
    writable = existing.is_dir() and os.access(existing, os.W_OK)
    report["compile_cache"] = {
        "path": str(cache),
        "writable": writable,
        "parts_cached": len({b.parent for b in blobs}),
        "compiled_blobs": len(blobs),
        "mb": round(sum(b.stat().st_size for b in blobs) / 2**20, 1),
        "keyed_by": "sha256 of each part's .xml and .bin (a folder per content)",
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"OpenVINO {report['openvino']} on {device}")
    print(f"CPU flags: {' '.join(report['cpu_flags']) or '(none of note)'}")
    for name, hw in report["devices"].items():
        print(f"{name}: capabilities {', '.join(hw['capabilities'])}; bf16 {hw['bf16']}, int8 dot products {hw['int8_dot']}")
    for precision, rules in report["policy"].items():
        print(f"{precision.upper()}: {rules.pop('label')}")
        for part, rule in rules.items():
            print(f"  {part}: {rule}")
    c = report["compile_cache"]
    state = "writable" if c["writable"] else "NOT writable: models compile at every load"
    print(f"compile cache: {c['path']} ({state}); {c['parts_cached']} parts, {c['mb']} MB")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.synthetic == "llava-small":  # workdir default: the scratch folder, kept for the next run
        from model_tools.measure.bench_chat import PRECISIONS, RUNS, run_bench, table

        precisions = tuple(p for p in PRECISIONS if not (args.no_int8 and p == "int8"))
        report = run_bench(args.synthetic, runs=args.runs or RUNS, workdir=args.workdir, precisions=precisions)
    elif args.synthetic == "slimsam":  # workdir default: the scratch folder, kept for the next run
        from model_tools.measure import bench_segment

        precisions = ("fp16",) if args.no_int8 else bench_segment.PRECISIONS
        report = bench_segment.run_bench(
            args.synthetic, runs=args.runs or bench_segment.RUNS, workdir=args.workdir, precisions=precisions
        )
        table = bench_segment.table
    else:
        from model_tools.measure.bench import run_bench, table  # type: ignore[assignment]

        report = run_bench(args.synthetic, runs=args.runs or 10, workdir=args.workdir, int8=not args.no_int8)
    print(table(report))
    _write_or_print(report, args.json)
    if args.json:
        print(f"\nJSON written to {args.json}")
    return 0


def _progress_printer() -> Any:
    """Progress on stderr: a line per stage, and per sample at most every second."""
    import time

    last_stage, last_t = [""], [0.0]

    def show(p: Any) -> None:
        now = time.monotonic()
        if p.stage != last_stage[0] or now - last_t[0] >= 1.0 or (p.total and p.done >= p.total):
            count = f" {p.done}/{p.total} {p.unit}" if p.total else ""
            print(f"[{p.stage}]{count} {p.message}".rstrip(), file=sys.stderr, flush=True)
            last_stage[0], last_t[0] = p.stage, now

    return show


def _cmd_quantize(args: argparse.Namespace) -> int:
    from model_tools.quantize import quantize

    request = QuantizeRequest(
        args.model,
        calibration=args.calibration,
        subset_size=args.subset_size,
        decoder=args.decoder,
        preset=args.preset,
        accuracy_control=args.accuracy_control,
        max_drop=args.max_drop,
        group_size=args.group_size,
        ratio=args.ratio,
        questions=args.questions,
        weights=args.weights,
    )
    print(quantize(request, on_progress=_progress_printer()).int8)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from model_tools.library.compare_report import write_csv, write_json
    from model_tools.measure.compare import compare, save_chart, summary

    request = CompareRequest(
        args.model,
        args.device,
        args.runs,
        args.images,
        baseline=args.baseline,
        candidate=args.candidate,
        max_new_tokens=args.max_new_tokens,
        questions=args.questions,
    )
    result = compare(request, on_progress=_progress_printer())
    if args.json:
        write_json(result.to_dict(), args.json)
    if args.csv:
        write_csv(result.to_dict(), args.csv)
    if args.png:
        save_chart(result, args.png)
    print(summary(result))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from model_tools.demo.build import convert_and_quantize, train_demo

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.family == "chat":
        from model_tools.demo.build import convert_chat, train_chat_demo

        if args.demo_command == "train":
            made = train_chat_demo(args.out, steps=args.steps or 12000, seed=args.seed, batch=args.batch or 32,
                                   minutes=args.minutes, log=log)
        else:
            made = {"chat": convert_chat(args.hf, args.out, log=log)}
    elif args.demo_command == "train":
        made = train_demo(args.out, steps=args.steps or 16000, seed=args.seed, batch=args.batch or 64,
                          minutes=args.minutes, log=log)
    else:
        made = convert_and_quantize(args.hf, args.out, log=log)
    for folder in made.values():
        print(folder)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from model_tools.demo.evaluate import HELDOUT_SEED, evaluate, format_result
    from model_tools.library import store as library
    from model_tools.runtime import ConvertedModel, load

    if args.family == "chat":
        return _eval_chat(args)
    if args.precision == "int4":
        raise GlimpseError("The BLIP demo has no INT4 files.", "Use --precision fp16 or int8 (int4: --family chat).")
    folder = args.model or library.default_model("vqa")
    model = ConvertedModel.open(folder)
    # Pure INT8 files: the point is what quantization does to accuracy.
    vqa = load(folder, args.precision, args.device, exact=True) if model.task == "vqa" else None
    partner = library.caption_partner(model)
    cap = load(partner, args.precision, args.device, exact=True) if partner else None

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            print(f"[{done}/{total}] pictures", file=sys.stderr, flush=True)

    result = evaluate(
        (lambda image, q: vqa.ask(image, q, max_new_tokens=5).text) if vqa else None,
        (lambda image: cap.caption(image, max_new_tokens=20).text) if cap else None,
        n=args.n or 500,
        seed=HELDOUT_SEED if args.seed is None else args.seed,
        progress=progress,
    )
    result.update(model=str(folder), precision=args.precision, device=args.device)
    print(format_result(result))
    _write_or_print(result, args.json)
    return 0


def _write_or_print(report: dict[str, Any], path: Path | None) -> None:
    """A command's JSON report: into `path` (--json), else on stdout."""
    text = json.dumps(report, indent=2)
    if path:
        path.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


def _eval_chat(args: argparse.Namespace) -> int:
    from model_tools.demo.chat_evaluate import EVAL_SEED, evaluate_chat, format_chat_result
    from model_tools.library import store as library

    folder = args.model or library.DEMO_CHAT
    result = evaluate_chat(folder, args.n or 300, args.precision, device=args.device,
                           seed=EVAL_SEED if args.seed is None else args.seed,
                           log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(format_chat_result(result))
    _write_or_print(result, args.json)
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from model_tools.measure.profile import profile_decode, profile_vision
    from model_tools.runtime import ConvertedModel

    if ConvertedModel.open(args.model).spec.family == "chat":
        report = profile_decode(args.model, args.device, context=args.context,
                                precisions=tuple(args.precision) if args.precision else None)
    else:
        hint = None if args.hint.lower() == "none" else args.hint
        report = profile_vision(args.model, args.device, args.runs, hint)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


COMMANDS = {
    "convert": _cmd_convert,
    "ask": _cmd_ask,
    "chat": _cmd_chat,
    "segment": _cmd_segment,
    "devices": _cmd_devices,
    "doctor": _cmd_doctor,
    "bench": _cmd_bench,
    "quantize": _cmd_quantize,
    "demo": _cmd_demo,
    "eval": _cmd_eval,
    "compare": _cmd_compare,
    "profile": _cmd_profile,
}

if __name__ == "__main__":
    sys.exit(main())
