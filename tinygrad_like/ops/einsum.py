"""einsum: Einstein summation lowered to diagonals, sums, permutes, reshapes and batched matmul.

Operands are contracted left to right, two at a time: labels shared by both and still needed
(by the output or a later operand) become batch dims, shared labels needed nowhere else are
contracted by one `matmul` of (batch, M, K) @ (batch, K, N), and each side's own labels fold
into M or N. A label that appears in one operand only and nowhere else is summed first; a
label repeated within one operand takes that operand's diagonal. Size-1 dims broadcast. The
gradient comes from those ops.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidValueError, ShapeError
from ..view import prod
from .matmul import matmul
from .shape import diagonal

_ELL = [chr(0x3B1 + i) for i in range(24)]  # stand-in labels for the dims under '...'


def _parse(spec: str, operands: tuple) -> tuple:
    """(list of label strings per operand, output labels) with '...' expanded."""
    spec = spec.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise InvalidValueError(f"einsum: the spec {spec!r} has {len(terms)} operands but {len(operands)} tensors were given")
    labels = []
    ell_n = 0
    for t, x in zip(terms, operands):
        if "..." in t:
            n_ell = x.ndim - (len(t) - 3)
            if n_ell < 0:
                raise ShapeError(f"einsum: operand {t!r} has more labels than the tensor's {x.ndim} dims")
            ell_n = max(ell_n, n_ell)
            t = t.replace("...", "".join(_ELL[24 - n_ell:]) if n_ell else "")
        for c in t:
            if not (c.isalpha() or c in _ELL):
                raise InvalidValueError(f"einsum: invalid label {c!r} in {spec!r}; use letters a-z, A-Z and '...'")
        if len(t) != x.ndim:
            raise ShapeError(f"einsum: operand {t!r} has {len(t)} labels but the tensor has {x.ndim} dims (shape {x.shape})")
        labels.append(t)
    ell = "".join(_ELL[24 - ell_n:]) if ell_n else ""
    if arrow:
        if "..." in out:
            out = out.replace("...", ell)
        elif ell:
            raise InvalidValueError(f"einsum: the output of {spec!r} must name '...' when the inputs do")
    else:  # implicit output: '...' first, then the labels seen once, alphabetically
        seen = "".join(labels)
        out = ell + "".join(sorted(c for c in set(seen) if seen.count(c) == 1 and c not in _ELL))
    for c in out:
        if out.count(c) > 1:
            raise InvalidValueError(f"einsum: output label {c!r} appears more than once in {spec!r}")
        if not any(c in t for t in labels):
            raise InvalidValueError(f"einsum: output label {c!r} does not appear in any input of {spec!r}")
    return labels, out


def _take_diagonals(x: Any, lab: str) -> tuple:
    """x with repeated labels reduced to their diagonal (each label once)."""
    while True:
        dup = next((c for c in lab if lab.count(c) > 1), None)
        if dup is None:
            return x, lab
        i = lab.index(dup)
        j = lab.index(dup, i + 1)
        x = diagonal(x, 0, i, j)
        lab = "".join(c for k, c in enumerate(lab) if k not in (i, j)) + dup


def _sum_out(x: Any, lab: str, keep: set) -> tuple:
    dims = [i for i, c in enumerate(lab) if c not in keep]
    if not dims:
        return x, lab
    return x.sum(tuple(dims)), "".join(c for c in lab if c in keep)


def _pair(a: Any, la: str, b: Any, lb: str, needed: set) -> tuple:
    """Contract two operands, keeping the labels in `needed`."""
    batch = [c for c in la if c in lb and c in needed]
    contract = [c for c in la if c in lb and c not in needed]
    only_a = [c for c in la if c not in lb]
    only_b = [c for c in lb if c not in la]
    size = {}
    for lab, x in ((la, a), (lb, b)):
        for c, n in zip(lab, x.shape):
            if c in size and size[c] != n and 1 not in (size[c], n):
                raise ShapeError(f"einsum: label {c!r} has sizes {size[c]} and {n} that do not broadcast")
            size[c] = n if c not in size or size[c] == 1 else size[c]
    a = a.permute([la.index(c) for c in batch + only_a + contract])
    b = b.permute([lb.index(c) for c in batch + contract + only_b])
    bs = tuple(size[c] for c in batch)
    ks = tuple(size[c] for c in contract)
    a = a.expand(bs + a.shape[len(batch):len(batch) + len(only_a)] + ks)
    b = b.expand(bs + ks + b.shape[len(batch) + len(contract):])
    m = prod(a.shape[len(batch):len(batch) + len(only_a)])
    n = prod(b.shape[len(batch) + len(contract):])
    k = prod(ks)
    out = matmul(a.reshape(bs + (m, k)), b.reshape(bs + (k, n)))
    shape = bs + a.shape[len(batch):len(batch) + len(only_a)] + b.shape[len(batch) + len(contract):]
    return out.reshape(shape), "".join(batch + only_a + only_b)


def einsum(spec: str, *operands: Any) -> Any:
    """torch.einsum(spec, *operands) (operands may also be given as one list)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise InvalidValueError("einsum: needs at least one operand")
    labels, out = _parse(spec, operands)
    xs = []
    for i, (x, lab) in enumerate(zip(operands, labels)):
        x, lab = _take_diagonals(x, lab)
        elsewhere = set(out).union(*(set(t) for j, t in enumerate(labels) if j != i))
        x, lab = _sum_out(x, lab, elsewhere)
        xs.append((x, lab))
    acc, la = xs[0]
    for i in range(1, len(xs)):
        b, lb = xs[i]
        needed = set(out).union(*(set(t) for _, t in xs[i + 1:]))
        acc, la = _pair(acc, la, b, lb, needed)
    acc, la = _sum_out(acc, la, set(out))
    if la != out:
        acc = acc.permute([la.index(c) for c in out])
    return acc
