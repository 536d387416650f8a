"""Checkpoint files: round trip, corrupt-file errors, pruning and backbone extraction."""

from __future__ import annotations

import pytest
import torch

from speechssl.train import checkpoint as ckpt


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {"backbone.conv.weight": torch.full((2, 3), value), "head.bias": torch.tensor([value])}


def test_round_trip_and_backbone_prefix(tmp_path):
    state = {
        "num_updates": 7,
        "rng": {"torch": [1, 2, 3]},
        "optimizer": {"state": {0: {"exp_avg": torch.ones(2)}}},
    }
    path = ckpt.save_checkpoint(tmp_path, ckpt.checkpoint_name(7), _weights(1.5), state)
    weights, loaded = ckpt.load_checkpoint(path)
    assert torch.equal(weights["backbone.conv.weight"], torch.full((2, 3), 1.5))
    assert loaded["num_updates"] == 7 and torch.equal(
        loaded["optimizer"]["state"][0]["exp_avg"], torch.ones(2)
    )
    backbone = ckpt.load_backbone_weights(path)
    assert list(backbone) == ["conv.weight"]
    with pytest.raises(ckpt.CheckpointError, match="no 'backbone"):
        torch_only = ckpt.save_checkpoint(tmp_path, "other", {"head.bias": torch.ones(1)}, {})
        ckpt.load_backbone_weights(torch_only)


def test_corrupt_newest_checkpoint_is_named_and_previous_still_loads(tmp_path):
    for update in (2, 4):
        ckpt.save_checkpoint(
            tmp_path, ckpt.checkpoint_name(update), _weights(update), {"num_updates": update}
        )
    newest = ckpt.latest_checkpoint(tmp_path)
    assert newest.name == "checkpoint_4.safetensors"
    newest.write_bytes(newest.read_bytes()[:40])  # truncated weights
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load_checkpoint(newest)
    message = str(error.value)
    assert "checkpoint_4.safetensors: corrupt weights file" in message and "\n" not in message
    weights, state = ckpt.load_checkpoint(tmp_path / "checkpoint_2.safetensors")
    assert state["num_updates"] == 2 and float(weights["head.bias"]) == 2.0
    state_file = tmp_path / "checkpoint_2.state.pt"
    state_file.write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="checkpoint_2.state.pt: corrupt trainer state"):
        ckpt.load_checkpoint(tmp_path / "checkpoint_2.safetensors")


def test_incomplete_checkpoints_are_ignored_and_old_ones_pruned(tmp_path):
    for update in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, ckpt.checkpoint_name(update), _weights(update), {})
    ckpt.save_checkpoint(tmp_path, ckpt.BEST_NAME, _weights(0), {})
    (tmp_path / "checkpoint_9.safetensors").write_bytes(b"")  # killed before its state was written
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        f"checkpoint_{u}.safetensors" for u in (1, 2, 3)
    ]
    ckpt.prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "checkpoint_2.safetensors",
        "checkpoint_3.safetensors",
    ]
    assert (tmp_path / "checkpoint_best.state.pt").is_file()
    assert not list(tmp_path.glob(".*.tmp"))
