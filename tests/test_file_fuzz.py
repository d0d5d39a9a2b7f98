"""Corrupt-file fuzzing of tg.load (safetensors) and read_idx (MNIST IDX, raw or gzip).

Every truncation, byte flip, malformed header and decompression bomb must end in the reader's
own typed error (SerializationError / IDXFormatError), never another exception, and a small
hostile file must not make the reader allocate much more memory than its own size.
"""
from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_like as tg
from tinygrad_like.data import IDXFormatError, read_idx

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


def _safetensors_bytes(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def _valid(tmp_path) -> bytes:
    path = tmp_path / "ok.safetensors"
    tg.save({"w": tg.arange(6).float().reshape(2, 3), "b": tg.tensor([True, False])}, str(path))
    return path.read_bytes()


def _load_bytes(tmp_path, data: bytes, name: str = "f.safetensors"):
    path = tmp_path / name
    path.write_bytes(data)
    return tg.load(str(path))


@SETTINGS
@given(data=st.data())
def test_truncated_or_flipped_safetensors_fail_cleanly(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("st")
    good = _valid(tmp)
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    if kind == "truncate":
        bad = good[:data.draw(st.integers(0, len(good) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        bad = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1:]
    else:
        i = data.draw(st.integers(0, len(good)))
        bad = good[:i] + data.draw(st.binary(min_size=1, max_size=8)) + good[i:]
    try:
        out = _load_bytes(tmp, bad)
    except tg.SerializationError:
        return
    # a flip inside tensor data (or in a value that stays valid) may load: it must load consistently
    assert set(out) <= {"w", "b"}


@pytest.mark.parametrize("header", [
    {"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}},
    {"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}},
    {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}},
    {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
    {"w": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 4]}},
    {"w": {"dtype": {"a": 1}, "shape": [1], "data_offsets": [0, 4]}},
    {"w": [1, 2, 3]},
    {"__metadata__": {"k": 3}},
], ids=lambda h: json.dumps(h)[:40])
def test_malformed_headers_are_refused(tmp_path, header):
    with pytest.raises(tg.SerializationError):
        _load_bytes(tmp_path, _safetensors_bytes(header, b"\0" * 4))


def test_deeply_nested_json_header_is_refused(tmp_path):
    h = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(tg.SerializationError, match="nested|JSON"):
        _load_bytes(tmp_path, struct.pack("<Q", len(h)) + h)


def _idx(shape: tuple, payload: bytes) -> bytes:
    return struct.pack(">HBB", 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


@SETTINGS
@given(data=st.data())
def test_truncated_or_flipped_idx_fail_cleanly(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("idx")
    good = _idx((3, 4, 5), bytes(range(60)))
    packed = data.draw(st.booleans())
    blob = gzip.compress(good) if packed else good
    kind = data.draw(st.sampled_from(["truncate", "flip"]))
    if kind == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    else:
        i = data.draw(st.integers(0, len(blob) - 1))
        blob = blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + blob[i + 1:]
    path = tmp / ("f.gz" if packed else "f")
    path.write_bytes(blob)
    try:
        shape, raw = read_idx(str(path))
    except IDXFormatError:
        return
    n = 1
    for d in shape:
        n *= d
    assert len(raw) == n  # whatever loads is self-consistent


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # 256 MB of zeros (4x the peak allowed below) behind a header that promises 4 bytes
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(_idx((4,), b"\0\0\0\0"))]
    chunk = b"\0" * (1 << 24)
    for _ in range(16):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"".join(parts))
    tracemalloc.start()
    with pytest.raises(IDXFormatError, match="trailing"):
        read_idx(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"read_idx peaked at {peak / 1e6:.0f} MB on a bomb"


def test_gzip_that_promises_more_than_it_holds(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(_idx((1000, 1000), b"\1" * 10)))
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(str(path))


def test_gzip_round_trip_still_reads(tmp_path):
    path = tmp_path / "ok.gz"
    path.write_bytes(gzip.compress(_idx((2, 3), bytes(range(6)))))
    shape, raw = read_idx(str(path))
    assert shape == (2, 3) and bytes(raw) == bytes(range(6))
