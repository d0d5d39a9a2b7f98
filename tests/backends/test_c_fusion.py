"""The c backend's fused kernels are compiled once and cached on disk (backends/c_fusion.py)."""
from __future__ import annotations

import tinygrad_like as tg

BACKEND = "c"


def replayed(fn, *args):
    j = tg.jit(fn)
    for _ in range(4):
        j(*args)
    return j(*args)


def test_kernels_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path))
    def f(x):
        return (x * 2.0 + 1.0).sqrt()
    x = tg.rand(64)
    out1 = replayed(f, x)
    built = sorted(p.name for p in (tmp_path / "fused").iterdir() if p.suffix == ".so")
    assert len(built) == 1
    out2 = replayed(f, x)
    assert sorted(p.name for p in (tmp_path / "fused").iterdir() if p.suffix == ".so") == built
    assert out1.tolist() == out2.tolist() == f(x).tolist()
