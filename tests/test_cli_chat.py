"""`model-tools ask` and `model-tools chat` with a chat model, run as a user runs them: in a subprocess, fed
through stdin, stopped with SIGINT. The answers are checked token for token against the chat pipeline's own."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from model_tools.runtime import load
from model_tools.runtime.model_folder import MANIFEST, file_record

Q1, Q2 = "what is in the picture?", "what color is the shape?"
TOKENS = 12
TIMEOUT_S = 120
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # a random model writes any character


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[bytes]:
    """The command's output as bytes: an answer may hold a carriage return that text mode would turn."""
    return subprocess.run(
        [sys.executable, "-m", "model_tools.cli", *args],
        input=stdin.encode(),
        capture_output=True,
        timeout=TIMEOUT_S,
        env=ENV,
    )


def text(data: bytes) -> str:
    return data.decode("utf-8")


@pytest.fixture(scope="module")
def picture(tmp_path_factory, images):
    path = tmp_path_factory.mktemp("chat-pics") / "p.png"
    images[0].save(path)
    return path


@pytest.fixture(scope="module")
def pipe(tiny_chat_model):
    """The chat pipeline in this process, as the CLI loads it with --exact."""
    return load(tiny_chat_model, exact=True)


@pytest.fixture(scope="module")
def endless_chat_model(tiny_chat_model, tmp_path_factory):
    """The tiny chat model with an end token it never writes: its answers run to --max-new-tokens."""
    folder = tmp_path_factory.mktemp("endless") / "endless-llava"
    shutil.copytree(tiny_chat_model, folder)
    rel = "fp16/generation_config.json"
    config = json.loads((folder / rel).read_text(encoding="utf-8"))
    config["eos_token_id"] = 10**6  # beyond the vocabulary
    (folder / rel).write_text(json.dumps(config), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["precisions"]["fp16"]["files"][rel] = file_record(folder, rel)
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_ask_json_is_the_pipelines_own_answer(tiny_chat_model, pipe, picture):
    pipe.reset()
    expected = pipe.ask(picture, Q1, max_new_tokens=TOKENS)
    out = cli("ask", "--model", str(tiny_chat_model), "--image", str(picture), "--question", Q1,
              "--max-new-tokens", str(TOKENS), "--exact", "--json")
    assert out.returncode == 0, text(out.stderr)
    data = json.loads(text(out.stdout))
    # The object BLIP's --json gives: the answer, its setup and the files each part ran from.
    assert set(data) == {*expected.to_dict(), "setup", "files"}
    assert set(data["metrics"]) == set(expected.to_dict()["metrics"])
    assert data["token_ids"] == expected.token_ids and data["text"] == expected.text
    assert data["metrics"]["new_tokens"] == len(expected.token_ids) and data["metrics"]["ttft_s"] > 0
    assert (data["task"], data["precision"], data["device"], data["question"]) == ("chat", "fp16", "CPU", Q1)
    assert data["setup"] == pipe.setup_label and data["files"] == pipe.sources


def test_ask_streams_the_answer_and_takes_several_pictures(tiny_chat_model, pipe, picture, images, tmp_path):
    second = tmp_path / "second.png"
    images[1].save(second)
    pipe.reset()
    expected = pipe.ask([picture, second], "", max_new_tokens=TOKENS)  # no words: a description
    out = cli("ask", "--model", str(tiny_chat_model), "--image", str(picture), "--image", str(second),
              "--max-new-tokens", str(TOKENS), "--exact")
    assert out.returncode == 0, text(out.stderr)
    assert text(out.stdout) == expected.text + "\n"


def test_a_two_turn_conversation_remembers_the_first_turn(tiny_chat_model, pipe, picture):
    pipe.reset()
    first = pipe.ask(picture, Q1, max_new_tokens=TOKENS)
    second = pipe.ask(None, Q2, max_new_tokens=TOKENS)
    pipe.reset()
    alone = pipe.ask(None, Q2, max_new_tokens=TOKENS)
    assert second.token_ids != alone.token_ids  # the history matters to the model, so the check below means it
    out = cli("chat", "--model", str(tiny_chat_model), "--image", str(picture), "--exact",
              "--max-new-tokens", str(TOKENS), stdin=f"{Q1}\n{Q2}\n")
    assert out.returncode == 0, text(out.stderr)  # the end of input quits cleanly
    assert text(out.stdout) == f"{first.text}\n{second.text}\n"
    assert "Traceback" not in text(out.stderr)


def test_a_missing_picture_or_unknown_command_is_one_line_and_the_conversation_goes_on(tiny_chat_model, pipe):
    pipe.reset()
    expected = pipe.ask(None, Q1, max_new_tokens=TOKENS)
    stdin = f"/image /nonexistent/cat.png\n/frobnicate\n\n{Q1}\n"
    out = cli("chat", "--model", str(tiny_chat_model), "--exact", "--max-new-tokens", str(TOKENS), stdin=stdin)
    assert out.returncode == 0, text(out.stderr)
    err = text(out.stderr).splitlines()
    assert any("cat.png" in line and "not found" in line for line in err)
    assert any("Unknown command /frobnicate" in line and "/image PATH" in line for line in err)
    assert "Traceback" not in text(out.stderr)
    assert text(out.stdout) == expected.text + "\n"  # asked without the picture that was not there


def test_reset_starts_over(tiny_chat_model, pipe):
    pipe.reset()
    expected = pipe.ask(None, Q2, max_new_tokens=TOKENS)
    out = cli("chat", "--model", str(tiny_chat_model), "--exact", "--max-new-tokens", str(TOKENS),
              stdin=f"{Q1}\n/reset\n{Q2}\n")
    assert out.returncode == 0, text(out.stderr)
    assert text(out.stdout).endswith(expected.text + "\n")
    assert "New conversation." in text(out.stderr)


def test_end_of_input_at_once_quits_cleanly(tiny_chat_model):
    out = cli("chat", "--model", str(tiny_chat_model))
    assert (out.returncode, out.stdout) == (0, b""), text(out.stderr)
    assert "Traceback" not in text(out.stderr)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--precision", "int4"], "has no INT4 version"),
        (["--beams", "2"], "Leave out --beams"),
        (["--image", "/nonexistent/cat.png"], "not found"),
    ],
)
def test_bad_ask_input_is_one_line(tiny_chat_model, picture, args, needle):
    out = cli("ask", "--model", str(tiny_chat_model), "--image", str(picture), "--question", Q1, *args)
    err = text(out.stderr).strip()
    assert out.returncode == 2 and needle in err and len(err.splitlines()) == 1, err


def test_a_blip_model_is_sent_to_ask(tiny_models):
    out = cli("chat", "--model", str(tiny_models["vqa"]))
    assert out.returncode == 2
    err = text(out.stderr).strip()
    assert len(err.splitlines()) == 1 and "cannot hold a conversation" in err and "model-tools ask" in err


class Output:
    """A pipe read on its own thread: what came so far, and waiting for more."""

    def __init__(self, stream) -> None:
        self.data = b""
        self._chunks: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for chunk in iter(lambda: os.read(stream.fileno(), 4096), b""):
            self._chunks.put(chunk)

    def wait_for(self, found, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not found(self.data):
            try:
                self.data += self._chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} within {TIMEOUT_S} s; got {self.data[-300:]!r}") from None


def test_ctrl_c_stops_the_answer_and_the_conversation_goes_on(endless_chat_model):
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_tools.cli", "chat", "--model", str(endless_chat_model), "--exact",
         "--max-new-tokens", "1000000"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )
    out, err = Output(proc.stdout), Output(proc.stderr)
    try:
        for turn, question in enumerate(["a", "tell me more"], start=1):
            proc.stdin.write(f"{question}\n".encode())
            proc.stdin.flush()
            before = len(out.data)
            out.wait_for(lambda data, n=before: len(data) > n, "first chunk of the answer")
            proc.send_signal(signal.SIGINT)
            err.wait_for(lambda data, n=turn: data.count(b"(stopped)") == n, "stop")
            out.wait_for(lambda data: data.endswith(b"\n"), "end of the stopped answer")
            assert proc.poll() is None, "Ctrl+C during an answer quit the conversation"
        proc.stdin.close()  # Ctrl+D
        assert proc.wait(timeout=TIMEOUT_S) == 0, text(err.data)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in text(err.data) and "Cancelled" not in text(err.data)


def test_the_cli_default_answer_length_is_the_runtimes():
    from model_tools.cli import CHAT_MAX_NEW_TOKENS
    from model_tools.runtime.chat.pipeline import DEFAULT_MAX_NEW_TOKENS

    assert CHAT_MAX_NEW_TOKENS == DEFAULT_MAX_NEW_TOKENS
