"""The CUDA paths: every objective on the GPU (fp32 equal to the CPU, bf16 autocast trains), and the
``speechssl`` pretrain -> finetune -> decode chain with ``trainer.device=cuda``.

These run only where a CUDA device is visible (CI has none: they are reported as skipped there);
``bench/cuda_checks.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.objectives.objective_fixtures import TINY, synthetic_batch
from speechssl import masking
from speechssl.cli.main import main
from speechssl.decode.emissions import compute_emissions, eval_dataset
from speechssl.finetune import load_finetuned
from speechssl.models import build_backbone, load_backbone_config
from speechssl.models.positional import PosConvLayer
from speechssl.objectives import OBJECTIVES, build_objective
from speechssl.train.checkpoint import load_weights
from tests.data.tiny_dirs import make_data_dir
from tests.objectives.test_objective_training import CONFIGS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_fp32():
    """fp32 matmuls and convolutions without TF32, so CPU and GPU losses can be compared."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _objective(name: str):
    torch.manual_seed(0)
    return build_objective(name, build_backbone(load_backbone_config("tiny", TINY)), CONFIGS.get(name))


def _uniform_on_the_cpu(shape, generator, device):
    """The masks' random numbers drawn from the CPU stream and copied (masking draws on the device)."""
    return torch.rand(shape, generator=generator).to(device)


# HuBERT and data2vec draw only masks: drawn from the CPU stream on both sides, the same seed gives
# the same loss. wav2vec 2.0 (negatives, Gumbel noise) and data2vec 2.0 (decoder noise) draw more.
@pytest.mark.parametrize("name", ["hubert", "data2vec"])
def test_fp32_loss_on_gpu_equals_cpu(name, monkeypatch):
    monkeypatch.setattr(masking, "_uniform", _uniform_on_the_cpu)
    objective = _objective(name).train()
    batch = synthetic_batch()
    losses = []
    for device in ("cpu", CUDA):
        objective.to(device)
        torch.manual_seed(7)
        with torch.no_grad():
            out = objective(batch.to(device))
        losses.append(float(out.loss) / out.sample_size)
    assert losses[1] == pytest.approx(losses[0], rel=1e-4), losses


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_bf16_autocast_training_lowers_loss_on_gpu(name):
    objective = _objective(name).to(CUDA).train()
    batch = synthetic_batch().to(CUDA)
    optimizer = torch.optim.Adam(objective.trainable_parameters(), lr=5e-4)

    def loss(step: int) -> torch.Tensor:
        torch.manual_seed(step)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = objective(batch)
        return out.loss.float() / out.sample_size

    with torch.no_grad():
        before = float(loss(1234))
    for step in range(1, 31):
        value = loss(step)
        optimizer.zero_grad()
        value.backward()
        assert torch.isfinite(value)
        assert all(torch.isfinite(p.grad).all() for p in objective.trainable_parameters() if p.grad is not None)
        optimizer.step()
        objective.after_update(step)
    with torch.no_grad():
        after = float(loss(1234))
    assert after < 0.9 * before, (name, before, after)


def test_long_positional_conv_on_gpu_equals_cpu():
    torch.manual_seed(0)
    layer = PosConvLayer(768, 128, 16, weight_norm=True, eps=1e-5)
    x = torch.randn(2, 768, 199)
    expected = layer(x)  # direct conv on the CPU
    got = layer.to(CUDA)(x.to(CUDA))  # FFT on the GPU
    assert torch.allclose(got.cpu(), expected, atol=1e-4), (got.cpu() - expected).abs().max()


def test_pretrain_finetune_decode_on_gpu(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=6, min_len=16000, max_len=24000)
    pretrain, finetune = tmp_path / "exp" / "pretrain", tmp_path / "exp" / "finetune"
    common = ["trainer.device=cuda", "trainer.num_workers=0", "trainer.max_tokens=48000",
              "trainer.min_sample_size=8000", "trainer.log_interval=1", "model.num_layers=2",
              f"data.train={data}", f"data.valid={data}"]
    sets = common + ["trainer.max_updates=3", "trainer.precision=bf16", "trainer.max_sample_size=16000",
                     "trainer.save_interval_updates=3", "trainer.validate_interval_updates=3"]
    argv = ["pretrain", "--config", "conf/pretrain/wav2vec2_tiny.yaml", "--exp-dir", str(pretrain)]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    summary = json.loads((pretrain / "summary.json").read_text())
    assert summary["updates"] == 3 and summary["valid"]["valid_loss"] > 0
    weights = load_weights(pretrain / "checkpoint_3.safetensors")  # saved from the GPU, read on the CPU
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in weights.values())

    sets = common + ["trainer.max_updates=4", "trainer.validate_interval_updates=2", "ctc.freeze_updates=2"]
    argv = ["finetune", "--config", "conf/finetune/tiny_letters.yaml", "--pretrained", str(pretrain),
            "--exp-dir", str(finetune)]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    assert json.loads((finetune / "summary.json").read_text())["updates"] == 4

    objective, _, _ = load_finetuned(finetune, "best")
    dataset = eval_dataset(data)
    on_cpu = compute_emissions(objective, dataset, device="cpu")
    on_gpu = compute_emissions(objective.to(CUDA), dataset, device=CUDA)
    assert on_gpu.keys() == on_cpu.keys()
    for utt, emission in on_cpu.items():
        assert torch.allclose(on_gpu[utt], emission, atol=1e-3), utt
    out = tmp_path / "decode"
    assert main(["decode", "--exp-dir", str(finetune), "--data", str(data), "--out", str(out), "--device", "cuda"]) == 0
    assert "cer" in json.loads((out / "decode.json").read_text())["greedy"]
