"""Read torch.save files without PyTorch and without running anything they hold.

A torch.save file is a pickle, and unpickling runs whatever functions the pickle names.
Here a `pickle.Unpickler` resolves only the few globals a tensor or a state dict needs
(`SAFE_GLOBALS`), each to zoo-site's own inert function or value; any other global
(`os.system`, `builtins.eval`, numpy's reconstructors, a model class) is refused before
anything runs, with an EntryError naming the file and the global. Tensors come back as
numpy arrays (own memory, native byte order; bfloat16 widened to float32), checked
against their storage's bounds.

Both on-disk formats are read (facts from torch/serialization.py, verified on files written
by PyTorch 2.13):

- zip, the default since PyTorch 1.6: `<archive>/data.pkl` (the object), each storage's
  raw bytes in `<archive>/data/<key>`, and `<archive>/byteorder` ("little" or "big"; absent
  before PyTorch 2.1, meaning little). Persistent ids: ("storage", storage type, key,
  location, numel).
- legacy (`_use_new_zipfile_serialization=False`): four pickles in a row, the magic number,
  the protocol version (1001), sys_info and the object (persistent ids gain a sixth item,
  view metadata, always None since PyTorch 1.0), then the sorted storage keys, then for
  each key its element count (int64) and its bytes, both little-endian.

The globals real files use: `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
`torch.<T>Storage` (FloatStorage, LongStorage, ...), and `torch._utils._rebuild_parameter`
for nn.Parameter objects; `torch._utils._rebuild_tensor_v3` with `torch.storage.UntypedStorage`
and a dtype global (`torch.uint16`, ...) for the unsigned types added in PyTorch 2.3.
"""

from __future__ import annotations

import _compat_pickle  # the stdlib's own Python 2 -> 3 name table, as pickle uses it
import collections
import io
import math
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from zoo_site.errors import EntryError

ByteOrder = Literal["<", ">"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


# Everything a pickle can get hold of is a NamedTuple: immutable, with no __dict__ and no
# __setstate__, so the pickle's BUILD opcode cannot change it. (A frozen dataclass is not
# enough: with slots=True it gains a __setstate__ that sets any field.)


class TorchDType(NamedTuple):
    """A torch dtype as numpy reads it; bfloat16 is read as its raw 16 bits."""

    name: str
    numpy: str
    bfloat16: bool = False

    @property
    def itemsize(self) -> int:
        return np.dtype(self.numpy).itemsize


class StorageType(NamedTuple):
    """A storage class named in a pickle: typed (FloatStorage, ...) or untyped (bytes)."""

    name: str
    dtype: TorchDType
    untyped: bool = False


class SafeFunction(NamedTuple):
    """What a pickle gets for an allowed function (a function's attributes, such as its
    __defaults__, could otherwise be changed by one file for every file read after it)."""

    function: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


class Budget:
    """The bytes one file's tensors may still take (views can repeat a storage's bytes).
    Never handed to the pickle itself."""

    __slots__ = ("remaining",)

    def __init__(self, data_bytes: int):
        self.remaining = max(4 * data_bytes, 64 << 20)

    def spend(self, nbytes: int) -> None:
        if nbytes > self.remaining:
            raise _Corrupt("its tensors would take far more memory than the file holds")
        self.remaining -= nbytes


class Storage(NamedTuple):
    """One storage: `numel` elements of `type.dtype` in byte order `order` ("<" or ">");
    `data` is None while only the pickle's structure is being read."""

    key: str
    type: StorageType
    numel: int
    budget: Budget
    order: ByteOrder = "<"
    data: np.ndarray | None = None


class ForbiddenGlobal(Exception):
    """The pickle asked for a global that is not in SAFE_GLOBALS."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        super().__init__(f"{module}.{name}")


class _Corrupt(Exception):
    """The file is not a readable torch.save file (the message says why)."""


def _dtypes() -> dict[str, TorchDType]:
    names = {
        "float32": "f4",
        "float64": "f8",
        "float16": "f2",
        "int64": "i8",
        "int32": "i4",
        "int16": "i2",
        "int8": "i1",
        "uint8": "u1",
        "bool": "?",
        "complex64": "c8",
        "complex128": "c16",
        "uint16": "u2",
        "uint32": "u4",
        "uint64": "u8",
    }
    dtypes = {name: TorchDType(name, code) for name, code in names.items()}
    dtypes["bfloat16"] = TorchDType("bfloat16", "u2", bfloat16=True)
    return dtypes


DTYPES = _dtypes()
_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


def _tensor(
    storage: Any, dtype: TorchDType, offset: Any, size: Any, stride: Any, metadata: Any
) -> np.ndarray | None:
    """A copy of the elements a tensor views (None while storages have no data yet)."""
    if not isinstance(storage, Storage):
        raise _Corrupt(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    shape, strides, start = _geometry(size, stride, offset)
    if storage.data is None:
        return None
    base = _elements(storage, dtype)
    storage.budget.spend(math.prod(shape) * base.itemsize)  # Python ints: no overflow
    if 0 not in shape:
        last = start + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= len(base):
            raise _Corrupt(
                f"a tensor of shape {shape} reads past the end of storage "
                f"{storage.key!r} ({len(base)} elements)"
            )
    item = base.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[start:] if 0 not in shape else base[:0],
        shape=shape,
        strides=[s * item for s in strides],
        writeable=False,
    )
    return _finish(np.array(view, dtype=view.dtype.newbyteorder("=")), dtype, metadata)


def _geometry(size: Any, stride: Any, offset: Any) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Shape, strides and offset, checked to be non-negative ints of matching lengths."""
    if not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride):
        raise _Corrupt(f"a tensor has size {size!r:.60} and stride {stride!r:.60}")
    values = (*size, *stride, offset)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise _Corrupt(f"a tensor has size {size!r:.60}, stride {stride!r:.60}, offset {offset!r}")
    return size, stride, offset


def _elements(storage: Storage, dtype: TorchDType) -> np.ndarray:
    """The storage's data as a 1-D array of `dtype` (in the file's byte order)."""
    data = storage.data
    assert data is not None
    if not storage.type.untyped:
        if storage.type.dtype != dtype:
            raise _Corrupt(f"a {dtype.name} tensor views a {storage.type.name}")
        return data
    code = np.dtype(dtype.numpy).newbyteorder(storage.order)
    usable = len(data) - len(data) % code.itemsize
    return data[:usable].view(code)


def _finish(array: np.ndarray, dtype: TorchDType, metadata: Any) -> np.ndarray:
    """Widen bfloat16 to float32; apply the conjugate and negative bits, if set."""
    if dtype.bfloat16:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    if metadata is not None and not isinstance(metadata, dict):
        raise _Corrupt(f"a tensor's metadata is a {type(metadata).__name__}, not a dict")
    if metadata and metadata.get("conj"):
        array = np.conj(array)
    if metadata and metadata.get("neg"):
        array = -array
    return array


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray | None:
    """torch._utils._rebuild_tensor_v2: a tensor of its (typed) storage's dtype."""
    if not isinstance(storage, Storage):
        raise _Corrupt(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    return _tensor(storage, storage.type.dtype, storage_offset, size, stride, metadata)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> np.ndarray | None:
    """torch._utils._rebuild_tensor_v3: a tensor of `dtype` over an untyped storage."""
    if not isinstance(dtype, TorchDType):
        raise _Corrupt(f"a tensor's dtype is a {type(dtype).__name__}, not a torch dtype")
    return _tensor(storage, dtype, storage_offset, size, stride, metadata)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> Any:
    """torch._utils._rebuild_parameter: an nn.Parameter is its data."""
    return data


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> Any:
    """torch._utils._rebuild_parameter_with_state: its data (Python attributes dropped)."""
    return data


def _safe_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): SafeFunction(_rebuild_tensor_v2),
        ("torch._utils", "_rebuild_tensor_v3"): SafeFunction(_rebuild_tensor_v3),
        ("torch._utils", "_rebuild_parameter"): SafeFunction(_rebuild_parameter),
        ("torch._utils", "_rebuild_parameter_with_state"): SafeFunction(
            _rebuild_parameter_with_state
        ),
        ("torch.storage", "UntypedStorage"): StorageType("UntypedStorage", DTYPES["uint8"], True),
    }
    for name, dtype in _STORAGE_DTYPES.items():
        table["torch", name] = StorageType(name, DTYPES[dtype])
    for name, torch_dtype in DTYPES.items():
        table["torch", name] = torch_dtype
    return table


#: (module, name) -> what the pickle gets instead: zoo-site's own inert stand-ins.
SAFE_GLOBALS = _safe_globals()


class _Unpickler(pickle.Unpickler):
    """Resolves only SAFE_GLOBALS; persistent ids (storages) go to `storage`."""

    def __init__(self, file: io.BytesIO, storage: Callable[[Any], Storage] | None):
        super().__init__(file)
        self._storage = storage

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol < 3 pickles say "__builtin__") as Python 3 knows them.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return SAFE_GLOBALS[module, name]
        except KeyError:
            raise ForbiddenGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        if self._storage is None:
            raise _Corrupt("a plain pickle refers to an external storage")
        return self._storage(pid)


def _unpickle(file: io.BytesIO, path: Path, storage: Callable[[Any], Storage] | None) -> Any:
    """One pickle from `file`'s position, restricted; every failure an EntryError."""
    try:
        return _Unpickler(file, storage).load()
    except ForbiddenGlobal as exc:
        raise EntryError(path, refusal(exc.module, exc.name)) from None
    except EntryError:
        raise
    except _Corrupt as exc:
        raise EntryError(path, f"not a readable torch.save file: {exc}") from None
    except Exception as exc:  # a damaged pickle raises many types; none is trusted
        raise EntryError(
            path,
            f"not a readable torch.save file: the pickle is damaged ({type(exc).__name__}: {exc})",
        ) from None


def refusal(module: str, name: str) -> str:
    """The message for a pickle that asks for a global zoo-site does not allow."""
    return (
        f"refused to unpickle: it asks for the Python global {module}.{name}, and zoo-site "
        "only reads tensors, numbers, strings and plain containers from torch.save files "
        "(nothing in the file was run); save the state dict alone, e.g. "
        "torch.save({'estimator_state': model.state_dict()}, f)"
    )


def _storage_id(pid: Any, length: int) -> tuple[str, StorageType, int]:
    """(key, storage type, numel) from a persistent id, checked."""
    if isinstance(pid, tuple) and pid and pid[0] in ("module", b"module"):
        raise _Corrupt("it holds a pickled nn.Module class, not a state dict")
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] not in ("storage", b"storage"):
        raise _Corrupt(f"unexpected persistent id {pid!r:.80}")
    stype, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(stype, StorageType) or not isinstance(key, str):
        raise _Corrupt(f"unexpected persistent id {pid!r:.80}")
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise _Corrupt(f"storage {key!r} has {numel!r:.40} elements")
    if length == 6 and pid[5] is not None:
        raise _Corrupt(
            "it uses storage views (PyTorch < 1.0); load and re-save it with a current PyTorch"
        )
    return key, stype, numel


def loads(data: bytes, path: str | Path) -> Any:
    """The object torch.save wrote into `data` (zip or legacy format), tensors as numpy
    arrays; an EntryError naming `path` for anything unreadable or not allowed."""
    path = Path(path)
    budget = Budget(len(data))
    if data[:4] == b"PK\x03\x04":
        return _load_zip(data, path, budget)
    return _load_legacy(data, path, budget)


def load(path: str | Path) -> Any:
    """`loads` of the file at `path` (not compressed)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EntryError(path, f"cannot read the model file ({exc.strerror})") from None
    return loads(data, path)


def _load_zip(data: bytes, path: Path, budget: Budget) -> Any:
    """The zip format: data.pkl, with each storage read from its own record."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise EntryError(path, f"damaged torch.save zip archive ({exc})") from None
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        script = any(n.endswith("/constants.pkl") for n in names)
        what = "a TorchScript archive" if script else "a zip archive"
        raise EntryError(
            path,
            f"{what} with {len(pickles)} data.pkl records, not a "
            "torch.save file; save the state dict with torch.save",
        )
    prefix = pickles[0][: -len("data.pkl")]
    try:
        order = _byte_order(archive, prefix)
        pickled = archive.read(pickles[0])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise EntryError(path, f"damaged torch.save zip archive ({exc})") from None
    storages: dict[str, Storage] = {}

    def storage(pid: Any) -> Storage:
        key, stype, numel = _storage_id(pid, 5)
        if key not in storages:
            stored = Storage(key, stype, numel, budget, order)
            storages[key] = _zip_storage(archive, f"{prefix}data/{key}", stored)
        if storages[key].type != stype:
            raise _Corrupt(f"storage {key!r} is read as two types")
        return storages[key]

    return _unpickle(io.BytesIO(pickled), path, storage)


def _byte_order(archive: zipfile.ZipFile, prefix: str) -> ByteOrder:
    """ "<" or ">" from the byteorder record (absent before PyTorch 2.1: little-endian)."""
    try:
        text = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
    except KeyError:
        return "<"
    if text not in ("little", "big"):
        raise _Corrupt(f"unknown byte order {text!r:.20}")
    return "<" if text == "little" else ">"


def _zip_storage(archive: zipfile.ZipFile, name: str, storage: Storage) -> Storage:
    """`storage` with its data, read from its record once its size is checked."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _Corrupt(f"the record {name} is missing") from None
    nbytes = storage.numel * storage.type.dtype.itemsize
    if info.file_size != nbytes:
        raise _Corrupt(f"the record {name} holds {info.file_size} bytes, not {nbytes}")
    try:
        raw = archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _Corrupt(f"the record {name} is damaged ({exc})") from None
    code = np.dtype(storage.type.dtype.numpy).newbyteorder(storage.order)
    return storage._replace(data=np.frombuffer(raw, code))


def _load_legacy(data: bytes, path: Path, budget: Budget) -> Any:
    """The legacy format: header pickles, the object, storage keys, raw storages."""
    file = io.BytesIO(data)
    if len(data) > 262 and data[257:262] == b"ustar":
        raise EntryError(
            path,
            "a tar-format torch.save file (PyTorch < 0.4), which zoo-site "
            "does not read; load and re-save it with a current PyTorch",
        )
    magic = _unpickle(file, path, None)
    if magic != MAGIC_NUMBER:
        raise EntryError(
            path,
            "not a torch.save file: neither a zip archive nor a pickle "
            "starting with PyTorch's magic number",
        )
    version = _unpickle(file, path, None)
    if version != PROTOCOL_VERSION:
        raise EntryError(path, f"unknown torch.save protocol version {version!r:.20}")
    _unpickle(file, path, None)  # sys_info: the writer's byte order and C type sizes
    start = file.tell()
    found: dict[str, Storage] = {}

    def shape_only(pid: Any) -> Storage:
        key, stype, numel = _storage_id(pid, 6)
        storage = found.setdefault(key, Storage(key, stype, numel, budget))
        if (storage.type, storage.numel) != (stype, numel):
            raise _Corrupt(f"storage {key!r} is read as two types or sizes")
        return storage

    _unpickle(file, path, shape_only)  # first pass: which storages, of what type and size
    keys = _unpickle(file, path, None)
    full = _legacy_storages(data, file.tell(), keys, found, path)
    file.seek(start)
    return _unpickle(file, path, lambda pid: full[_storage_id(pid, 6)[0]])


def _legacy_storages(
    data: bytes, offset: int, keys: Any, found: dict[str, Storage], path: Path
) -> dict[str, Storage]:
    """Each storage's data: an int64 element count, then its bytes (little-endian)."""
    listed = keys if isinstance(keys, list) and all(isinstance(k, str) for k in keys) else None
    if listed is None or set(listed) != set(found):
        raise EntryError(
            path,
            "not a readable torch.save file: the storage keys after the "
            "pickle do not match the tensors in it",
        )
    full: dict[str, Storage] = {}
    for key in keys:
        storage = found[key]
        count = int.from_bytes(data[offset : offset + 8], "little", signed=True)
        nbytes = storage.numel * storage.type.dtype.itemsize
        if count != storage.numel or offset + 8 + nbytes > len(data):
            raise EntryError(
                path,
                f"not a readable torch.save file: storage {key!r} should "
                f"hold {storage.numel} elements; the file is truncated or "
                "damaged",
            )
        code = np.dtype(storage.type.dtype.numpy).newbyteorder("<")
        array = np.frombuffer(data, code, count=storage.numel, offset=offset + 8)
        full[key] = storage._replace(data=array)
        offset += 8 + nbytes
    return full
