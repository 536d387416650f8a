"""The trainer's GPU step: no host synchronisation in HuBERT's step, and the compiled / CUDA-graphed
step's losses equal the eager step's within bf16 tolerance over 20 updates.

Run only where a CUDA device is visible (``bench/cuda_checks.sh``); skipped elsewhere, as every
test of tests/gpu.
"""

from __future__ import annotations

import pytest
import torch

from speechssl.models import build_backbone, load_backbone_config
from speechssl.objectives import build_objective
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import World
from speechssl.train.trainer import Trainer
from tests.objectives.objective_fixtures import TINY, synthetic_batch
from tests.objectives.test_objective_training import CONFIGS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
UPDATES = 20


def _trainer(name: str, compile_mode: str) -> Trainer:
    torch.manual_seed(0)
    objective = build_objective(name, build_backbone(load_backbone_config("tiny", TINY)), CONFIGS[name])
    cfg = TrainerConfig(max_updates=UPDATES, device="cuda", precision="bf16", compile=compile_mode)
    return Trainer(objective, OptimConfig(lr=5e-4), ScheduleConfig(name="constant"), cfg, World(device=CUDA))


def _losses(trainer: Trainer, updates: int) -> list[float]:
    batch = synthetic_batch().pin_memory()
    torch.manual_seed(11)
    stats = [trainer.train_step([batch]) for _ in range(updates)]
    return [float(s["loss_sum"]) / float(s["sample_size"]) for s in stats]


def test_hubert_step_never_synchronises_with_the_host():
    trainer = _trainer("hubert", "off")
    assert trainer.skip_on_device  # fused AdamW drops non-finite steps on the device
    batch = synthetic_batch().pin_memory()
    trainer.train_step([batch])  # first step: allocations, cuBLAS/cuFFT plans
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        stats = [trainer.train_step([batch]) for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(float(s["loss_sum"]) > 0 for s in stats) and trainer.num_updates == 4


@pytest.mark.parametrize(("name", "mode"), [("hubert", "reduce-overhead"), ("wav2vec2", "default")])
def test_compiled_step_losses_equal_the_eager_steps(name, mode):
    import torch._inductor.config as inductor_config

    eager = _losses(_trainer(name, "off"), UPDATES)
    torch._dynamo.reset()
    # the compiled graph draws its masks and noise with eager's random ops, in the same order
    with inductor_config.patch(fallback_random=True):
        compiled = _losses(_trainer(name, mode), UPDATES)
    assert compiled == pytest.approx(eager, rel=0.03), (eager, compiled)
    assert eager[-1] < eager[0]
