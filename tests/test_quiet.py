"""TensorFlow's native start-up lines never reach the user's terminal; ``--verbose`` shows them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def _tlgeo(*args: str, tmp) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the user's default: no setting
    env.update(PYTHONPATH=str(ROOT), TLGEO_CACHE=str(tmp / "cache"))
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_backbones_prints_no_tensorflow_noise(tmp_path):
    out = _tlgeo("backbones", tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "efficientnet_lite0" in out.stdout
    log = (tmp_path / "cache" / "tensorflow.log").read_text()
    assert "oneDNN" in log or "cuda" in log.lower() or log == ""  # what TensorFlow said is kept, not shown


def test_verbose_shows_the_captured_lines(tmp_path, monkeypatch, capfd):
    from tlgeo.quiet import native_stderr_to_log

    monkeypatch.setenv("TLGEO_CACHE", str(tmp_path / "c"))
    with native_stderr_to_log(verbose=True) as log:
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")
    assert "[tensorflow] I0000 port.cc:153] oneDNN custom operations are on" in capfd.readouterr().err
    assert "oneDNN" in log.read_text()


def test_verbose_is_a_flag_of_every_command():
    from tlgeo.cli import build_parser

    parser = build_parser()
    for argv in (
        ["backbones"],
        ["runs"],
        ["predict", "--run", "r", "--out", "o", "x.tif"],
        ["labels", "roads", "--log", "l", "--out", "o"],
    ):
        assert parser.parse_args([*argv, "--verbose"]).verbose is True
        assert parser.parse_args(["--verbose", *argv]).verbose is True
        assert parser.parse_args(argv).verbose is False


def test_an_error_after_tensorflow_started_is_still_shown(tmp_path):
    """tlgeo's own error line goes to the terminal while fd 2 points at the log."""
    out = _tlgeo(
        "imagenet", "--backbone", "tiny_cnn", str(ROOT / "docs" / "sample_previews" / "road_good.png"), tmp=tmp_path
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "tiny_cnn" in lines[0], out.stderr


def test_native_writes_go_to_the_log_python_writes_to_the_terminal(tmp_path, monkeypatch, capfd):
    from tlgeo.quiet import native_stderr_to_log

    monkeypatch.setenv("TLGEO_CACHE", str(tmp_path / "c"))
    with native_stderr_to_log() as log:
        os.write(2, b"native noise from C++\n")
        print("tlgeo's own line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "native noise" not in err and "tlgeo's own line" in err
    assert "native noise from C++" in log.read_text()
