"""Optimizer state in a safetensors checkpoint: flatten a state_dict into tensors plus JSON metadata
(written together with the model's tensors by tg.save) and back."""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..errors import InvalidValueError
from ..tensor import Tensor

_META_KEY = "tinygrad_like.optim"


def flatten_state_dict(state_dict: Mapping[str, Any], prefix: str = "optim.") -> tuple:
    """(tensors, metadata): every tensor of optimizer.state_dict() named `{prefix}state.{i}.{key}`, and the
    rest (hyper-parameters, step counts) as JSON under metadata['tinygrad_like.optim'].
    Write both with tg.save({**model.state_dict(), **tensors}, path, metadata=metadata)."""
    tensors: dict = {}
    scalars: dict = {}
    for i, s in state_dict["state"].items():
        for k, v in s.items():
            if isinstance(v, Tensor):
                tensors[f"{prefix}state.{i}.{k}"] = v
            else:
                scalars.setdefault(str(i), {})[k] = v
    meta = {"prefix": prefix, "param_groups": state_dict["param_groups"], "scalars": scalars,
            "tensor_keys": sorted(tensors)}
    return tensors, {_META_KEY: json.dumps(meta)}


def unflatten_state_dict(tensors: Mapping[str, Tensor], metadata: Mapping[str, str]) -> dict:
    """The optimizer state_dict from tg.load(path) and load_metadata(path) of a flattened checkpoint."""
    if _META_KEY not in metadata:
        raise InvalidValueError(f"no optimizer state in this checkpoint (metadata key {_META_KEY!r} missing)")
    meta = json.loads(metadata[_META_KEY])
    prefix = meta["prefix"]
    state: dict = {}
    for i, s in meta["scalars"].items():
        state.setdefault(int(i), {}).update(s)
    for name in meta["tensor_keys"]:
        if name not in tensors:
            raise InvalidValueError(f"optimizer checkpoint: tensor {name!r} is missing")
        i, k = name[len(prefix) + len("state."):].split(".", 1)
        state.setdefault(int(i), {})[k] = tensors[name]
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}
