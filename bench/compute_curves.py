"""Compute curves: linear phone-recognition probe (dev PER) of every milestone checkpoint of the long
pre-training runs (``bench/compute_curve_runs.py``) against random weights and fbank.

Writes bench/results/compute_curves.json, a plot (PER against pre-training FLOPs, log x, random band)
and the table of the first budget at which each objective is below the whole random-weight spread.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.common import REPO_ROOT, RESULTS_DIR, base_parser, finish, machine_info, result_name, setup_device
from speechssl.objectives import OBJECTIVES
from speechssl.train.budget import read_milestones


@dataclass
class CurvePoint:
    """One milestone checkpoint of a curve run and its probe results.

    Attributes:
        objective: pre-training objective (the run folder's name).
        units: the milestone's budget in multiples of the objective's 1x (``unit.json``).
        flops: cumulative training FLOPs at the checkpoint.
        update: pre-training updates at the checkpoint.
        weights: the checkpoint's ``.safetensors`` path.
        per: dev PER (%) of each probe seed, in seed order.
        abx_across, abx_within: ABX error (%) per layer (``--abx``; empty without it).
    """

    objective: str
    units: float
    flops: float
    update: int
    weights: str
    per: list[float] = field(default_factory=list)
    abx_across: list[float] = field(default_factory=list)
    abx_within: list[float] = field(default_factory=list)


@dataclass
class ProbeSettings:
    """What every probe of the benchmark shares (the PR task, SUPERB's linear head)."""

    train: str
    dev: str
    features_root: str
    out_root: str
    max_updates: int = 1500
    device: str = "cpu"
    model_config: str = "tiny"


def discover_points(runs_root: Path, objectives: list[str]) -> dict[str, list[CurvePoint]]:
    """Milestone checkpoints of ``runs_root/<objective>/`` (``unit.json`` + ``milestones.json``), by
    objective, smallest budget first; objectives with no run folder or no milestone are left out.

    Raises:
        FileNotFoundError: when no objective has a milestone (names ``runs_root``).
    """
    points: dict[str, list[CurvePoint]] = {}
    for objective in objectives:
        run = runs_root / objective
        if not (run / "unit.json").is_file():
            continue
        unit = float(json.loads((run / "unit.json").read_text())["unit_flops"])
        kept = [CurvePoint(objective, round(m.budget / unit, 6), m.training_flops, m.update, str(run / m.weights))
                for m in read_milestones(run)]
        if kept:
            points[objective] = kept
    if not points:
        raise FileNotFoundError(
            f"{runs_root}: no <objective>/unit.json with milestones; run python -m bench.compute_curve_runs"
        )
    return points


def probe_config(upstream: str, upstream_seed: int, task: str, settings: ProbeSettings, out: Path, **extra):
    """``speechssl.probe`` job config of one ``task`` on ``upstream`` with the shared ``settings``."""
    from speechssl.probe.job import ProbeConfig

    return ProbeConfig(upstream=upstream, model_config=settings.model_config, upstream_seed=upstream_seed,
                       task=task, train=settings.train, dev=settings.dev,
                       features_root=settings.features_root, out=str(out), device=settings.device, **extra)


def probe_per(upstream: str, upstream_seed: int, probe_seed: int, settings: ProbeSettings, out: Path) -> float:
    """Dev PER (%) of the linear PR probe of ``upstream`` (checkpoint, ``random`` or ``fbank``): the
    one call into ``speechssl.probe`` (it caches features and finished probes)."""
    from speechssl.probe.job import run_probe

    config = probe_config(upstream, upstream_seed, "pr", settings, out, seed=probe_seed,
                          max_updates=settings.max_updates)
    return 100.0 * float(run_probe(config).scores["dev"]["per"])


def probe_abx(upstream: str, upstream_seed: int, settings: ProbeSettings, out: Path) -> dict[str, list[float]]:
    """ABX error (%) of every layer of ``upstream``, ``{"abx_across": [...], "abx_within": [...]}``
    (``speechssl.probe`` task ``abx``: no training, the dev hidden states shared with PR)."""
    from speechssl.probe.job import run_probe

    layers = run_probe(probe_config(upstream, upstream_seed, "abx", settings, out)).layers
    return {key: [round(100.0 * layer[key], 2) for layer in layers] for key in ("abx_across", "abx_within")}


def spread(values: list[float]) -> tuple[float, float]:
    """(lowest, highest) of ``values``: the random-weight band over upstream and probe seeds."""
    if not values:
        raise ValueError("no random-weight probe result: the band needs at least one")
    return min(values), max(values)


def first_below(points: list[CurvePoint], band_low: float) -> CurvePoint | None:
    """The smallest-budget point whose every probe seed has a PER below ``band_low`` (None: none)."""
    for point in sorted(points, key=lambda p: p.units):
        if point.per and max(point.per) < band_low:
            return point
    return None


def verdict(points: list[CurvePoint], band_low: float) -> str:
    """``"4x"`` (the first budget below the band) or ``"not within 8x"`` (the largest budget probed)."""
    point = first_below(points, band_low)
    if point is not None:
        return f"{point.units:g}x"
    return f"not within {max(p.units for p in points):g}x"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def table(points: dict[str, list[CurvePoint]], random: list[float], fbank: list[float]) -> list[str]:
    """Markdown rows: per objective its PER (mean, min-max over probe seeds) at each budget and the verdict."""
    low, high = spread(random)
    budgets = sorted({p.units for rows in points.values() for p in rows})
    baselines = f"random weights: dev PER {low:.1f}-{high:.1f} % (mean {_mean(random):.1f})"
    if fbank:
        baselines += f"; fbank: {_mean(fbank):.1f} % (mean of {len(fbank)} probe seeds)"
    lines = [baselines, "",
             "| objective | " + " | ".join(f"{b:g}x" for b in budgets) + " | first below random |",
             "| --- | " + " | ".join("---" for _ in budgets) + " | --- |"]
    for objective, rows in points.items():
        by_budget = {p.units: p for p in rows}
        cells = []
        for budget in budgets:
            point = by_budget.get(budget)
            cells.append(f"{_mean(point.per):.1f} ({min(point.per):.1f}-{max(point.per):.1f})"
                         if point and point.per else "-")
        lines.append(f"| {objective} | " + " | ".join(cells) + f" | {verdict(rows, low)} |")
    return lines


def plot(points: dict[str, list[CurvePoint]], random: list[float], fbank: list[float], path: Path) -> None:
    """PER (%) against pre-training FLOPs (log x), one line per objective (mean, min-max bars over
    probe seeds), the random-weight band shaded and fbank's mean dashed; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8.5, 4.5))
    low, high = spread(random)
    axes.axhspan(low, high, color="0.85", label=f"random weights ({low:.1f}-{high:.1f})")
    if fbank:
        axes.axhline(_mean(fbank), color="0.3", linestyle="--", label=f"fbank ({_mean(fbank):.1f})")
    for objective, rows in points.items():
        rows = [p for p in sorted(rows, key=lambda p: p.flops) if p.per]
        if not rows:
            continue
        means = [_mean(p.per) for p in rows]
        errors = [[m - min(p.per) for m, p in zip(means, rows)], [max(p.per) - m for m, p in zip(means, rows)]]
        axes.errorbar([p.flops for p in rows], means, yerr=errors, marker="o", capsize=3, label=objective)
    axes.set_xscale("log")
    axes.set_xlabel("pre-training FLOPs (analytic training count)")
    axes.set_ylabel("dev PER (%), linear phone probe")
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: no point hidden
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def build_result(points: dict[str, list[CurvePoint]], random: dict[str, float], fbank: list[float],
                 settings: ProbeSettings, probe_seeds: list[int]) -> dict:
    """The results JSON: settings, baselines, every point and each objective's verdict."""
    low, high = spread(list(random.values()))
    return {
        "name": "compute_curves",
        "settings": {**asdict(settings), "task": "pr", "probe_seeds": probe_seeds,
                     "criterion": "first budget whose every probe seed's dev PER is below the lowest "
                                  "random-weight PER (all upstream x probe seeds)"},
        "random": {"per": random, "band": [low, high]},
        "fbank": {"per": fbank},
        "objectives": {o: {"first_below_random": verdict(rows, low), "points": [asdict(p) for p in rows]}
                       for o, rows in points.items()},
        "table": table(points, list(random.values()), fbank),
    }


def abx_table(points: dict[str, list[CurvePoint]], baselines: dict[str, dict[str, list[float]]]) -> list[str]:
    """Markdown rows: best-layer ABX across speakers (%) at each budget (the best layer in brackets)."""
    def best(across: list[float]) -> str:
        return f"{min(across):.1f} (L{across.index(min(across))})" if across else "-"

    budgets = sorted({p.units for rows in points.values() for p in rows})
    lines = ["baselines, best-layer ABX across: " + "; ".join(f"{name} {best(abx['abx_across'])}"
                                                         for name, abx in baselines.items()), "",
             "| objective | " + " | ".join(f"{b:g}x" for b in budgets) + " |",
             "| --- | " + " | ".join("---" for _ in budgets) + " |"]
    for objective, rows in points.items():
        by_budget = {p.units: p for p in rows}
        cells = [best(by_budget[b].abx_across) if b in by_budget else "-" for b in budgets]
        lines.append(f"| {objective} | " + " | ".join(cells) + " |")
    return lines


def run_abx(points, settings: ProbeSettings, random_seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    """ABX per layer of every point (into the points) and baseline; returns the baselines' by name."""
    out = Path(settings.out_root)
    baselines = {"fbank": probe_abx("fbank", 1, settings, out / "fbank" / "abx")}
    for seed in tqdm(random_seeds, desc="ABX, random weights"):
        baselines[f"random{seed}"] = probe_abx("random", seed, settings, out / f"random{seed}" / "abx")
    for point in tqdm([p for rows in points.values() for p in rows], desc="ABX"):
        scores = probe_abx(point.weights, 1, settings, out / point.objective / f"{point.units:g}x" / "abx")
        point.abx_across, point.abx_within = scores["abx_across"], scores["abx_within"]
    return baselines


def run_probes(points, settings: ProbeSettings, probe_seeds: list[int], random_seeds: list[int]):
    """Probe every point and baseline; returns (random {"seedU/probeP": PER}, fbank [PER])."""
    out = Path(settings.out_root)
    jobs = [("fbank", 1, s, out / "fbank" / f"probe{s}") for s in probe_seeds]
    jobs += [("random", u, s, out / f"random{u}" / f"probe{s}") for u in random_seeds for s in probe_seeds]
    jobs += [(p.weights, 1, s, out / p.objective / f"{p.units:g}x" / f"probe{s}")
             for rows in points.values() for p in rows for s in probe_seeds]
    random, fbank, by_weights = {}, [], {p.weights: p for rows in points.values() for p in rows}
    for upstream, upstream_seed, probe_seed, job_out in tqdm(jobs, desc="probes"):
        per = probe_per(upstream, upstream_seed, probe_seed, settings, job_out)
        if upstream == "fbank":
            fbank.append(per)
        elif upstream == "random":
            random[f"seed{upstream_seed}/probe{probe_seed}"] = per
        else:
            by_weights[upstream].per.append(per)
    return random, fbank


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "exp" / "compute_curves",
                        help="folder of <objective>/ curve runs (unit.json, milestones.json)")
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), help="default: every objective")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data", help="DATA_ROOT with train/ and dev/")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "exp" / "bench_compute_curves",
                        help="probe outputs and the hidden-state cache")
    parser.add_argument("--probe-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--probe-updates", type=int, default=1500)
    parser.add_argument("--abx", action="store_true", help="also ABX per layer of every point and baseline")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of the curves (default bench/results/<results name>.png)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.quick:  # one seed each and a short probe: checks the wiring in minutes
        args.probe_seeds, args.random_seeds, args.probe_updates = [1], [1], 20
    device = setup_device(args)
    settings = ProbeSettings(train=str(args.data / "train"), dev=str(args.data / "dev"),
                             features_root=str(args.work / "features"), out_root=str(args.work / "probes"),
                             max_updates=args.probe_updates, device=args.device)
    points = discover_points(args.runs, args.objectives)
    random, fbank = run_probes(points, settings, args.probe_seeds, args.random_seeds)
    baselines = run_abx(points, settings, args.random_seeds) if args.abx else None
    result = build_result(points, random, fbank, settings, args.probe_seeds)
    if baselines is not None:
        result["abx_baselines"] = baselines
        result["abx_table"] = abx_table(points, baselines)
    result["machine"] = machine_info(device)
    name = result_name("compute_curves", args.quick, device)
    plot_path = args.plot or RESULTS_DIR / f"{name}.png"
    plot(points, list(random.values()), fbank, plot_path)
    result["plot"] = str(plot_path)
    finish(name, result, args.out)
    print("\n".join(result["table"] + [""] + result.get("abx_table", [])))


if __name__ == "__main__":
    main()
