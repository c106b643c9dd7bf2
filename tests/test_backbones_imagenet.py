"""Pretrained backbones used as-is: offline ImageNet classes for scikit-image's bundled photos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlgeo.backbones.imagenet import classify_images, imagenet_class_names, imagenet_classifier, load_image
from tlgeo.errors import ConfigError, DataFileError

ROOT = Path(__file__).resolve().parent.parent
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
#: Standard ILSVRC-2012 names of the cat family (281-285 domestic, 286-293 wild).
CAT_NAMES = {
    "tabby, tabby cat",
    "tiger cat",
    "Persian cat",
    "Siamese cat, Siamese",
    "Egyptian cat",
    "cougar, puma, catamount, mountain lion, painter, panther, Felis concolor",
    "lynx, catamount",
    "leopard, Panthera pardus",
    "snow leopard, ounce, Panthera uncia",
    "jaguar, panther, Panthera onca, Felis onca",
    "lion, king of beasts, Panthera leo",
    "tiger, Panthera tigris",
    "cheetah, chetah, Acinonyx jubatus",
}
ESPRESSO = 967


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """scikit-image's bundled chelsea() (a cat) and coffee() (a cup of espresso) as PNG files."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    cat, coffee = folder / "chelsea.png", folder / "coffee.png"
    Image.fromarray(data.chelsea()).save(cat)
    Image.fromarray(data.coffee()).save(coffee)
    return cat, coffee


@pytest.fixture
def empty_caches(tmp_path, monkeypatch) -> dict[str, str]:
    """An empty tlgeo cache and an empty Keras cache (no network here either)."""
    env = {"TLGEO_CACHE": str(tmp_path / "tlgeo-cache"), "KERAS_HOME": str(tmp_path / "keras-home")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_class_names_offline():
    """The standard ILSVRC-2012 WordNet lemma names (as Keras/torchvision print them), all 1,000 distinct."""
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[ESPRESSO] == "espresso"
    assert names[0] == "tench, Tinca tinca" and names[1] == "goldfish, Carassius auratus"
    assert names[281] == "tabby, tabby cat" and names[282] == "tiger cat" and names[285] == "Egyptian cat"
    assert names[744] == "projectile, missile" and names[657] == "missile"
    assert names[134] == "crane (bird)" and names[517] == "crane (machine)"  # the one repeated lemma, told apart
    assert names[836] == "sunglass" and names[837] == "sunglasses, dark glasses, shades"
    assert names[999] == "toilet tissue, toilet paper, bathroom tissue"
    assert set(names[281:294]) == CAT_NAMES
    assert not any(n.startswith(("a ", "an ")) for n in names)  # no descriptive re-wordings


def test_load_image_centre_crop(photos, tmp_path):
    cat, _ = photos
    x = load_image(cat, 224)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255
    assert load_image(cat, (200, 260)).shape == (200, 260, 3)
    with pytest.raises(DataFileError, match=r"nope\.png"):
        load_image(tmp_path / "nope.png", 224)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(DataFileError, match=r"text\.png"):
        load_image(tmp_path / "text.png", 224)


def test_argument_checks(photos):
    with pytest.raises(ConfigError, match="top"):
        classify_images(list(photos), top=0)
    with pytest.raises(ConfigError, match="tiny_cnn"):
        imagenet_classifier("tiny_cnn")
    with pytest.raises(ConfigError, match="Choose one of"):
        classify_images(list(photos), backbone="alexnet")


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["efficientnet_lite1", "efficientnet_lite2"])
def test_imagenet_lite_in_process(photos, empty_caches, backbone):
    cat, coffee = photos
    results = classify_images([cat, coffee], backbone=backbone, top=3)
    assert results[0][0][0] in CATS, results[0]
    assert results[1][0][0] == ESPRESSO, results[1]
    probs = [p for _, _, p in results[0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert list(Path(empty_caches["TLGEO_CACHE"], "weights").glob(f"{backbone}-*.weights.h5"))


@pytest.mark.slow
def test_imagenet_cli_lite0_offline(photos, tmp_path):
    """`python -m tlgeo imagenet` with empty tlgeo and Keras caches, no network: cat, then espresso."""
    cat, coffee = photos
    env = {
        **os.environ,
        "TLGEO_CACHE": str(tmp_path / "tlgeo-cache"),
        "KERAS_HOME": str(tmp_path / "keras-home"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "tlgeo", "imagenet", str(cat), str(coffee), "--backbone", "efficientnet_lite0"]
    proc = subprocess.run([*cmd, "--top", "5"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{cat}:" and lines[6] == f"{coffee}:"
    top_cat = int(lines[1].split("(class ")[1].split(")")[0])
    assert top_cat in CATS, proc.stdout
    # every cat line the model gives any weight (p >= 0.01) prints a standard cat name; the first four are cats
    for rank, line in enumerate(lines[1:6]):
        name = line.split(". ", 1)[1].rsplit(" (class ", 1)[0]
        if rank < 4 or float(line.rsplit("p=", 1)[1]) >= 0.01:
            assert name in CAT_NAMES, proc.stdout
    assert "espresso (class 967)" in lines[7], proc.stdout
    assert list((tmp_path / "tlgeo-cache" / "weights").glob("efficientnet_lite0-*.weights.h5"))
    assert not (tmp_path / "keras-home" / "models").exists() or not any((tmp_path / "keras-home" / "models").iterdir())

    # a Keras application without cached weights: one-line error naming the offline backbones, exit status 2
    proc = subprocess.run(
        [*cmd[:-1], "mobilenet_v2"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "efficientnet_lite0" in proc.stderr and "Traceback" not in proc.stderr
