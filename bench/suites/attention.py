"""Attention: scaled_dot_product_attention forward + backward (causal, float32) and the makemore
transformer's training step (4 pre-norm layers, embedding 64, 4 heads, batch 32 x block 14, AdamW)."""
from __future__ import annotations

from typing import Any, Callable

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row, Skip
from bench.runner import run_cases
from examples import makemore

SUITE = "attention"
BATCH, HEADS = 32, 4
VOCAB, BLOCK = 27, 14


def _sdpa(t: int, d: int) -> Callable[[str], Callable[[], Any]]:
    def make(impl: str) -> Callable[[], Any]:
        if impl == "numpy":
            raise Skip("no autograd")
        shape = (BATCH, HEADS, t, d)
        q, k, v = (I.randn(impl, shape, seed=s, requires_grad=True) for s in (1, 2, 3))
        g = I.randn(impl, shape, seed=4)
        if impl == "torch":
            sdpa = I.torch().nn.functional.scaled_dot_product_attention
        else:
            import tinygrad_like as tg
            sdpa = tg.nn.functional.scaled_dot_product_attention

        def step() -> Any:
            q.grad = k.grad = v.grad = None
            out = sdpa(q, k, v, is_causal=True)
            out.backward(g)
            return q.grad
        step()  # warm-up: lazy initialization (PyTorch's kernels, numba's compilation) is not the measure
        return step
    return make


def _batch(lib: Any, seed: int) -> tuple:
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, (BATCH, BLOCK))
    y = rng.integers(0, VOCAB, (BATCH, BLOCK))
    y[:, 10:] = -1  # padding after the end of the shorter names, as in the data
    return lib.tensor(x.tolist()), lib.tensor(y.tolist())


def _transformer_step(impl: str) -> Callable[[], Any]:
    if impl == "numpy":
        raise Skip("no autograd")
    import tinygrad_like as tg
    if impl == "torch":
        lib = I.torch()
        lib.manual_seed(0)
    else:
        lib = tg
        tg.set_backend(impl)
        tg.manual_seed(0)
    model = makemore.build_model(lib, "transformer", VOCAB, BLOCK)
    opt = lib.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    x, y = _batch(lib, 0)
    F = lib.nn.functional

    def step() -> Any:
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    step()  # warm-up, as above
    return step


def cases(cfg: Config) -> list[Case]:
    """SDPA forward + backward at T 64/256 and head dim 16/64; the transformer training step."""
    out = []
    for t in cfg.pick([64, 256], [64]):
        t = int(t)
        for d in ((16, 64) if not cfg.quick else (16,)):
            macs = 6 * BATCH * HEADS * t * t * d  # 2 products forward, 4 backward
            out.append(Case(SUITE, "SDPA causal fwd+bwd", f"B{BATCH} H{HEADS} T{t} D{d}", _sdpa(t, d),
                            elements=BATCH * HEADS * t * t, macs=macs, flops=2 * macs, check=False))
    params = 204_416
    out.append(Case(SUITE, "transformer step AdamW", f"4x64, batch {BATCH}x{BLOCK}", _transformer_step,
                    elements=BATCH * BLOCK * 4 * 64, macs=3 * params * BATCH * BLOCK, check=False))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the cases; the training step also as steps/s."""
    rows = run_cases(cases(cfg), cfg)
    for r in rows:
        if r.status == "ok" and r.case.startswith("transformer"):
            r.rate, r.rate_unit = 1.0 / r.median_s, "steps/s"
    return rows
