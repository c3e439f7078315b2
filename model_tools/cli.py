"""`model-tools`: convert, ask, devices, bench... from the command line.

Bad input gives one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from .runtime.errors import Cancelled, GlimpseError

log = logging.getLogger("glimpse.cli")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-tools", description="Glimpse model tools: BLIP on OpenVINO.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="Hugging Face BLIP (id or folder) -> converted model folder (FP16)")
    p.add_argument("--model", required=True, help="Hugging Face id (Salesforce/blip-vqa-base) or local folder")
    p.add_argument("--out", required=True, type=Path, help="folder to create")
    p.add_argument("--revision", help="branch, tag or commit on the hub")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    p = sub.add_parser("ask", help="answer a question about an image (no question: a caption)")
    p.add_argument("--model", type=Path, help="converted model folder (default: the demo model)")
    p.add_argument("--image", required=True, type=Path)
    p.add_argument("--question", default="", help="leave out for a caption")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8"])
    p.add_argument("--device", default="CPU", help="CPU, GPU, NPU, AUTO... (see `model-tools devices`)")
    p.add_argument("--beams", type=_positive, default=1)
    p.add_argument("--max-new-tokens", type=_positive, default=20)
    p.add_argument("--json", action="store_true", help="print one JSON object (text, token ids, metrics)")

    sub.add_parser("devices", help="list the devices OpenVINO reports")

    p = sub.add_parser("bench", help="benchmark PyTorch eager against our OpenVINO pipeline")
    p.add_argument("--synthetic", choices=["base", "tiny"], required=True,
                   help="base: blip-vqa-base's real configuration with random weights")
    p.add_argument("--runs", type=_positive, default=10)
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--workdir", type=Path, help="where to build the synthetic models (default: a temp folder)")
    p.add_argument("--no-int8", action="store_true", help="skip the INT8 variant")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(COMMANDS[args.command](args) or 0)
    except Cancelled:
        print("Cancelled.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except GlimpseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    def show(p: Any) -> None:
        print(f"[{p.done}/{p.total}] {p.message}", file=sys.stderr)

    convert(args.model, args.out, revision=args.revision, overwrite=args.overwrite, on_progress=show)
    print(args.out)
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from . import library
    from .runtime import ConvertedModel, load, load_image

    image = load_image(args.image)  # fail on a bad picture before compiling anything
    folder = args.model or library.default_model("vqa" if args.question.strip() else "caption")
    model = ConvertedModel.open(folder)
    if not args.question.strip() and model.task == "vqa":
        folder = library.caption_partner(model) or folder
    if model.manifest.get("demo") and not args.json:
        print(f"note: {library.DEMO_NOTE}", file=sys.stderr)
    pipe = load(folder, args.precision, args.device)
    cancel = threading.Event()

    def stream(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    try:
        answer = pipe.ask(
            image,
            args.question,
            max_new_tokens=args.max_new_tokens,
            num_beams=args.beams,
            on_text=None if args.json else stream,
            cancel=cancel,
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if answer.truncated_question:
            print("note: the question was longer than the model allows and was shortened.", file=sys.stderr)
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from .runtime import list_devices

    for dev in list_devices():
        print(f"{dev.id}\t{dev.name}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench, table

    report = run_bench(args.synthetic, runs=args.runs, workdir=args.workdir, int8=not args.no_int8)
    text = json.dumps(report, indent=2)
    print(table(report))
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    else:
        print(text)
    return 0


COMMANDS = {"convert": _cmd_convert, "ask": _cmd_ask, "devices": _cmd_devices, "bench": _cmd_bench}

if __name__ == "__main__":
    sys.exit(main())
