"""The FFT grouped convolution the positional encoding uses on GPUs equals the direct conv."""

import pytest
import torch

from speechssl.models.positional import _fast_fft_size, fft_grouped_conv1d


@pytest.mark.parametrize(
    "batch, channels, frames, kernel, groups",
    [(2, 768, 199, 128, 16), (3, 256, 50, 128, 16), (1, 12, 7, 16, 4), (2, 12, 33, 33, 3)],
)
def test_fft_conv_equals_direct_conv_with_gradients(batch, channels, frames, kernel, groups):
    torch.manual_seed(0)
    x = torch.randn(batch, channels, frames, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(channels, channels // groups, kernel, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(channels, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.conv1d(x, weight, bias, padding=kernel // 2, groups=groups)
    got = fft_grouped_conv1d(x, weight, bias, kernel // 2, groups)  # float32 inside
    assert got.shape == expected.shape and got.dtype == x.dtype
    scale = expected.abs().max()
    assert (got - expected).abs().max() < 1e-5 * scale
    probe = torch.randn_like(expected)
    grads = torch.autograd.grad((expected * probe).sum(), (x, weight, bias))
    fft_grads = torch.autograd.grad((got * probe).sum(), (x, weight, bias))
    for g, f in zip(grads, fft_grads):
        assert (g - f).abs().max() < 1e-5 * g.abs().max()


def test_fast_fft_size_is_the_smallest_2a3b_at_least_n():
    smooth = [2**a * 3**b for a in range(12) for b in range(8)]
    for n in (1, 2, 5, 100, 245, 781, 1000, 1025):
        assert _fast_fft_size(n) == min(s for s in smooth if s >= n)
