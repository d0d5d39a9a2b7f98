"""tg.save / tg.load: safetensors layout, interop with the real `safetensors` package, clean failures."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like import nn

from helpers import to_np


def _sample() -> dict:
    tg.manual_seed(0)
    return {"w": tg.randn(3, 4), "d": tg.randn(2, 3, dtype=tg.float64).T, "i": tg.tensor([1, -2, 3]),
            "b": tg.tensor([True, False, True]), "s": tg.tensor(2.5), "e": tg.zeros(0, 2)}


def test_round_trip_values_dtypes_shapes(tmp_path):
    sd = _sample()
    path = str(tmp_path / "m.safetensors")
    tg.save(sd, path)
    back = tg.load(path)
    assert list(back) == list(sd)
    for k, t in sd.items():
        assert back[k].dtype is t.dtype and back[k].shape == t.shape and back[k].backend == tg.get_backend()
        assert back[k].tolist() == t.tolist()


def test_file_layout_is_safetensors(tmp_path):
    path = tmp_path / "m.safetensors"
    tg.save({"a": tg.tensor([1.0, 2.0]), "n": tg.tensor([7])}, str(path), metadata={"format": "pt"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert (8 + n) % 8 == 0  # data aligned, as safetensors writes it
    assert header["__metadata__"] == {"format": "pt"}
    assert header["a"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["n"] == {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}
    assert raw[8 + n:] == struct.pack("<2f", 1.0, 2.0) + struct.pack("<q", 7)
    assert b"pickle" not in raw and tg.serialization.load_metadata(str(path)) == {"format": "pt"}


def test_read_by_the_safetensors_package_and_back(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    sd = _sample()
    path = str(tmp_path / "ours.safetensors")
    tg.save(sd, path)
    arrays = st.load_file(path)
    for k, t in sd.items():
        expected = np.array(t.tolist(), dtype={"float32": np.float32, "float64": np.float64, "int64": np.int64,
                                               "bool": np.bool_}[t.dtype.name]).reshape(t.shape)
        assert arrays[k].dtype == expected.dtype and arrays[k].shape == expected.shape
        np.testing.assert_array_equal(arrays[k], expected)
    theirs = str(tmp_path / "theirs.safetensors")
    st.save_file({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([True, False]),
                  "z": np.array([-5, 9], dtype=np.int64), "q": np.linspace(0, 1, 4)}, theirs, metadata={"k": "v"})
    back = tg.load(theirs)
    assert back["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["x"].dtype is tg.float32
    assert back["y"].tolist() == [True, False] and back["z"].tolist() == [-5, 9]
    assert back["q"].dtype is tg.float64 and back["q"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_model_state_dict_through_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    path = str(tmp_path / "model.safetensors")
    tg.save(model.state_dict(), path)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    tmodel.load_state_dict(st.load_file(path))  # strict: same keys and shapes as PyTorch's
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(tmodel(torch.tensor(x)).detach().numpy(), to_np(model(tg.tensor(x.tolist())).detach()),
                               rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for p in tmodel.parameters():
            p.mul_(2)
    st.save_file(tmodel.state_dict(), path)
    fresh = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    fresh.load_state_dict(tg.load(path))
    np.testing.assert_allclose(to_np(fresh[0].weight.detach()), tmodel[0].weight.detach().numpy())


def _corrupt_cases(good: bytes) -> dict:
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + n])

    def with_header(h: dict, data: bytes = good[8 + n:]) -> bytes:
        hb = json.dumps(h).encode()
        return struct.pack("<Q", len(hb)) + hb + data

    bad_offsets = json.loads(json.dumps(header))
    bad_offsets["w"]["data_offsets"] = [0, 4]
    bad_dtype = json.loads(json.dumps(header))
    bad_dtype["w"]["dtype"] = "F16"
    bad_shape = json.loads(json.dumps(header))
    bad_shape["w"]["shape"] = [3, -4]
    return {
        "empty": (b"", "truncated"),
        "short length": (good[:5], "truncated"),
        "truncated data": (good[:-3], "truncated"),
        "truncated header": (good[:8 + n // 2], "does not fit"),
        "huge header length": (struct.pack("<Q", 2 ** 60) + good[8:], "does not fit"),
        "not json": (struct.pack("<Q", 4) + b"\xff\xfe{}" + good[8 + n:], "JSON"),
        "json list": (with_header([]), "JSON object"),  # type: ignore[arg-type]
        "trailing bytes": (good + b"\x00" * 8, "trailing bytes"),
        "offsets vs shape": (with_header(bad_offsets), "needs 48 bytes"),
        "unsupported dtype": (with_header(bad_dtype), "dtype 'F16'"),
        "negative dim": (with_header(bad_shape), "invalid shape"),
    }


@pytest.mark.parametrize("case", ["empty", "short length", "truncated data", "truncated header", "huge header length",
                                  "not json", "json list", "trailing bytes", "offsets vs shape", "unsupported dtype",
                                  "negative dim"])
def test_corrupt_files_fail_cleanly(tmp_path, case):
    path = tmp_path / "m.safetensors"
    tg.save({"w": tg.zeros(3, 4), "i": tg.tensor([1, 2])}, str(path))
    data, msg = _corrupt_cases(path.read_bytes())[case]
    path.write_bytes(data)
    with pytest.raises(tg.SerializationError, match=msg) as info:
        tg.load(str(path))
    assert "nothing was loaded" in str(info.value)
    assert isinstance(info.value, (tg.TensorError, ValueError))


def test_save_errors(tmp_path):
    with pytest.raises(ValueError, match="Tensor"):
        tg.save({"a": [1, 2]}, str(tmp_path / "x"))
    with pytest.raises(ValueError, match="keys must be str"):
        tg.save({1: tg.zeros(1)}, str(tmp_path / "x"))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_load_into_module_strict(tmp_path):
    path = str(tmp_path / "m.safetensors")
    a = nn.Linear(2, 2)
    tg.save(a.state_dict(), path)
    b = nn.Linear(2, 2)
    b.load_state_dict(tg.load(path))
    assert b.weight.tolist() == a.weight.tolist()
    with pytest.raises(nn.StateDictError):
        nn.Linear(2, 2, bias=False).load_state_dict(tg.load(path))
