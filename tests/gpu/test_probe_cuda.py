"""``speechssl probe --device cuda``: hidden states dumped on the GPU equal the CPU's, and the probe
trains there. Runs only where a CUDA device is visible (``bench/cuda_checks.sh``)."""

from __future__ import annotations

import pytest
import torch

from speechssl.probe.cache import load_hidden_states
from speechssl.probe.job import ProbeConfig, run_probe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_random_upstream_probe_on_gpu_matches_cpu_features(smoke_corpus, tmp_path):
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        results = {}
        for device in ("cpu", "cuda"):
            config = ProbeConfig(upstream="random", model_config="tiny", train=str(smoke_corpus / "train"),
                                 dev=str(smoke_corpus / "dev"), features_root=str(tmp_path / device),
                                 out=str(tmp_path / f"probe-{device}"), max_updates=20, device=device)
            results[device] = run_probe(config)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    cpu, gpu = (load_hidden_states(results[d].features["dev"]) for d in ("cpu", "cuda"))
    assert sorted(cpu) == sorted(gpu)
    for utt in cpu:
        assert torch.allclose(cpu[utt], gpu[utt], atol=1e-3), utt
    assert results["cuda"].updates == 20 and len(results["cuda"].layer_weights) == 5
