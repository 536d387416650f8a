"""Fixtures of the objective tests: one thread, a tiny backbone, a fixed synthetic batch."""

import pytest
import torch

from objective_fixtures import TINY, synthetic_batch
from speechssl.models import build_backbone, load_backbone_config


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the machine's cores are shared, and tiny models gain nothing more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_backbone():
    """A fresh 3-layer, 64-d backbone (50 frames/s) without dropout, from conf/model/tiny.yaml."""

    def make(seed: int = 0):
        torch.manual_seed(seed)
        return build_backbone(load_backbone_config("tiny", TINY))

    return make


@pytest.fixture
def batch():
    """The fixed two-utterance batch of ``objective_fixtures.synthetic_batch``."""
    return synthetic_batch()
