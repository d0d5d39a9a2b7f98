"""tg.optim: SGD, Adam, AdamW, RMSprop, Adagrad and learning-rate schedulers (PyTorch's update rules)."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .checkpoint import flatten_state_dict, unflatten_state_dict
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, LRScheduler, MultiplicativeLR,
                           OneCycleLR, ReduceLROnPlateau, SequentialLR, StepLR)
from .optimizer import Optimizer
from .rmsprop import Adagrad, RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "LRScheduler", "StepLR", "CosineAnnealingLR",
           "RMSprop", "Adagrad", "LambdaLR", "MultiplicativeLR", "ExponentialLR", "LinearLR", "OneCycleLR",
           "SequentialLR", "ReduceLROnPlateau", "flatten_state_dict", "unflatten_state_dict"]
