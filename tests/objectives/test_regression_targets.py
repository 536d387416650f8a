"""data2vec targets (top-K instance norm average) against numpy; loss scale; collapse guard."""

import math

import numpy as np
import pytest
import torch

from speechssl.objectives.regression import (
    CollapseError,
    RegressionConfig,
    build_targets,
    check_collapse,
    feature_std,
    instance_norm_time,
    regression_loss,
)


def _numpy_targets(layers, k):
    normed = []
    for layer in layers[-k:]:
        mean = layer.mean(axis=1, keepdims=True)
        var = layer.var(axis=1, keepdims=True)  # biased, like instance_norm
        normed.append((layer - mean) / np.sqrt(var + 1e-5))
    return np.mean(normed, axis=0)


def test_top_k_instance_norm_matches_numpy():
    rng = np.random.default_rng(0)
    layers = [rng.normal(loc=i, scale=1 + i, size=(2, 7, 3)).astype(np.float32) for i in range(5)]
    config = RegressionConfig(average_top_k_layers=3)
    got = build_targets([torch.from_numpy(x) for x in layers], config)
    np.testing.assert_allclose(got.numpy(), _numpy_targets(layers, 3), rtol=1e-5, atol=1e-5)
    # a hand-checked channel: [1, 2, 3] -> [-1.2247, 0, 1.2247]
    one = instance_norm_time(torch.tensor([[[1.0], [2.0], [3.0]]]))
    assert torch.allclose(one.flatten(), torch.tensor([-1.22474, 0.0, 1.22474]), atol=1e-4)


def test_instance_norm_ignores_padding():
    x = torch.tensor([[[1.0], [2.0], [3.0], [100.0]]])
    pad = torch.tensor([[False, False, False, True]])
    out = instance_norm_time(x, pad)
    assert torch.allclose(out.flatten(), torch.tensor([-1.22474, 0.0, 1.22474, 0.0]), atol=1e-4)


def test_top_k_larger_than_layers_is_an_error():
    with pytest.raises(ValueError, match="average_top_k_layers=8"):
        build_targets([torch.zeros(1, 2, 3)] * 4, RegressionConfig())


def test_regression_loss_scale_and_smooth_l1():
    pred = torch.zeros(2, 4)
    target = torch.full((2, 4), 2.0)
    assert regression_loss(pred, target).item() == pytest.approx(8 * 4 / math.sqrt(4))
    # smooth L1 with beta 1: |d| - 0.5 = 1.5 per element
    assert regression_loss(pred, target, beta=1.0, scale=1.0).item() == pytest.approx(12.0)


def test_variance_monitor_and_collapse_guard():
    y = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # std per channel: sqrt(2), 0
    assert feature_std(y).item() == pytest.approx((math.sqrt(2 + 1e-6) + math.sqrt(1e-6)) / 2)
    config = RegressionConfig(min_target_var=0.1, min_pred_var=0.01, var_check_after=100)
    check_collapse(0.0, 0.0, 100, config)  # not checked yet
    with pytest.raises(CollapseError, match="target variance"):
        check_collapse(0.05, 1.0, 101, config)
    with pytest.raises(CollapseError, match="prediction variance"):
        check_collapse(1.0, 0.001, 101, config)
    check_collapse(0.0, 0.0, 10**6, RegressionConfig(min_target_var=0, min_pred_var=0))
