"""tg.nn: modules, layers, losses, functional ops and initializers (PyTorch's names and semantics)."""
from . import functional, init, utils
from .attention import MultiheadAttention
from .layers import (GELU, Dropout, Embedding, Flatten, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, ReLU,
                     RMSNorm, Sigmoid, Softmax, Tanh)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential, StateDictError
from .rnn import GRU, RNN, GRUCell, RNNCell
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "ReLU",
           "Tanh", "Sigmoid", "GELU", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout", "Flatten", "Embedding",
           "LayerNorm", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "StateDictError",
           "IncompatibleKeys", "utils", "RMSNorm", "MultiheadAttention", "TransformerEncoderLayer",
           "TransformerEncoder", "RNNCell", "GRUCell", "RNN", "GRU"]
