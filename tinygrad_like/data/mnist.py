"""MNIST in the standard IDX format (gzip or raw): a strict reader and the shipped 5,000-digit sample."""
from __future__ import annotations

import os
import struct
import zlib
from array import array
from typing import Any, Optional

from ..creation import frombuffer
from ..dtypes import float32, float64, get_dtype, int64, uint8
from ..errors import DTypeError, InvalidValueError, TensorError
from .loader import TensorDataset

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "mnist_sample")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class IDXFormatError(TensorError, ValueError):
    """A file that is not a well-formed IDX file (wrong magic number, truncated, corrupt gzip)."""


def read_idx(path: str) -> tuple:
    """(shape, raw bytes) of an unsigned-byte IDX file, gzip-compressed or raw; strict about its layout."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FileNotFoundError(f"cannot read IDX file {path!r}: {e.strerror}") from None
    if data[:2] == b"\x1f\x8b":
        data = _gunzip_idx(path, data)
    if len(data) < 4:
        raise IDXFormatError(f"{path}: file is truncated: {len(data)} bytes, an IDX header needs at least 4")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code != 0x08 or not 1 <= ndim <= 4:
        raise IDXFormatError(f"{path}: wrong magic number 0x{data[:4].hex()}; an unsigned-byte IDX file starts with "
                             f"0x000008NN (NN = number of dims, 01-04): is this an MNIST images/labels file?")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise IDXFormatError(f"{path}: file is truncated inside the header ({len(data)} of {head} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:head])
    n = 1
    for d in shape:
        n *= d
    if len(data) - head < n:
        raise IDXFormatError(f"{path}: file is truncated: header promises shape {shape} = {n} bytes of data, "
                             f"found {len(data) - head}")
    if len(data) - head > n:
        raise IDXFormatError(f"{path}: {len(data) - head - n} unexpected trailing bytes after shape {shape}")
    return shape, memoryview(data)[head:]


def _gunzip_idx(path: str, gz: bytes) -> bytes:
    """The decompressed IDX file, read no further than its header promises (plus one byte to
    detect trailing data): a small corrupt or hostile .gz cannot make us inflate gigabytes."""
    d = zlib.decompressobj(wbits=31)  # gzip framing
    out = bytearray()
    tail = gz

    def fill(n: int) -> None:
        nonlocal tail
        try:
            while len(out) < n and tail:
                out.extend(d.decompress(tail, n - len(out)))
                tail = d.unconsumed_tail if not d.eof else b""
        except zlib.error as e:
            raise IDXFormatError(f"{path}: corrupt gzip stream ({e})") from None

    fill(4)
    ndim = out[3] if len(out) >= 4 and out[:3] == b"\x00\x00\x08" and 1 <= out[3] <= 4 else 0
    fill(4 + 4 * ndim)
    n = 1
    if ndim and len(out) >= 4 + 4 * ndim:
        for dim in struct.unpack(f">{ndim}I", bytes(out[4:4 + 4 * ndim])):
            n *= dim
    fill(4 + 4 * ndim + n + 1)
    if not d.eof and len(out) <= 4 + 4 * ndim + n:
        raise IDXFormatError(f"{path}: truncated gzip stream (it ends before the data its header promises)")
    return bytes(out)


def _find(root: str, name: str) -> str:
    for candidate in (name + ".gz", name, name.replace("-idx", ".idx") + ".gz", name.replace("-idx", ".idx")):
        p = os.path.join(root, candidate)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"MNIST file {name}[.gz] not found in {root!r}; expected the four standard files "
                            f"({', '.join(n for pair in FILES.values() for n in pair)}, gzip or raw)")


def load_mnist(root: Optional[str] = None, train: bool = True, backend: Any = None, dtype: Any = float32) -> tuple:
    """(images (N, 28, 28), labels int64 (N,)) of one split; root=None is the shipped sample.

    Images are float32 in [0, 1] by default (float64 with dtype=float64); dtype=uint8 keeps the raw
    pixels 0-255 in a quarter of the memory, to convert per batch (`x.float() / 255`)."""
    dt = get_dtype(dtype)
    if dt not in (float32, float64, uint8):
        raise DTypeError(f"load_mnist: dtype must be float32, float64 or uint8 (raw pixels), got {dt.name}")
    root = SAMPLE_DIR if root is None else root
    img_name, lbl_name = FILES["train" if train else "test"]
    ishape, ibytes = read_idx(_find(root, img_name))
    lshape, lbytes = read_idx(_find(root, lbl_name))
    if len(ishape) != 3 or len(lshape) != 1:
        raise IDXFormatError(f"{root}: images must be 3-D and labels 1-D, got shapes {ishape} and {lshape}")
    if ishape[0] != lshape[0]:
        raise IDXFormatError(f"{root}: {ishape[0]} images but {lshape[0]} labels")
    if len(lbytes) and max(lbytes) > 9:
        raise IDXFormatError(f"{root}: labels must be digits 0-9, found {max(lbytes)}")
    if dt is uint8:
        images = frombuffer(ibytes, uint8, backend=backend).reshape(ishape)
    else:
        images = frombuffer(array(dt.typecode, ibytes), dt, backend=backend).reshape(ishape) / 255.0
    labels = frombuffer(array("q", lbytes), int64, backend=backend)
    return images, labels


def mnist_datasets(root: Optional[str] = None, backend: Any = None, dtype: Any = float32) -> tuple:
    """(train, test) TensorDatasets of flattened images (N, 784) of `dtype` (as load_mnist) and int64 labels."""
    out = []
    for train in (True, False):
        x, y = load_mnist(root, train, backend, dtype)
        if x.shape[0] == 0:
            raise InvalidValueError(f"MNIST split {'train' if train else 'test'} in {root!r} is empty")
        out.append(TensorDataset(x.reshape(x.shape[0], -1), y))
    return tuple(out)
