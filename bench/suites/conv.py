"""Convolutional layers: conv2d forward and forward+backward at LeNet's and at a ResNet block's
shapes, max-pool, batch norm, and the LeNet-5 training step (with peak memory), against PyTorch."""
from __future__ import annotations

from typing import Any, Callable

from bench import convnets, memprobe
from bench.config import Config
from bench.model import Case, Row
from bench.runner import run_cases

SUITE = "conv"
# name -> (n, c, oc, hw, k, pad): LeNet's two convolutions (batch 64) and a ResNet block's (batch 32)
CONVS = {
    "LeNet conv1": (64, 1, 6, 28, 5, 2),
    "LeNet conv2": (64, 6, 16, 14, 5, 0),
    "ResNet 3x3": (32, 64, 64, 32, 3, 1),
}
QUICK_CONVS = {"LeNet conv1": (16, 1, 6, 28, 5, 2), "ResNet 3x3": (4, 16, 16, 16, 3, 1)}


def _conv(spec: tuple, backward: bool) -> Callable[[str], Callable[[], Any]]:
    return lambda impl: convnets.conv(impl, *spec, backward)


def cases(cfg: Config) -> list[Case]:
    """Every conv shape forward and forward+backward, then pool, batch norm and the LeNet step."""
    out = []
    refs = ["torch"] if "torch" in cfg.references else []
    impls = refs + list(cfg.backends)
    for name, spec in (QUICK_CONVS if cfg.quick else CONVS).items():
        n, c, oc, hw, k, pad = spec
        ohw = hw + 2 * pad - k + 1
        macs = n * oc * ohw * ohw * c * k * k
        params = f"{n}x{c}x{hw}x{hw} -> {oc}, {k}x{k} pad {pad}"
        out.append(Case(SUITE, f"conv2d fwd {name}", params, _conv(spec, False), impls=impls,
                        elements=n * c * hw * hw * k * k, macs=macs, flops=2 * macs))
        out.append(Case(SUITE, f"conv2d fwd+bwd {name}", params, _conv(spec, True), impls=impls,
                        elements=n * c * hw * hw * k * k, macs=3 * macs, flops=6 * macs, check=False))
    pool = (16, 6, 28, 28) if cfg.quick else (64, 6, 28, 28)
    for bw in (False, True):
        out.append(Case(SUITE, "max_pool2d 2x2" + (" fwd+bwd" if bw else ""), "x".join(map(str, pool)),
                        lambda impl, bw=bw: convnets.max_pool(impl, pool, bw), impls=impls, elements=2 * pool[0] * 6 * 28 * 28,
                        check=not bw))
    bn = (4, 16, 16, 16) if cfg.quick else (32, 64, 32, 32)
    out.append(Case(SUITE, "batch_norm train fwd+bwd", "x".join(map(str, bn)), lambda impl: convnets.batch_norm(impl, bn),
                    impls=impls, elements=bn[0] * bn[1] * bn[2] * bn[3], check=False))
    batch = 16 if cfg.quick else 64
    out.append(Case(SUITE, "LeNet-5 SGD step", f"batch {batch}", lambda impl: convnets.lenet_step(impl, batch),
                    impls=impls, macs=3 * batch * convnets.LENET_MACS, flops=6 * batch * convnets.LENET_MACS,
                    check=False, extra={"task": "lenet", "n": batch}))
    return out


def run(cfg: Config) -> list[Row]:
    """Time the cases; the LeNet step also reports steps/s and (full runs) peak memory per impl."""
    rows = run_cases(cases(cfg), cfg)
    for r in rows:
        if r.status != "ok" or r.extra.get("task") != "lenet":
            continue
        r.extra["steps_per_s"] = 1.0 / r.median_s
        if cfg.memory and not cfg.quick:
            r.extra["peak_mb"] = memprobe.measure("lenet", r.extra["n"], r.impl)
    return rows
