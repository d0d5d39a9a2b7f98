"""Datasets and a DataLoader-like batch iterator (batch_size, shuffle seeded by tg's generator, drop_last)."""
from __future__ import annotations

from typing import Any, Iterator, Optional

from ..creation import tensor
from ..dtypes import int64
from ..errors import check_positive_int, InvalidValueError, ShapeError
from ..random import randperm
from ..tensor import Tensor, stack
from .dataset import Dataset


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (all with the same first dim): ds[i] -> (x[i], y[i], ...)."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise InvalidValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].ndim else None
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor) or t.ndim == 0 or t.shape[0] != n:
                raise ShapeError(f"TensorDataset: every tensor needs the same first dim; tensor 0 has shape "
                                 f"{tensors[0].shape}, tensor {i} has {getattr(t, 'shape', type(t).__name__)}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, i: int) -> tuple:
        return tuple(t[i] for t in self.tensors)

    def batch(self, index: Tensor) -> tuple:
        """The rows at int64 `index`, one gather per tensor (the loader's fast path)."""
        return tuple(t.index_select(0, index) for t in self.tensors)


def default_collate(samples: list) -> Any:
    """Stack a list of samples: tensors -> stacked tensor, numbers -> 1-D tensor, tuples/dicts element-wise."""
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, (int, float, bool)):
        return tensor(samples)
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(col)) for col in zip(*samples)) if isinstance(first, tuple) \
            else [default_collate(list(col)) for col in zip(*samples)]
    raise InvalidValueError(f"default_collate: cannot batch samples of type {type(first).__name__}")


class DataLoader:
    """Iterates over a dataset in batches; a new shuffled order (from tg.randperm) each epoch."""

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: Any = None, collate_fn: Optional[Any] = None):
        self.dataset = dataset
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> list:
        n = len(self.dataset)
        return randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        fast = self.collate_fn is None and hasattr(self.dataset, "batch")
        for start in range(0, stop, bs):
            idx = order[start:start + bs]
            if fast:
                yield self.dataset.batch(tensor(idx, dtype=int64, backend=self._backend()))
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[i] for i in idx])

    def _backend(self) -> Any:
        ts = getattr(self.dataset, "tensors", None)
        return ts[0].backend if ts else None
