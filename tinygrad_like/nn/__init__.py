"""tg.nn: modules, layers, losses, functional ops and initializers (PyTorch's names and semantics)."""
from . import functional, init, utils
from .attention import MultiheadAttention
from .layers import (GELU, Dropout, Embedding, Flatten, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, ReLU,
                     RMSNorm, Sigmoid, Softmax, Tanh)
from .conv_layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d,
                          Conv2d, ConvTranspose2d, Dropout2d, GroupNorm, InstanceNorm2d, MaxPool1d, MaxPool2d)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential, StateDictError
from .rnn import GRU, RNN, GRUCell, RNNCell
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "ReLU",
           "Tanh", "Sigmoid", "GELU", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout", "Flatten", "Embedding",
           "LayerNorm", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "StateDictError",
           "IncompatibleKeys", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d",
           "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "BatchNorm1d", "BatchNorm2d", "InstanceNorm2d",
           "GroupNorm", "Dropout2d",
           "utils", "RMSNorm", "MultiheadAttention", "TransformerEncoderLayer",
           "TransformerEncoder", "RNNCell", "GRUCell", "RNN", "GRU"]
