"""Every bench script runs in CI in its tiny ``--smoke`` mode, so none can crash again unnoticed.

Bench scripts are discovered (``bench/*.py``): a new script is covered as soon as it exists.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCHES = sorted((ROOT / "bench").glob("*.py"))


def test_there_are_bench_scripts():
    assert len(BENCHES) >= 4, BENCHES


@pytest.mark.parametrize("script", BENCHES, ids=lambda p: p.name)
def test_bench_smoke(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLGEO_CACHE": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(script), "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"{script.name} --smoke failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr
    assert out.stdout.strip(), f"{script.name} --smoke printed nothing"
