"""Training-step throughput (audio-seconds per second) of our objectives against torchaudio and HF.

Every model takes the same batch and optimizer step; repetitions are interleaved model by model.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import torch

from bench.common import base_parser, finish, machine_info, median, result_name, setup_device, timed
from bench.models import OURS, REFERENCES, StepModel, TrainStep, build_model, make_batch
from speechssl.progress import progress_bar

DTYPES = {"fp32": None, "bf16": torch.bfloat16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class ThroughputSettings:
    """What one throughput run measures.

    Attributes:
        size: backbone size (``base`` or ``tiny``), the references built alike.
        batch_size, seconds: the batch, (batch_size, seconds * 16000) samples of equal length.
        dtype: ``fp32`` or ``bf16`` autocast, the same for every model.
        warmup: untimed steps per model first; reps: timed steps per model, interleaved.
        compile: ``torch.compile`` the feature encoder and Transformer layers of every model.
        compile_mode: instead, ``torch.compile`` every model's whole module (forward and, through
            AOT autograd, backward) in this mode (``reduce-overhead`` = CUDA graphs); LayerDrop is
            then 0 for every model, since each pattern of skipped layers would compile anew.
        layerdrop: every model's LayerDrop probability; None keeps each config's (BASE 0.05).
    """

    size: str = "base"
    batch_size: int = 2
    seconds: float = 4.0
    dtype: str = "fp32"
    warmup: int = 1
    reps: int = 4
    compile: bool = False
    compile_mode: str | None = None
    layerdrop: float | None = None


def compile_hot_modules(model: StepModel) -> None:
    """Compile (in place) the conv feature encoder and each Transformer layer, where the time goes.

    Layers are compiled one by one: LayerDrop picks the layers to run in Python, so a compiled
    whole encoder would recompile for every new pattern of skipped layers.
    """
    module = model.module
    if model.name.startswith("ours:"):
        parts = [module.backbone.feature_encoder, *module.backbone.encoder.layers]
    elif model.name == "torchaudio_hubert":
        parts = [module.wav2vec2.feature_extractor, *module.wav2vec2.encoder.transformer.layers]
    else:
        parts = [module.wav2vec2.feature_extractor, *module.wav2vec2.encoder.layers]
    for part in parts:
        part.compile()


def compile_whole_module(model: StepModel, mode: str) -> None:
    """Compile (in place) the module that holds the whole forward of ``model``."""
    model.module.compile(mode=None if mode == "default" else mode, dynamic=False)


def clones_per_utterance(model: StepModel) -> int:
    """Copies of each utterance a step trains on (data2vec 2.0's ``clone_batch``; else 1)."""
    config = getattr(model.module, "config", None)
    return int(getattr(config, "clone_batch", 1) or 1)


def measure(names: list[str], settings: ThroughputSettings, device: torch.device) -> dict:
    """Time ``names`` (ours:<objective> or reference names) step by step, interleaved.

    Returns per model the step times and audio-seconds/s, and for every (ours, reference) pair the
    median over repetitions of time(reference) / time(ours), both measured in the same repetition.
    """
    batch = make_batch(settings.batch_size, settings.seconds).to(device)
    audio_seconds = settings.batch_size * settings.seconds
    steps: dict[str, TrainStep] = {}
    warmup_s: dict[str, float] = {}
    for name in progress_bar(names, desc="build + warm-up"):
        model = build_model(name, settings.size, settings.layerdrop)
        if settings.compile_mode:
            compile_whole_module(model, settings.compile_mode)
        elif settings.compile:
            compile_hot_modules(model)
        step = TrainStep(model, device, DTYPES[settings.dtype])
        start = time.perf_counter()
        for _ in range(settings.warmup):
            step(batch)
        warmup_s[name] = round(time.perf_counter() - start, 2)
        steps[name] = step
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in progress_bar(range(settings.reps), desc="timed repetitions"):
        shift = rep % len(names)  # rotate the order so no model always runs first
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(lambda step=steps[name]: step(batch), device))
    models = {}
    for name in names:
        step_s = median(times[name])
        clones = clones_per_utterance(steps[name].model)
        models[name] = {
            "params_m": round(sum(p.numel() for p in steps[name].model.params) / 1e6, 2),
            "step_s_median": round(step_s, 4),
            "step_s": [round(t, 4) for t in times[name]],
            "warmup_s": warmup_s[name],
            "audio_s_per_s": round(audio_seconds / step_s, 3),
            # data2vec 2.0's figure of merit: every clone is a training example of its own
            "clones": clones,
            "clone_audio_s_per_s": round(clones * audio_seconds / step_s, 3),
        }
    ratios = {}
    for ours in (n for n in names if n.startswith("ours:")):
        for ref in (n for n in names if n in REFERENCES):
            per_rep = [t_ref / t_ours for t_ours, t_ref in zip(times[ours], times[ref])]
            ratios[f"{ours}/{ref}"] = {
                "median": round(median(per_rep), 3),
                "per_rep": [round(r, 3) for r in per_rep],
            }
    return {"audio_seconds_per_step": audio_seconds, "models": models, "ratios": ratios}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"subset of {[f'ours:{o}' for o in OURS] + list(REFERENCES)}")
    parser.add_argument("--size", default=None, choices=("base", "tiny"))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="crop length of every row")
    parser.add_argument("--dtype", default=None, choices=sorted(DTYPES), help="cpu: fp32, cuda: bf16")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile every model's hot modules")
    parser.add_argument("--compile-mode", default=None, choices=COMPILE_MODES,
                        help="torch.compile every model's whole module in this mode (LayerDrop 0)")
    return parser.parse_args(argv)


# fairseq's BASE pre-training batch per GPU: max_tokens 1.4M samples = 87.5 s, here 7 x 12.5 s
FAIRSEQ_BATCH = (7, 12.5)
SMALL_GPU_BATCH = (4, 15.6)  # the earlier GPU default, kept as a second row
LARGE_GPU_BYTES = 80e9  # from this much memory on, the GPU default is fairseq's batch


def gpu_batch() -> tuple[int, float]:
    """fairseq's per-GPU batch on an 80+ GB GPU, else the smaller one."""
    large = torch.cuda.get_device_properties(0).total_memory >= LARGE_GPU_BYTES
    return FAIRSEQ_BATCH if large else SMALL_GPU_BATCH


def default_settings(quick: bool, device: str) -> ThroughputSettings:
    """The batch every step benchmark times, per mode: quick (tiny, 2 x 1 s fp32), CPU (BASE,
    2 x 4 s fp32), GPU (BASE, bf16 autocast, ``gpu_batch``: 7 x 12.5 s on an 80+ GB GPU)."""
    if quick:
        return ThroughputSettings("tiny", 2, 1.0, "fp32", warmup=1, reps=2)
    if device == "cuda":
        return ThroughputSettings("base", *gpu_batch(), "bf16", warmup=3, reps=10)
    return ThroughputSettings()


def settings_from_args(args: argparse.Namespace) -> ThroughputSettings:
    """``default_settings`` of the mode, with every option given on the command line applied."""
    settings = default_settings(args.quick, args.device)
    for field in ("size", "batch_size", "seconds", "dtype", "warmup", "reps"):
        if getattr(args, field) is not None:
            setattr(settings, field, getattr(args, field))
    settings.compile = args.compile
    settings.compile_mode = args.compile_mode
    if args.compile_mode:
        settings.layerdrop = 0.0
    return settings


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    settings = settings_from_args(args)
    names = args.models or [f"ours:{o}" for o in OURS] + list(REFERENCES)
    names = [n if n in REFERENCES or n.startswith("ours:") else f"ours:{n}" for n in names]
    result = {"name": "throughput", "machine": machine_info(device), "settings": asdict(settings)}
    result.update(measure(names, settings, device))
    compiled = settings.compile or settings.compile_mode
    base = "throughput" + ("_tiny" if settings.size == "tiny" else "") + ("_compile" if compiled else "")
    finish(result_name(base, args.quick, device), result, args.out)


if __name__ == "__main__":
    main()
