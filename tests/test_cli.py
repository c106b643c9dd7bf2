"""The CLI: help, doctor, errors as one line with exit status 2 (never a traceback)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, write_geotiff


def tlgeo(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw
    )


def test_help_lists_every_command():
    out = tlgeo("--help")
    assert out.returncode == 0
    for cmd in ("sample", "doctor", "backbones", "imagenet", "labels", "train", "compare", "runs", "predict"):
        assert cmd in out.stdout


def test_doctor_reports_devices_and_cache(tmp_path):
    out = tlgeo("doctor", env={**__import__("os").environ, "TLGEO_CACHE": str(tmp_path / "c")})
    assert out.returncode == 0, out.stderr
    assert "tensorflow" in out.stdout and "devices" in out.stdout
    assert str(tmp_path / "c") in out.stdout


def test_train_bad_input_is_one_line(tmp_path, rng):
    out = tlgeo("train", "--data", str(tmp_path / "nope"), "--backbone", "tiny_cnn")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: Task folder")
    assert "Traceback" not in out.stderr
    out = tlgeo("train", "--data", str(tmp_path), "--backbone", "efficientnet_lite9")
    assert out.returncode == 2 and "Unknown backbone 'efficientnet_lite9'" in out.stderr
    (tmp_path / "imagery").mkdir()
    write_geotiff(tmp_path / "imagery" / "a.tif", rng.integers(0, 255, size=(4, 64, 64), dtype="uint8"))
    (tmp_path / "vibration").mkdir()
    out = tlgeo("train", "--data", str(tmp_path), "--backbone", "tiny_cnn", "--strategy", "finetune")
    assert out.returncode == 2 and "Unknown strategy 'finetune'" in out.stderr and "Traceback" not in out.stderr


def test_runs_lists_nothing_in_an_empty_folder(tmp_path):
    out = tlgeo("runs", "--runs", str(tmp_path))
    assert out.returncode == 0 and "(nothing)" in out.stdout
