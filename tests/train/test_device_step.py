"""The step the GPU runs without read-backs: HuBERT on the meta device (where any device -> host
read fails), the fused optimizer's on-device skip, static length buckets and their configs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from speechssl.config import ConfigError
from speechssl.data.batch import LABEL_PAD, AudioBatch
from speechssl.data.dataset import AudioDataset, Example, collate
from speechssl.data.sampler import round_up_sizes
from speechssl.models import build_backbone, load_backbone_config
from speechssl.objectives import build_objective
from speechssl.objectives import ema
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import World
from speechssl.train.run import run_training
from speechssl.train.trainer import Trainer, TrainingDiverged
from speechssl.objectives.regression import feature_std, regression_loss
from tests.objectives.objective_fixtures import TINY, synthetic_batch
from tests.data.tiny_dirs import make_data_dir
from tests.objectives.test_objective_training import CONFIGS


class ReadBacks(TorchDispatchMode):
    """Counts the ops that copy a tensor value to the host (``item``, ``float()``, ``bool()``)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


class ScaleObjective(Objective):
    """loss = sum((w * audio)^2) over valid samples, as a tensor sample_size; NaN when ``poison``."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(1, 1, bias=False)
        self.poison = False
        self.updates = 0

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        valid = (~batch.padding_mask()).float()
        loss = ((self.backbone.weight[0, 0] * batch.audio) ** 2 * valid).sum()
        if self.poison:
            loss = loss * float("nan")
        return ObjectiveOutput(loss=loss, sample_size=valid.sum(), logs={"mean_valid": valid.mean()})

    def after_update(self, num_updates: int) -> None:
        self.updates = num_updates


def _trainer(objective: Objective, fused: str, **trainer: object) -> Trainer:
    cfg = TrainerConfig(max_updates=10, device="cpu", **trainer)
    return Trainer(objective, OptimConfig(lr=1e-2, fused=fused), ScheduleConfig(name="constant"), cfg, World())


def _batch() -> AudioBatch:
    audio = torch.linspace(-1.0, 1.0, 64).reshape(2, 32)
    return AudioBatch(audio, torch.tensor([32, 20]), ["spk-a", "spk-b"])


@pytest.mark.parametrize("name", ["hubert", "data2vec"])
def test_step_reads_nothing_back_on_the_meta_device(name, monkeypatch):
    # autocast has no "meta" device type: the teacher's fp32 region names the CPU's instead
    monkeypatch.setattr(ema, "_device_type", lambda model: "cpu")
    torch.manual_seed(0)
    backbone = build_backbone(load_backbone_config("tiny", TINY))
    objective = build_objective(name, backbone, CONFIGS[name]).train()
    host = synthetic_batch()
    objective.check_batch(host)  # what the trainer runs on the host before the copy
    objective.to("meta")
    output = objective(host.to("meta"))  # a value read back would raise on meta tensors
    (output.loss / output.sample_size.clamp(min=1)).backward()
    assert output.sample_size.device.type == "meta" and output.sample_size.dtype == torch.long
    assert objective.final_proj.weight.grad.device.type == "meta"
    assert {v.device.type for v in output.logs.values() if torch.is_tensor(v)} == {"meta"}


def test_hubert_checks_the_host_batch():
    objective = build_objective("hubert", build_backbone(load_backbone_config("tiny", TINY)), CONFIGS["hubert"])
    with pytest.raises(ValueError, match="num_classes 12"):
        objective.check_batch(synthetic_batch(num_classes=20))
    with pytest.raises(ValueError, match="utterance spk1-utt1: 100 labels at 50 Hz cover 100 frames"):
        objective.check_batch(synthetic_batch(label_rate=100))


def test_weighted_regression_equals_the_indexed_rows():
    torch.manual_seed(3)
    pred, target = torch.randn(40, 8), torch.randn(40, 8)
    keep = torch.rand(40) < 0.5
    weighted = regression_loss(pred, target, 0.25, None, keep)
    assert float(weighted) == pytest.approx(float(regression_loss(pred[keep], target[keep], 0.25)), rel=1e-5)
    assert float(feature_std(pred, keep)) == pytest.approx(float(feature_std(pred[keep])), rel=1e-5)
    assert float(feature_std(pred, torch.arange(40) == 3)) == 0.0  # one row: no spread


def test_fused_step_reads_nothing_back_and_matches_the_host_step():
    losses = []
    for fused in ("false", "true"):
        torch.manual_seed(0)
        trainer = _trainer(ScaleObjective(), fused)
        assert trainer.skip_on_device == (fused == "true")
        counter = ReadBacks()
        with counter:
            stats = [trainer.train_step([_batch()]) for _ in range(3)]
        if fused == "true":
            assert counter.count == 0
        losses.append([float(s["loss_sum"]) / float(s["sample_size"]) for s in stats])
        assert trainer.num_updates == 3 and trainer.objective.updates == 3
        assert trainer.pop_logs() == {"mean_valid": pytest.approx(52 / 64)}
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    assert losses[0][2] < losses[0][0]


def test_fused_step_drops_a_non_finite_step_on_the_device():
    trainer = _trainer(ScaleObjective(), "true", max_skipped_in_a_row=2)
    trainer.train_step([_batch()])
    weight = trainer.objective.backbone.weight.detach().clone()
    trainer.objective.poison = True
    stats = trainer.train_step([_batch()])
    assert torch.equal(trainer.objective.backbone.weight, weight)  # the kernel left it out
    assert float(stats["loss_sum"]) == 0.0 and float(stats["grad_norm"]) == 0.0
    assert trainer.skipped_steps == 0  # not known on the host yet
    trainer.pop_logs()
    assert trainer.skipped_steps == 1 and trainer.num_updates == 2
    trainer.train_step([_batch()])
    with pytest.raises(TrainingDiverged, match="2 steps in a row") as failure:
        trainer.pop_logs()
    assert "last batch on rank 0: spk-a, spk-b" in str(failure.value)  # the step's own batch


def test_static_lengths_pad_batches_to_a_few_shapes():
    bounds = (16000, 32000)
    assert round_up_sizes([100, 16000, 16001, 32000], bounds).tolist() == [16000, 16000, 32000, 32000]
    assert round_up_sizes([7, 9], ()).tolist() == [7, 9]
    with pytest.raises(ValueError, match="longer than the longest static length 32000"):
        round_up_sizes([32001], bounds)
    examples = [
        Example("spk-a", torch.ones(20000).numpy(), labels=torch.arange(62).numpy()),
        Example("spk-b", torch.ones(17000).numpy(), labels=torch.arange(53).numpy()),
    ]
    batch = collate(examples, bounds)
    assert batch.audio.shape == (2, 32000) and batch.audio_lengths.tolist() == [20000, 17000]
    assert batch.labels.shape == (2, 200) and batch.label_lengths.tolist() == [62, 53]
    assert int(batch.labels[0, 62]) == LABEL_PAD and float(batch.audio[1, 17000:].abs().sum()) == 0.0
    assert collate(examples).audio.shape == (2, 20000)
    broken = Example("spk-c", torch.zeros(0).numpy(), problem="spk-c: empty audio")
    batch = collate([broken, *examples], bounds)  # a bad utterance is left out, shapes unchanged
    assert batch.utt_ids == ["spk-a", "spk-b"] and batch.skipped == {"spk-c": "spk-c: empty audio"}
    assert batch.audio.shape == (2, 32000) and batch.labels.shape == (2, 200)
    assert collate([broken], bounds).audio.shape == (0, 0)


def test_configs_check_the_new_options():
    assert TrainerConfig(compile="reduce-overhead", static_lengths=(80000, 160000)).compile == "reduce-overhead"
    with pytest.raises(ConfigError, match="trainer.compile"):
        TrainerConfig(compile="cudagraph")
    with pytest.raises(ConfigError, match="increasing positive"):
        TrainerConfig(static_lengths=(160000, 80000))
    with pytest.raises(ConfigError, match="optim.fused"):
        OptimConfig(fused="yes")


class ShapeRecorder(ScaleObjective):
    """ScaleObjective that notes the (B, T) shape of every training batch."""

    def __init__(self):
        super().__init__()
        self.shapes: set[tuple[int, int]] = set()

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        if self.training:
            self.shapes.add(tuple(batch.audio.shape))
        return super().forward(batch)


def test_training_with_static_lengths_sees_only_those_lengths(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=24, min_len=1000, max_len=9000)
    cfg = TrainerConfig(
        max_updates=14, max_tokens=16000, max_sample_size=8000, min_sample_size=0, num_workers=0,
        log_interval=4, save_interval_updates=0, validate_interval_updates=0, device="cpu",
        static_lengths=(4000, 8000), length_noise=0.0,
    )
    objective = ShapeRecorder()
    train = AudioDataset(data, max_sample_size=cfg.max_sample_size, seed=cfg.seed)
    summary = run_training(objective, train, None, cfg, OptimConfig(lr=1e-3), ScheduleConfig(name="constant"),
                           tmp_path / "exp")
    assert summary["updates"] == 14
    assert {length for _, length in objective.shapes} == {4000, 8000}
    assert all(rows * length <= cfg.max_tokens for rows, length in objective.shapes)
