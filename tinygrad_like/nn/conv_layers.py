"""Convolution, pooling and normalization layers with PyTorch's names, parameter layouts, inits
and state_dict keys (a PyTorch state_dict loads into them unchanged)."""
from __future__ import annotations

from typing import Any, Optional

from ..autograd import no_grad
from ..creation import ones, tensor, zeros
from ..dtypes import int64
from ..errors import InvalidValueError, ShapeError
from ..ops.conv import ntuple
from ..tensor import Tensor
from . import functional as F
from .layers import _DropoutNd, _WeightBias
from .module import Module, Parameter


class _ConvNd(_WeightBias):
    """Shared parameters of the convolutions: weight (out, in / groups, *kernel) or, transposed,
    (in, out / groups, *kernel); Kaiming-uniform(a=sqrt(5)) weight and U(+-1/sqrt(fan_in)) bias.
    A subclass sets `_dims`, its number of spatial dimensions, and `_transposed`."""

    _dims: int
    _transposed: bool = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype: Any = None, backend: Any = None):
        super().__init__()
        name, k = type(self).__name__, self._dims
        for what, n in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise InvalidValueError(f"{name}: {what} must be a positive int, got {n!r}")
        if in_channels % groups:
            raise InvalidValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise InvalidValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise InvalidValueError(f"{name}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, k, f"{name}: kernel_size")
        self.stride = ntuple(stride, k, f"{name}: stride")
        self.dilation = ntuple(dilation, k, f"{name}: dilation")
        self.padding = padding if isinstance(padding, str) else ntuple(padding, k, f"{name}: padding", minimum=0)
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self._make_parameters(shape, out_channels if bias else None, dtype, backend)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.kernel_size):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * len(self.kernel_size):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-d convolution over (N, C_in, L); weight (C_out, C_in / groups, k)."""

    _dims = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-d convolution over (N, C_in, H, W); weight (C_out, C_in / groups, kh, kw)."""

    _dims = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The adjoint of Conv2d in its input (a learned upsampling); weight (C_in, C_out / groups, kh, kw)."""

    _dims = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", dtype: Any = None, backend: Any = None):
        if isinstance(padding, str):
            raise InvalidValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, backend)
        self.output_padding = ntuple(output_padding, 2, "ConvTranspose2d: output_padding", minimum=0)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class MaxPool1d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride if stride is not None else kernel_size, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(MaxPool1d):
    """The max of each kernel_size window (stride defaults to kernel_size)."""

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool1d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(AvgPool1d):
    """The mean of each kernel_size window; count_include_pad=False leaves the zero padding out of the divisor."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: Optional[int] = None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (e.g. 1 for global average pooling)."""

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    def __init__(self, output_size: Any, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)


def _affine_parameters(module: Module, channels: int, affine: bool, dtype: Any, backend: Any) -> None:
    """Registers a normalization's per-channel weight (ones) and bias (zeros), or None for both without affine."""
    module.register_parameter("weight", Parameter(ones(channels, dtype=dtype, backend=backend)) if affine else None)
    module.register_parameter("bias", Parameter(zeros(channels, dtype=dtype, backend=backend)) if affine else None)


class _NormBase(Module):
    """Per-channel affine weight (ones) and bias (zeros), and with track_running_stats the buffers
    running_mean (zeros), running_var (ones) and num_batches_tracked (int64 0)."""

    _min_dims: tuple = (2, 3)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, backend: Any = None):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise InvalidValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, affine, dtype, backend)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, backend=backend))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, backend=backend))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, backend=backend))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in self._min_dims:
            want = " or ".join(f"{d}D" for d in self._min_dims)
            raise ShapeError(f"{type(self).__name__}: expected {want} input (got {x.ndim}D input of shape {x.shape})")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}: input of shape {x.shape} has {x.shape[1]} channels, "
                                    f"expected num_features={self.num_features}")

    def _factor(self) -> float:
        """The momentum of this step's running-statistics update (with momentum=None, a cumulative average)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        return factor

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_NormBase):
    """Batch normalization over (N, C) or (N, C, L); eval() uses the running statistics."""

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = self._factor()
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch, factor, self.eps)


class BatchNorm2d(BatchNorm1d):
    """Batch normalization over (N, C, H, W), per channel."""

    _min_dims = (4,)


class InstanceNorm2d(_NormBase):
    """Per-sample, per-channel normalization of (N, C, H, W) or (C, H, W); no affine, no running stats by default."""

    _min_dims = (3, 4)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype: Any = None, backend: Any = None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, backend)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in self._min_dims:
            raise ShapeError(f"InstanceNorm2d: expected 3D or 4D input (got {x.ndim}D input of shape {x.shape})")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        unbatched = x.ndim == 3
        xb = x.unsqueeze(0) if unbatched else x
        use_input = self.training or not self.track_running_stats
        out = F.instance_norm(xb, self.running_mean, self.running_var, self.weight, self.bias, use_input,
                              0.1 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class GroupNorm(Module):
    """Normalizes each sample over groups of channels; per-channel affine weight (ones) and bias (zeros)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, backend: Any = None):
        super().__init__()
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups:
            raise InvalidValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _affine_parameters(self, num_channels, affine, dtype, backend)

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout2d(_DropoutNd):
    """Zeroes whole channels with probability p while training; the identity in eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)
