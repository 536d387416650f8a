"""Setup sweep: which pre-training settings move an objective's frozen representations against random
weights at one fixed compute, and whether its conv encoder or its Transformer loses phone information.

Variants: the recipe config and one change each (learning rate, masking, crop length,
``feature_grad_mult``, pre-LN, unmasked frames in the loss), each pre-trained to the same training
FLOPs (``UNITS`` x the objective's 1x, the schedule completed within it: ``bench.compute_curve_runs``
rules), then probed: PR dev PER (probe seeds) and ABX per layer. Hybrids: a pre-trained checkpoint's
conv encoder (with its feature norm and projection) under a random Transformer, and a random front
end under the pre-trained Transformer, probed the same way. See docs/setup_sweep.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from bench.common import REPO_ROOT, base_parser, finish, machine_info, setup_device
from bench.compute_curve_runs import CurvePlan, config_path, pretrain_command, run_overrides, unit_flops
from bench.compute_curves import ProbeSettings, probe_abx, probe_per

FRONT_END = ("backbone.feature_encoder.", "backbone.feature_norm.", "backbone.projection.")


@dataclass
class Variant:
    """One pre-training setting of the sweep.

    Attributes:
        name: folder and table name.
        what: the change, in words.
        overrides: the ``--set`` overrides from the loaded recipe config and its objective config
            (None: the variant does not apply to this objective).
    """

    name: str
    what: str
    overrides: Callable[[object, object], list[str] | None]


def _field(objective_cfg: object, name: str, value: Callable[[float], object]) -> list[str] | None:
    if not hasattr(objective_cfg, name):
        return None
    return [f"objective_config.{name}={value(getattr(objective_cfg, name))}"]


VARIANTS = [
    Variant("recipe", "the recipe config", lambda cfg, obj: []),
    Variant("lr_x2", "peak learning rate x2", lambda cfg, obj: [f"optim.lr={cfg.optim.lr * 2:g}"]),
    Variant("lr_x0.5", "peak learning rate x0.5", lambda cfg, obj: [f"optim.lr={cfg.optim.lr / 2:g}"]),
    Variant("mask_half", "mask_prob halved", lambda cfg, obj: _field(obj, "mask_prob", lambda p: round(p / 2, 4))),
    Variant("crop_2s", "crops of 2 s instead of 5 s (same audio per batch)",
            lambda cfg, obj: ["trainer.max_sample_size=32000"]),
    Variant("fgm_0.1", "feature_grad_mult 0.1 (BASE's; the tiny recipe trains the conv encoder at 1.0)",
            lambda cfg, obj: ["model.feature_grad_mult=0.1"]),
    Variant("fgm_0", "feature_grad_mult 0 (conv encoder held at its initialisation)",
            lambda cfg, obj: ["model.feature_grad_mult=0.0"]),
    Variant("pre_ln", "pre-LN Transformer (layer_norm_first)", lambda cfg, obj: ["model.layer_norm_first=true"]),
    Variant("dense", "unmasked frames in the loss (pred_nomask_weight 1)",
            lambda cfg, obj: _field(obj, "pred_nomask_weight", lambda _: 1.0)),
]


@dataclass
class SweepRow:
    """Probe results of one upstream of the sweep.

    Attributes:
        name: variant or hybrid name; what: the change in words.
        weights: the probed ``.safetensors``; updates: pre-training updates (0 for hybrids).
        per: PR dev PER (%) per probe seed; abx_across / abx_within: ABX error (%) per layer.
    """

    name: str
    what: str
    weights: str
    updates: int = 0
    per: list[float] = field(default_factory=list)
    abx_across: list[float] = field(default_factory=list)
    abx_within: list[float] = field(default_factory=list)


def pretrain_variant(objective: str, variant: Variant, plan: CurvePlan, unit: float, units: float,
                     out: Path) -> Path | None:
    """Pre-train (or resume) one variant to ``units`` x the objective's 1x (``unit`` FLOPs); returns its
    final milestone weights, or None when the variant does not apply to the objective."""
    from speechssl.objectives import objective_config
    from speechssl.train.budget import read_milestones
    from speechssl.train.config import load_pretrain_config

    cfg = load_pretrain_config(config_path(objective))
    extra = variant.overrides(cfg, objective_config(cfg.objective, cfg.objective_config))
    if extra is None:
        return None
    exp = out / variant.name
    exp.mkdir(parents=True, exist_ok=True)
    argv = pretrain_command(objective, exp, run_overrides(objective, plan, unit, units) + extra)
    with open(exp / "driver.log", "a") as log:
        log.write(" ".join(argv) + "\n")
        log.flush()
        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, check=True)
    return exp / read_milestones(exp)[-1].weights


def write_hybrid(front_from: Path | None, rest_from: Path | None, seed: int, out: Path) -> Path:
    """A checkpoint folder whose front end (conv encoder, feature norm, projection) comes from
    ``front_from`` and everything else from ``rest_from`` (None: the tiny backbone at its
    initialisation with ``seed``); the config is the pre-trained one's. An existing hybrid is reused
    (the probes' caches key on the file), so delete ``out`` after changing a source."""
    import shutil

    import torch
    from safetensors.torch import save_file

    from speechssl.io.atomic import atomic_path
    from speechssl.models.backbone import build_backbone
    from speechssl.train.checkpoint import load_weights, read_backbone_config

    if (out / "checkpoint_1.safetensors").is_file():
        return out / "checkpoint_1.safetensors"
    source = front_from or rest_from
    config = read_backbone_config(source.parent / "config.yaml")[0]
    torch.manual_seed(seed)  # as the probes' ``random`` upstream of this seed
    initial = {f"backbone.{k}": v for k, v in build_backbone(config).state_dict().items()}
    front = load_weights(front_from) if front_from else initial
    rest = load_weights(rest_from) if rest_from else initial
    state = {k: (front if k.startswith(FRONT_END) else rest)[k].contiguous() for k in initial}
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.parent / "config.yaml", out / "config.yaml")
    with atomic_path(out / "checkpoint_1.safetensors") as tmp:
        save_file(state, str(tmp))
    return out / "checkpoint_1.safetensors"


def probe_row(row: SweepRow, settings: ProbeSettings, probe_seeds: list[int], out: Path) -> SweepRow:
    """PR (every probe seed) and ABX per layer of ``row.weights`` (cached by ``speechssl.probe``)."""
    row.per = [round(probe_per(row.weights, 1, seed, settings, out / f"pr{seed}"), 2) for seed in probe_seeds]
    abx = probe_abx(row.weights, 1, settings, out / "abx")
    row.abx_across, row.abx_within = abx["abx_across"], abx["abx_within"]
    return row


def table(rows: list[SweepRow]) -> list[str]:
    """Markdown: PR mean (min-max), ABX across per layer, best ABX within."""
    lines = ["| upstream | change | updates | PR dev PER | ABX across, layers 0-4 | ABX within (best) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        per = f"{sum(r.per) / len(r.per):.1f} ({min(r.per):.1f}-{max(r.per):.1f})" if r.per else "-"
        across = " / ".join(f"{v:.1f}" for v in r.abx_across)
        within = f"{min(r.abx_within):.1f}" if r.abx_within else "-"
        lines.append(f"| {r.name} | {r.what} | {r.updates} | {per} | {across} | {within} |")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--objective", default="hubert")
    parser.add_argument("--units", type=float, default=2.0, help="compute of every variant, in the objective's 1x")
    parser.add_argument("--variants", nargs="*", default=[v.name for v in VARIANTS],
                        help="variant names (none: only the hybrids)")
    parser.add_argument("--hybrid-from", type=Path, nargs="*", default=[],
                        help="pre-trained .safetensors whose front end / Transformer are swapped with random ones")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data")
    parser.add_argument("--labels", default=str(REPO_ROOT / "exp" / "labels" / "mfcc" / "train"))
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "exp" / "setup_sweep")
    parser.add_argument("--probe-seeds", type=int, nargs="+", default=[1, 2, 3])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    runs = args.work / args.objective
    plan = CurvePlan(data=str(args.data / "pretrain"), labels=args.labels, out=runs,
                     horizon=args.units, milestones=(args.units,))
    settings = ProbeSettings(train=str(args.data / "train"), dev=str(args.data / "dev"),
                             features_root=str(args.work / "features"), out_root=str(args.work / "probes"),
                             device=args.device)
    rows = []
    chosen = [v for v in VARIANTS if v.name in args.variants]
    unit = unit_flops(args.objective, plan) if chosen else 0.0
    for variant in chosen:
        weights = pretrain_variant(args.objective, variant, plan, unit, args.units, runs)
        if weights is None:
            print(f"{variant.name}: does not apply to {args.objective}, left out")
            continue
        update = int(weights.stem.rpartition("_")[2])
        rows.append(probe_row(SweepRow(variant.name, variant.what, str(weights), update), settings,
                              args.probe_seeds, Path(settings.out_root) / args.objective / variant.name))
    for source in args.hybrid_from:
        label = f"{source.parent.name}/{source.stem}"
        for name, front, rest in (("front", source, None), ("transformer", None, source)):
            weights = write_hybrid(front, rest, 1, args.work / "hybrids" / f"{source.parent.name}-{source.stem}-{name}")
            what = (f"{label} conv encoder + projection under a random Transformer" if name == "front"
                    else f"random conv encoder + projection under {label}'s Transformer")
            rows.append(probe_row(SweepRow(f"{label}:{name}", what, str(weights)), settings, args.probe_seeds,
                                  Path(settings.out_root) / "hybrids" / weights.parent.name))
    result = {"name": "setup_sweep", "command": " ".join(["python -m bench.setup_sweep", *(argv or sys.argv[1:])]),
              "variants_of": args.objective if rows and args.variants else None, "units": args.units,
              "settings": {**asdict(settings), "probe_seeds": args.probe_seeds},
              "rows": [asdict(r) for r in rows], "table": table(rows), "machine": machine_info(device)}
    finish("setup_sweep_hybrids" if not args.variants else f"setup_sweep_{args.objective}", result, args.out)
    print("\n".join(result["table"]))


if __name__ == "__main__":
    main()
