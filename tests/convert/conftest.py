"""Fixtures of the converter tests: a fixed random audio batch."""

import pytest
import torch


@pytest.fixture
def audio() -> torch.Tensor:
    return torch.randn(2, 8000, generator=torch.Generator().manual_seed(11))
