"""Map-style datasets: the Dataset base, Subset, ConcatDataset and a seeded random_split (PyTorch's names)."""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Optional, Sequence

from ..creation import tensor
from ..dtypes import int64
from ..errors import InvalidValueError, TensorIndexError
from ..random import randperm
from ..tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses define __getitem__(i) and __len__(); `a + b` concatenates."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        if hasattr(dataset, "batch"):  # the DataLoader's gathered-batch fast path, when the dataset has one
            self.batch = self._batch

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def _batch(self, index: Tensor) -> tuple:
        """A gathered batch through the underlying dataset's batch()."""
        mapped = tensor([self.indices[i] for i in index.tolist()], dtype=int64, backend=index.backend)
        return self.dataset.batch(mapped)


class ConcatDataset(Dataset):
    """Several datasets one after another: index i goes to the dataset whose range holds it."""

    def __init__(self, datasets: Sequence[Any]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise InvalidValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        if not -n <= idx < n:
            raise TensorIndexError(f"ConcatDataset: index {idx} is out of range for {n} samples")
        if idx < 0:
            idx += n
        d = bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


def random_split(dataset: Any, lengths: Sequence[Any], generator: Optional[Any] = None) -> list:
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1), in an order
    drawn from tg's generator (or `generator`): the same seed gives the same split on every backend."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):  # the remainder, one each, round-robin (PyTorch's rule)
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if any(not isinstance(x, int) or x < 0 for x in lengths) or sum(lengths) != n:
        raise InvalidValueError(f"random_split: sum of input lengths {lengths} does not equal the length of the "
                                f"input dataset ({n}); pass non-negative ints summing to {n} or fractions summing to 1")
    order = randperm(n, generator=generator).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start:start + k]))
        start += k
    return out
