"""numba kernels for tg.jit's fused elementwise runs (tinygrad_like/jit/fusion.py's `Chain`).

The kernel is Python source generated per chain and compiled by numba: each op calls the same
`unop`/`binop` overloads the unfused kernels use (numba_elementwise.py), with the same fastmath
flags (unary ops in helpers compiled with FMA contraction, as the unary kernels; the rest without),
and each result is cast back to the dtype, as the unfused kernel's store would, so a fused run
rounds like the calls it replaces. The source goes to a file in the cache folder (named by its hash) so that numba's own
disk cache keeps the compiled code for later processes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import lru_cache
from typing import Any, Callable

from .numba_elementwise import UNARY_CODES
from .protocol import BINARY_CODES


def _ref(r: tuple) -> str:
    if r[0] == "tmp":
        return f"t{r[1]}"
    return f"v{r[1]}" if r[2] == 1 else f"s{r[1]}"


def source(chain: Any, par: bool) -> str:
    """The module text defining `fused(b0, b1, ...)` for the chain."""
    T = "np.float32" if chain.dtype.name == "float32" else "np.float64"
    nops = len(chain.operands)
    new = [t for t, (kind, _) in chain.stores if kind == "new"]
    head = [f"def fused({', '.join(f'b{k}' for k in range(nops))}):", f"    n = {chain.n}"]
    head += [f"    o{m} = np.empty(n, {T})" for m in range(len(new))]
    consts, loads, scalars, body = [], set(), set(), []
    for j, op in enumerate(chain.ops):
        refs = [r for r in op if isinstance(r, tuple)]
        for r in refs:
            if r[0] == "in" and r[2] == 1 and r[1] not in loads:
                loads.add(r[1])
                body.append(f"v{r[1]} = b{r[1]}[{chain.operands[r[1]]} + i]")
            elif r[0] == "in" and r[2] == 0 and r[1] not in scalars:
                scalars.add(r[1])
                head.append(f"    s{r[1]} = b{r[1]}[{chain.operands[r[1]]}]")
        a = [_ref(r) for r in refs]
        if op[0] == "unary":  # through a helper compiled like the unary kernels (FMA contraction allowed)
            code = UNARY_CODES[op[1]]
            helper = f"@njit(error_model='numpy', fastmath=FM_CONTRACT)\ndef u{code}(x):\n    return unop({code}, x)\n"
            if helper not in consts:
                consts.append(helper)
            expr = f"u{code}({a[0]})"
        elif op[0] == "binary":
            expr = f"binop({BINARY_CODES[op[1]]}, {a[0]}, {a[1]})"
        elif op[0] == "axpy":
            consts.append(f"A{j} = {T}({op[1]!r})")
            expr = f"{a[1]} + {a[0]} * A{j}"
        else:
            expr = f"{a[0]} if {a[1]} > 0 else {T}(0)"
        body.append(f"t{j} = {T}({expr})")
    m = 0
    for t, (kind, k) in chain.stores:
        if kind == "operand":
            body.append(f"b{k}[{chain.operands[k]} + i] = t{t}")
        else:
            body.append(f"o{m}[i] = t{t}")
            m += 1
    loop = [f"    nch = n_chunks(n, {par})", "    for c in prange(nch):", "        lo, hi = chunk_bounds(n, nch, c)",
            "        for i in range(lo, hi):"] + [f"            {line}" for line in body]
    ret = f"    return ({''.join(f'o{k}, ' for k in range(len(new)))})"
    return "\n".join(["import numpy as np", "from numba import njit, prange",
                      "from tinygrad_like.backends.numba_elementwise import FM_CONTRACT, binop, unop",
                      "from tinygrad_like.backends.numba_index import chunk_bounds, n_chunks", *consts, "",
                      f"@njit(cache=True, parallel={par}, error_model='numpy')", *head, *loop, ret, ""])


def cache_dir() -> str:
    base = os.environ.get("TG_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tinygrad_like")
    return os.path.join(base, "fused")


@lru_cache(maxsize=1)
def _kernels_hash() -> str:
    """A hash of the numba backend's kernel sources, part of each generated module's name: numba's
    disk cache checks the generated file alone, not the `unop`/`binop` code it inlines from them."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for f in sorted(os.listdir(here)):
        if f.startswith("numba_") and f.endswith(".py"):
            with open(os.path.join(here, f), "rb") as src:
                h.update(f.encode() + src.read())
    return h.hexdigest()


def build(chain: Any, par: bool) -> Callable[[list], tuple]:
    """A function of the operand buffers (in order) returning the new buffers of the chain."""
    text = source(chain, par)
    name = "_tg_numba_fused_" + hashlib.sha256((text + _kernels_hash()).encode()).hexdigest()[:20]
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: another process may write the same kernel
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules.get(name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba's cache looks the module up by name
        spec.loader.exec_module(module)
    fused = module.fused
    return lambda bufs: fused(*bufs)
