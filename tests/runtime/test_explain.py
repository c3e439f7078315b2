"""One vocabulary for errors: `explain` words any exception the same for the window, the job wire and the CLI,
and an error rebuilt from the job process reads as the original did. No Qt here."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from model_tools.jobs import wire as job_wire
from model_tools.runtime.errors import (
    Cancelled,
    ConversionError,
    CorruptModelError,
    DeviceUnavailableError,
    Explanation,
    GlimpseError,
    ImageError,
    ModelNotFoundError,
    attach_traceback,
    explain,
    is_user_mistake,
    traceback_of,
)

TRY_AGAIN = "Try again; if it keeps happening, copy the details into a bug report."
OTHER_DEVICE = "Try another device or precision (CPU always works)."


def raised(action) -> BaseException:
    """The exception `action()` really raises."""
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def disk_full() -> OSError:
    """A real ENOSPC: writing to /dev/full, where the system has one."""
    if not Path("/dev/full").exists():
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/dev/full")

    def write() -> None:
        with open("/dev/full", "w") as fh:
            fh.write("x")

    exc = raised(write)
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    return exc


def not_allowed(tmp_path: Path) -> PermissionError:
    """A real EACCES where the user is not root; the same error, made by hand, where it is."""
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        locked.read_text()
    except PermissionError as exc:
        return exc
    finally:
        locked.chmod(0o600)
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(locked))  # root reads anything


def openvino_error() -> RuntimeError:
    """What OpenVINO itself raises for a device it does not have: a nested C++ message."""
    import openvino as ov

    core = ov.Core()
    exc = raised(lambda: core.compile_model(ov.Model([], []), "TPU"))
    assert isinstance(exc, RuntimeError) and str(exc).startswith("Exception from src/")
    return exc


def test_glimpse_errors_say_their_own_message_and_fix():
    assert explain(ModelNotFoundError("No model folder at /m.", "Convert one.")) == (
        "No model folder at /m.",
        "Convert one.",
    )
    assert explain(DeviceUnavailableError("GPU is not available.", "Choose CPU.")) == Explanation(
        "GPU is not available.", "Choose CPU."
    )
    assert explain(ImageError("notes.png is not a picture.")) == ("notes.png is not a picture.", "")
    assert explain(Cancelled()) == ("Cancelled.", "")
    # One line for a shell: message then fix, as str() of the error itself says it.
    exc = ConversionError("Not BLIP.", "Use a BLIP model.")
    assert str(explain(exc)) == str(exc) == "Not BLIP. Use a BLIP model."
    assert str(explain(ImageError("Unreadable."))) == "Unreadable."


def test_os_errors(tmp_path):
    assert explain(disk_full()) == (
        "A file could not be read or written: No space left on device.",
        "Check the disk and the path, then try again.",
    )
    locked = not_allowed(tmp_path)
    assert explain(locked) == (f"Glimpse is not allowed to use {locked.filename}.", "Check the file's permissions.")
    missing = raised(lambda: (tmp_path / "gone.png").read_bytes())
    assert explain(missing) == (
        f"{tmp_path / 'gone.png'} does not exist.",
        "Check the path, or choose another file.",
    )
    assert explain(PermissionError("no")) == ("Glimpse is not allowed to use a file.", "Check the file's permissions.")


def test_memory_error():
    assert explain(MemoryError()) == (
        "Glimpse ran out of memory.",
        "Close other programs, or choose an INT8 or smaller model.",
    )


def test_openvino_errors_say_their_cause_not_where_in_cpp():
    assert explain(openvino_error()) == (
        'OpenVINO reported an error: Device with "TPU" name is not registered in the OpenVINO Runtime',
        OTHER_DEVICE,
    )
    full_disk = RuntimeError(
        "Exception from src/core/src/pass/serialize.cpp:1384:\nbasic_ios::clear: iostream error\n"
    )
    assert explain(full_disk) == ("OpenVINO reported an error: basic_ios::clear: iostream error", OTHER_DEVICE)
    one_line = RuntimeError("Exception from src/inference/src/infer_request.cpp: simulated OpenVINO failure")
    assert explain(one_line).message == f"OpenVINO reported an error: {one_line}"
    assert explain(RuntimeError("openvino: plugin crashed\nmore")).message == (
        "OpenVINO reported an error: openvino: plugin crashed"
    )


def test_anything_else_is_named_with_its_first_line():
    assert explain(KeyError("x")) == ("Something went wrong: KeyError: 'x'.", TRY_AGAIN)
    assert explain(ValueError("bad\nvalue")) == ("Something went wrong: ValueError: bad.", TRY_AGAIN)
    assert explain(RuntimeError()) == ("Something went wrong: RuntimeError.", TRY_AGAIN)


def test_user_mistakes_are_not_bugs():
    assert is_user_mistake(ImageError("x")) and is_user_mistake(FileNotFoundError("x"))
    assert is_user_mistake(PermissionError("x"))
    assert not is_user_mistake(RuntimeError("boom")) and not is_user_mistake(MemoryError())


def test_one_traceback_attribute():
    exc = ValueError("x")
    assert traceback_of(exc) == ""
    assert attach_traceback(exc, "") is exc and traceback_of(exc) == ""
    attach_traceback(exc, "Traceback (in the job)")
    attach_traceback(exc, "Traceback (in the worker that passed it on)")
    assert traceback_of(exc) == "Traceback (in the job)"  # the first, nearest the cause, stays


# -- across the job process ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        ConversionError("Not BLIP.", "Use BLIP."),
        CorruptModelError("Broken.", "Convert again."),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"),
        MemoryError(),
    ],
)
def test_errors_cross_the_process_boundary_as_themselves(exc):
    back = job_wire.error_from_record(job_wire.error_record(exc, "Traceback (in the job)"))
    assert type(back) is type(exc)
    assert explain(back) == explain(exc)
    assert traceback_of(back) == "Traceback (in the job)"


def test_other_errors_keep_their_sentence():
    class QuantizationError(GlimpseError):
        pass

    back = job_wire.error_from_record(job_wire.error_record(QuantizationError("No pictures.", "Add some.")))
    assert isinstance(back, job_wire.JobFailedError) and back.kind == "QuantizationError"
    assert explain(back) == ("No pictures.", "Add some.")
    unknown = job_wire.error_from_record(job_wire.error_record(KeyError("x")))
    assert explain(unknown)[0] == "Something went wrong: KeyError: 'x'."
    assert isinstance(job_wire.error_from_record(job_wire.error_record(Cancelled())), Cancelled)


def test_real_errors_read_the_same_after_the_wire(tmp_path):
    class QuantizationError(GlimpseError):
        pass

    for exc in (
        disk_full(),
        not_allowed(tmp_path),
        raised(lambda: (tmp_path / "gone").read_text()),
        MemoryError(),
        openvino_error(),
        RuntimeError("Exception from src/core/src/pass/serialize.cpp:1384:\nbasic_ios::clear: iostream error\n"),
        KeyError("x"),
        ModelNotFoundError("No model folder at /m.", "Convert one."),
        ImageError("Not a picture."),
        QuantizationError("No pictures.", "Add some."),
    ):
        record = job_wire.decode(job_wire.encode({"event": "failed", "error": job_wire.error_record(exc, "tb")}))
        back = job_wire.error_from_record(record["error"])
        assert explain(back) == explain(exc), exc
        assert traceback_of(back) == "tb"


def test_the_cli_says_errors_in_the_same_words(monkeypatch, capsys, tmp_path):
    """`model-tools` prints `explain`'s sentence and fix on one line; a bad value in its own words."""
    from model_tools import cli

    for exc, line in (
        (disk_full(), "error: " + str(explain(disk_full()))),
        (ModelNotFoundError("No model folder at /m.", "Convert one."), "error: No model folder at /m. Convert one."),
        (ValueError("--runs must be positive"), "error: --runs must be positive"),
    ):

        def fail(args, exc=exc):
            raise exc

        monkeypatch.setitem(cli.COMMANDS, "devices", fail)
        assert cli.main(["devices"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [line]
    assert "No space left on device. Check the disk" in str(explain(disk_full()))
