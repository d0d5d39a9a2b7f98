"""tg.data: DataLoader batching/shuffling, the MNIST IDX reader (errors) and the shipped sample."""
from __future__ import annotations

import gzip
import os
import struct

import pytest

import tinygrad_like as tg
from tinygrad_like.data import (SAMPLE_DIR, DataLoader, IDXFormatError, TensorDataset, load_mnist, mnist_datasets,
                                read_idx)


def _ds(n: int = 10) -> TensorDataset:
    return TensorDataset(tg.arange(n).float().reshape(n, 1) * 10, tg.arange(n))


def test_batches_in_order_with_remainder():
    batches = list(DataLoader(_ds(10), batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 1) and batches[0][0].dtype is tg.float32
    assert len(DataLoader(_ds(10), batch_size=4)) == 3


def test_drop_last():
    dl = DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(dl) == 2 and [b[1].shape[0] for b in dl] == [4, 4]


def test_shuffle_is_a_seeded_permutation_and_changes_per_epoch():
    dl = DataLoader(_ds(20), batch_size=6, shuffle=True)
    tg.manual_seed(0)
    e1 = [i for b in dl for i in b[1].tolist()]
    e2 = [i for b in dl for i in b[1].tolist()]
    assert sorted(e1) == list(range(20)) and e1 != list(range(20)) and e1 != e2
    tg.manual_seed(0)
    assert [i for b in dl for i in b[1].tolist()] == e1
    gen = tg.Generator(5)
    a = [i for b in DataLoader(_ds(20), batch_size=6, shuffle=True, generator=gen) for i in b[1].tolist()]
    b = [i for b in DataLoader(_ds(20), batch_size=6, shuffle=True, generator=tg.Generator(5)) for i in b[1].tolist()]
    assert a == b


def test_rows_stay_paired_and_generic_dataset_collates():
    for x, y in DataLoader(_ds(9), batch_size=4, shuffle=True):
        assert x.reshape(-1).tolist() == [v * 10.0 for v in y.tolist()]

    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tg.tensor([float(i), float(i * i)]), i

    xs, ys = next(iter(DataLoader(Squares(), batch_size=3)))
    assert xs.tolist() == [[0, 0], [1, 1], [2, 4]] and ys.tolist() == [0, 1, 2]


def test_loader_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="first dim"):
        TensorDataset(tg.zeros(3, 2), tg.zeros(4))


# ---------------------------------------------------------------------- IDX / MNIST

def _idx(shape, payload: bytes) -> bytes:
    return struct.pack(">HBB", 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_shipped_sample():
    x, y = load_mnist()
    assert x.shape == (4000, 28, 28) and x.dtype is tg.float32 and y.shape == (4000,) and y.dtype is tg.int64
    assert 0.0 == x.min().item() and x.max().item() == 1.0
    xt, yt = load_mnist(train=False)
    assert xt.shape == (1000, 28, 28) and yt.shape == (1000,)
    counts = [0] * 10
    for v in y.tolist() + yt.tolist():
        counts[v] += 1
    assert counts == [500] * 10  # balanced, as the sample's README says
    assert os.path.exists(os.path.join(SAMPLE_DIR, "README.md"))
    train, test = mnist_datasets()
    assert train.tensors[0].shape == (4000, 784) and len(test) == 1000


def test_mnist_raw_uint8_pixels():
    x8, y8 = load_mnist(dtype=tg.uint8)
    assert x8.dtype is tg.uint8 and x8.shape == (4000, 28, 28) and y8.dtype is tg.int64
    x, _ = load_mnist()
    assert x8.max().item() == 255 and x8.min().item() == 0
    # one batch converted per step gives the float loader's values exactly
    assert (x8[:64].float() / 255.0).tolist() == x[:64].tolist()
    x64, _ = load_mnist(train=False, dtype=tg.float64)
    assert x64.dtype is tg.float64 and x64.max().item() == 1.0
    train, _ = mnist_datasets(dtype="uint8")
    assert train.tensors[0].dtype is tg.uint8 and train.tensors[0].shape == (4000, 784)
    with pytest.raises(TypeError, match="float32, float64 or uint8"):
        load_mnist(dtype=tg.int32)


def test_raw_and_gzip_files_and_full_mnist_folder(tmp_path):
    pix = bytes(range(2 * 28 * 28 % 256)) * 0 + bytes((i * 7) % 256 for i in range(2 * 28 * 28))
    for split, (img, lbl) in {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}.items():
        (tmp_path / img).write_bytes(_idx((2, 28, 28), pix))  # raw
        with gzip.open(tmp_path / (lbl + ".gz"), "wb") as f:  # gzip
            f.write(_idx((2,), bytes([3, 9])))
    x, y = load_mnist(str(tmp_path))
    assert x.shape == (2, 28, 28) and y.tolist() == [3, 9]
    assert x.reshape(-1)[:3].tolist() == pytest.approx([0, 7 / 255, 14 / 255])
    shape, raw = read_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"))
    assert shape == (2,) and bytes(raw) == b"\x03\x09"


def test_idx_errors(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # float IDX, not unsigned bytes
    with pytest.raises(IDXFormatError, match="wrong magic number 0x00000d01"):
        read_idx(str(p))
    p.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="wrong magic number"):
        read_idx(str(p))
    p.write_bytes(_idx((10,), bytes(7)))
    with pytest.raises(IDXFormatError, match=r"truncated: header promises shape \(10,\) = 10 bytes of data, found 7"):
        read_idx(str(p))
    p.write_bytes(_idx((2, 3, 3), b"")[:9])
    with pytest.raises(IDXFormatError, match="truncated inside the header"):
        read_idx(str(p))
    p.write_bytes(b"\x00\x00")
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(str(p))
    good = gzip.compress(_idx((4,), bytes(4)))
    p.write_bytes(good[:len(good) // 2])
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(str(p))
    with pytest.raises(FileNotFoundError):
        read_idx(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist(str(tmp_path))
    assert issubclass(IDXFormatError, tg.TensorError)


# ---------------------------------------------------------------------- progress bar

def test_progress_bar_quiet_off_a_terminal_and_drawn_on_one():
    import io

    from tinygrad_like.progress import Progress

    quiet = io.StringIO()
    assert list(Progress(range(5), desc="epoch 1", file=quiet)) == [0, 1, 2, 3, 4]
    assert quiet.getvalue() == ""  # StringIO is not a terminal

    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

    tty = FakeTTY()
    bar = Progress(range(4), desc="epoch 1", file=tty, min_interval=0.0)
    for _ in bar:
        bar.set_postfix(loss=0.5)
    out = tty.getvalue()
    assert "\r" in out and "epoch 1 4/4" in out and "100%" in out and "loss=0.5" in out and out.endswith("\n")
