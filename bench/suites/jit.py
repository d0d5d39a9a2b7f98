"""tg.jit: training steps captured once and replayed, against PyTorch eager on the same step.

Each step is a zero-argument closure (model, optimizer and batch held by the closure, as in a
training script); for our backends the row times `tg.jit(step)` after it has been captured.
The same steps without tg.jit are in the `training`, `conv` and `attention` suites, and here as
the "eager" rows of the two small steps.
"""
from __future__ import annotations

from typing import Any, Callable

from bench import convnets, impls as I
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases
from bench.suites import attention

SUITE = "jit"
WARM_CALLS = 4  # call 1 eager, 2 captures, 3 verifies; replays from call 4


def _lib(impl: str) -> Any:
    if impl == "torch":
        return I.torch()
    import tinygrad_like as tg
    tg.set_backend(impl)
    return tg


def _mlp_step(impl: str, sizes: tuple, batch: int) -> Callable[[], Any]:
    """nn.Sequential of Linear/ReLU, SGD with momentum 0.9, cross-entropy on a fixed batch."""
    import numpy as np
    lib = _lib(impl)
    lib.manual_seed(0)
    layers: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [lib.nn.Linear(a, b)] + ([lib.nn.ReLU()] if i < len(sizes) - 2 else [])
    model = lib.nn.Sequential(*layers)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = I.from_numpy(impl, rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = I.from_numpy(impl, rng.integers(0, sizes[-1], batch))
    F = lib.nn.functional

    def step() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _tiny_step(impl: str) -> Callable[[], Any]:
    """relu(x @ W + b).sum() for x 8x16, W 16x16, backward and plain SGD."""
    import numpy as np
    lib = _lib(impl)
    rng = np.random.default_rng(0)
    x = I.from_numpy(impl, rng.standard_normal((8, 16)).astype(np.float32))
    w = I.from_numpy(impl, rng.standard_normal((16, 16)).astype(np.float32), requires_grad=True)
    b = I.from_numpy(impl, np.zeros(16, np.float32), requires_grad=True)
    opt = lib.optim.SGD([w, b], lr=0.01)

    def step() -> Any:
        opt.zero_grad()
        loss = (x @ w + b).relu().sum()
        loss.backward()
        opt.step()
        return loss
    return step


def _gru_step(impl: str) -> Callable[[], Any]:
    """A character-level GRU language model: Embedding(27, 24), GRU(24, 64), Linear(64, 27) over
    32 sequences of 16 characters, cross-entropy, Adam."""
    import numpy as np
    lib = _lib(impl)
    lib.manual_seed(0)
    vocab, emb_dim, hidden, steps, batch = 27, 24, 64, 16, 32
    emb = lib.nn.Embedding(vocab, emb_dim)
    rnn = lib.nn.GRU(emb_dim, hidden, batch_first=True)
    head = lib.nn.Linear(hidden, vocab)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
    opt = lib.optim.Adam(params, lr=1e-3)
    rng = np.random.default_rng(0)
    x = I.from_numpy(impl, rng.integers(0, vocab, (batch, steps)))
    y = I.from_numpy(impl, rng.integers(0, vocab, (batch * steps,)))
    F = lib.nn.functional

    def step() -> Any:
        opt.zero_grad()
        out, _ = rnn(emb(x))
        loss = F.cross_entropy(head(out).reshape(batch * steps, vocab), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _jitted(make: Callable[[str], Callable[[], Any]], jit: bool = True) -> Callable[[str], Callable[[], Any]]:
    """impl -> the step; our backends' wrapped in tg.jit (and warmed up into replay) when `jit`."""
    def build(impl: str) -> Callable[[], Any]:
        step = make(impl)
        if impl != "torch" and jit:
            import tinygrad_like as tg
            step = tg.jit(step)
            for _ in range(WARM_CALLS):
                step()
        return step
    return build


STEPS = {  # name -> (params, impl -> step, multiply-adds of forward + backward)
    "MNIST MLP 784-128-10 SGD step": ("batch 64", lambda impl: _mlp_step(impl, (784, 128, 10), 64),
                                      3 * 64 * (784 * 128 + 128 * 10)),
    "tiny step 8x16 @ 16x16 relu SGD": ("batch 8", _tiny_step, 3 * 8 * 16 * 16),
    "LeNet-5 SGD step": ("batch 64", lambda impl: convnets.lenet_step(impl, 64), 3 * 64 * convnets.LENET_MACS),
    "makemore transformer AdamW step": ("4x64, batch 32x14", attention._transformer_step, 3 * 204_416 * 32 * 14),
    "char GRU LM Adam step": ("24-64, batch 32x16", _gru_step, 3 * 32 * 16 * (3 * 64 * (24 + 64) + 64 * 27)),
}
EAGER_TOO = ("MNIST MLP 784-128-10 SGD step", "tiny step 8x16 @ 16x16 relu SGD")


def cases(cfg: Config) -> list[Case]:
    """Each step with tg.jit; the two small ones also eager, for the side-by-side."""
    impls = ["torch"] + list(cfg.backends) if I.torch() is not None else list(cfg.backends)
    out = []
    names = list(STEPS) if not cfg.quick else list(EAGER_TOO)
    for name in names:
        params, make, macs = STEPS[name]
        out.append(Case(SUITE, f"{name}, tg.jit", params, _jitted(make), impls=impls, macs=macs, check=False,
                        extra={"jit": True}))
        if name in EAGER_TOO:
            out.append(Case(SUITE, f"{name}, eager", params, _jitted(make, jit=False), impls=impls, macs=macs,
                            check=False))
    return out


def run(cfg: Config) -> list[Row]:
    rows = run_cases(cases(cfg), cfg)
    for r in rows:
        if r.status == "ok":
            r.rate, r.rate_unit = 1.0 / r.median_s, "steps/s"
    return rows
