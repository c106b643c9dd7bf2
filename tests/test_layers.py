"""Layering (DESIGN §2): labels, splits and viz load without Keras, TensorFlow or streamlit; only tlgeo.ui imports
streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("keras", "tensorflow", "streamlit")


@pytest.mark.parametrize(
    "module",
    ["tlgeo.labels", "tlgeo.labels.roads", "tlgeo.labels.villages", "tlgeo.splits", "tlgeo.viz", "tlgeo.viz.values"],
)
def test_light_modules_import_no_framework(module):
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_tlgeo_ui_imports_streamlit():
    package = ROOT / "tlgeo"
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted(package.rglob("*.py"))
        if "streamlit" in _imports(p) and (package / "ui") not in p.parents
    ]
    assert offenders == []
    assert "streamlit" in _imports(package / "ui" / "widgets.py")


def test_pages_stay_thin():
    """Pages compose tlgeo.ui and tlgeo.viz; IO and Keras stay in the library."""
    for page in sorted((ROOT / "pages").glob("*.py")):
        text = page.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 200, f"{page.name} is long: move logic into tlgeo/"
        for forbidden in ("rasterio.open", ".to_file(", "keras.", "import tensorflow"):
            assert forbidden not in text, f"{page.name} uses {forbidden}"


def _imported_modules(path) -> set[str]:
    """Full dotted names imported by a file (``import a.b``, ``from a.b import c``; inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_runtime_modules_never_import_the_sample_generator():
    """tlgeo.sample (the synthetic-world generator) is imported only by itself and by the `tlgeo sample` command."""
    package = ROOT / "tlgeo"
    allowed = {package / "cli" / "sample.py"}
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted(package.rglob("*.py"))
        if (package / "sample") not in p.parents
        and p not in allowed
        and any(m == "tlgeo.sample" or m.startswith("tlgeo.sample.") for m in _imported_modules(p))
    ]
    assert offenders == []
    assert not (package / "sample.py").exists() and not (package / "_synth.py").exists()


def test_tasks_and_labels_import_no_framework():
    code = (
        "import sys, tlgeo.tasks; print(','.join(m for m in ('keras', 'tensorflow', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""
