"""The regime study's report: markdown built from small sections, and its three figures.

Each section is a function of the computed numbers that returns its lines;
``SECTIONS`` names them in order, and the smoke test checks that a report
holds every one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.reporting import save_figure
from study_config import REGIME_NOTES, SIDES
from study_diagnosis import main_vs_scripted_curve
from study_tables import KINDS, REFERENCE_REGIME, Interval

LEAGUE_REGIMES = ("pfsp", "psro")


@dataclass
class Study:
    """Everything a report needs: the settings, the rows of study_tables, the cross-play and the command."""

    game: str
    regimes: list[str]
    seeds: list[int]
    budgets: object  # study_config.Budgets
    value: float
    rows: dict
    comparisons: dict
    agreement: tuple[float, float]
    crossplay_shape: tuple[int, int]
    nash_support: dict[str, dict[str, float]]
    wall_s: dict[str, float]
    command: str
    base_config: str
    quick: bool
    diagnosis: dict = field(default_factory=dict)  # study_diagnosis.diagnose


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def interval(values, sign: bool = True) -> str:
    return Interval.of(values).text(sign)


# ---------------------------------------------------------------------- sections


def headline(study: Study) -> list[str]:
    lines = [f"NashConv (lower is better; the sum of the two sides' exploitability, 1.0 = $100 per episode) of each "
             f"league regime's output against {REFERENCE_REGIME}'s, on the `{study.game}` game. Goal from the issue: "
             "a league whose NashConv is at most half of self-play's, with intervals that do not overlap.", ""]  # fmt: skip
    rows, verdicts = [], []
    for regime in LEAGUE_REGIMES:
        for kind in KINDS:
            found = study.comparisons.get(f"{regime}/{kind}")
            if not found:
                continue
            overlap = {None: "n/a (one seed)", True: "yes", False: "no"}[found["overlap"]]
            met = found["at_most_half"] and found["overlap"] is False
            verdicts.append(met)
            rows.append([f"{regime} ({kind})", found["nash_conv"].text(False), found["reference"].text(False),
                         f"{found['ratio']:.2f}", found["paired_difference"].text(), overlap, "met" if met else "not met"])  # fmt: skip
    lines += table(["league output", "NashConv", f"{REFERENCE_REGIME} NashConv", "ratio", "paired difference",
                    "intervals overlap", "goal"], rows)  # fmt: skip
    if verdicts:
        helped = any(verdicts)
        lines += ["", ("**A league helps on this game**: at least one league output has at most half of self-play's "
                       "NashConv, with separated intervals." if helped else
                       "**No league output reached half of self-play's NashConv with separated intervals** in this "
                       "measurement; see the paired differences and the diagnosis below.")]  # fmt: skip
    lines += ["", "Intervals: 95% Student-t over seeds; paired differences: the mean over seeds of (regime - self_play) "
              "on the same seed (same customers and evaluation episodes), with a paired t-interval."
              + (" One seed: a single run, no interval." if len(study.seeds) == 1 else "")]  # fmt: skip
    return lines


def exploitability_tables(study: Study) -> list[str]:
    lines = [f"Against the study's common value v = {study.value:+.2f} (the Nash value of the whole cross-play). "
             "Each exploitability is the largest of the oracle's best responses (warm start and from scratch, at "
             "their final point), the run's own population and the study's cross-play.", ""]  # fmt: skip
    for kind in KINDS:
        rows = [[regime, interval(row[kind].get("router_exploitability", [])),
                 interval(row[kind].get("fraudster_exploitability", [])), interval(row[kind]["nash_conv"], False),
                 ", ".join(f"{v:.1f}" for v in row[kind]["nash_conv"])]
                for regime, row in study.rows.items()]  # fmt: skip
        what = "the main player of each side" if kind == "main" else "the meta-Nash mixture of the run's learned players"
        lines += [f"**{kind}** ({what}):",
                  ""] + table(["regime", "router exploitability", "fraudster exploitability", "NashConv",
                               "per seed"], rows) + [""]  # fmt: skip
    lines += ["Regimes: " + "; ".join(f"`{r}`: {REGIME_NOTES[r]}" for r in study.rows) + ".", "",
              "![exploitability](exploitability.png)"]  # fmt: skip
    return lines


def paired_section(study: Study) -> list[str]:
    rows = [[found["regime"], found["kind"], found["paired_difference"].text(), f"{found['ratio']:.2f}"]
            for found in study.comparisons.values()]  # fmt: skip
    if not rows:
        return [f"No {REFERENCE_REGIME} runs in this study: nothing to pair with."]
    return ["NashConv minus self-play's on the same seed (negative: the regime is less exploitable).", ""] + table(
        ["regime", "output", "paired difference", "ratio of means"], rows)


def oracle_section(study: Study) -> list[str]:
    rows = []
    for regime, row in study.rows.items():
        for kind in KINDS:
            for side in SIDES:
                record = row[kind].get(side)
                if not record:
                    continue
                flat = {s: sum(bool(f.get(s)) for f in record["flattened"]) for s in ("warm", "cold")}
                by = {name: record["by"].count(name) for name in sorted(set(record["by"]))}
                warm = interval([e.get("warm", math.nan) for e in record["oracle_exploitability"]])
                cold = interval([e.get("cold", math.nan) for e in record["oracle_exploitability"]])
                rows.append([f"{regime} {kind}", side, warm, cold, f"{flat['warm']}/{len(record['flattened'])}",
                             f"{flat['cold']}/{len(record['flattened'])}", ", ".join(f"{k} {v}" for k, v in by.items())])  # fmt: skip
    steps = study.budgets.oracle_steps
    return [f"Each target met two PPO best responses of at most {steps:,} env steps: one warm-started as a perturbed "
            "copy of the run's strongest learned responder, one from scratch. Flattened: the gain over the curve's "
            "last doubling lay inside its own 95% interval. Where it did not, the figures are lower bounds from a "
            "curve still rising.", ""] + table(
        ["target", "side", "warm-start exploitability", "from-scratch exploitability", "warm flattened",
         "scratch flattened", "strongest responder (count over seeds)"], rows) + ["", "![best-response curves](best_response_curves.png)"]  # fmt: skip


def scripted_section(study: Study) -> list[str]:
    rows = []
    for regime, row in study.rows.items():
        for kind in KINDS:
            router, fraudster = row[kind].get("router"), row[kind].get("fraudster")
            if router and fraudster:
                rows.append([f"{regime} {kind}", interval(router["training_set_return"]), interval(router["held_out_return"]),
                             interval(fraudster["training_set_return"]), interval(fraudster["held_out_return"])])  # fmt: skip
    router_agreement, fraudster_agreement = study.agreement
    support = "; ".join(f"{side}s " + ", ".join(f"{n} {w:.2f}" for n, w in members.items())
                        for side, members in study.nash_support.items())  # fmt: skip
    return ["Mean router return (higher is better for the router, lower for the fraudster): each router output "
            "against the scripted fraudsters of the training set and of the held-out set, and the scripted routers' "
            "return against each fraudster output. The held-out players were never a training opponent of any "
            "regime.", ""] + table(
        ["output", "router vs training fraudsters", "router vs held-out fraudsters",
         "training routers vs fraudster", "held-out routers vs fraudster"], rows) + [
        "", f"Cross-play: {study.crossplay_shape[0]} routers x {study.crossplay_shape[1]} fraudsters. Its Nash "
        f"(the value v above) plays {support}.", "",
        f"Transitivity of the learned main players: the mean Spearman correlation between two opponents' "
        f"rankings is {router_agreement:.2f} for the routers and {fraudster_agreement:.2f} for the fraudsters "
        "(1: every opponent ranks them alike, a transitive population, where a league has little to add)."]  # fmt: skip


def budget_section(study: Study) -> list[str]:
    rows = []
    for regime, row in study.rows.items():
        snapshots: dict[str, list[int]] = {}
        for counts in row["snapshots"]:
            for kind, count in counts.items():
                snapshots.setdefault(kind, []).append(count)
        rows.append([regime, interval(row["main_sample_share"]["router"], False),
                     interval(row["main_sample_share"]["fraudster"], False),
                     interval(row["main_vs_main_share"]["router"], False),
                     interval(row["main_vs_main_share"]["fraudster"], False),
                     ", ".join(f"{k} {np.mean(v):.1f}" for k, v in sorted(snapshots.items())) or "-"])  # fmt: skip
    b = study.budgets
    return [f"Every regime spent {b.league_steps:,} env steps per seed (all its learners together; PSRO: "
            f"best responses of {b.psro_best_response_steps:,} per side and epoch). The main player's share is the "
            "share of those steps that trained it (PSRO: its last best response). Main vs main: the mean share over "
            "iterations of a main's games against the other side's current main (self_play: 1 by definition; "
            "PSRO: none).", ""] + table(
        ["regime", "router main's share", "fraudster main's share", "router main vs fraudster main",
         "fraudster main vs router main", "snapshots at the end, by kind (mean)"], rows) + [
        "", "![learning curves](learning_curves.png)"]  # fmt: skip


def why_section(study: Study) -> list[str]:
    """The diagnostic measurements of ``study_diagnosis``, as facts with their numbers."""
    found = study.diagnosis
    if not found:
        return ["No diagnostics were computed for this report."]
    lines = []
    split = found["router_share_of_nash_conv"]
    lines.append("- **Which side.** The routers' exploitability is "
                 + "; ".join(f"{_share(split[kind])} of the {kind}s' NashConv" for kind in KINDS if split.get(kind))
                 + " (mean over runs, range in brackets); the fraudsters carry the rest.")  # fmt: skip
    lines += _worst_case_lines(found["worst_cases"])
    lines += _oracle_gain_lines(found["oracle_last_doubling_gain"])
    lines += _late_learning_lines(found["late_learning"])
    lines += _fallback_lines(found["self_play_fallback"])
    share = found["cyclic_share"]
    lines.append(f"- **Cycles.** The cyclic share of the cross-play (bipartite Hodge decomposition: 0 for payoffs that "
                 f"one strength per player explains, 1 for matching pennies) is {share['all']:.3f} over every player, "
                 f"{share['learned']:.3f} among the learned outputs and {share['scripted']:.3f} among the scripted "
                 "players; the learned mains' ranking agreement is in the scripted-players section above.")  # fmt: skip
    return ["Measured from the files behind the tables above (nothing here is trained or played again).", ""] + lines


def _share(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return "-"
    return f"{100 * np.mean(finite):.0f}% ({100 * min(finite):.0f}-{100 * max(finite):.0f}%)"


def _worst_case_lines(cases: list[dict]) -> list[str]:
    if not cases:
        return []
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["opponent"]] = counts.get(case["opponent"], 0) + 1
    named = ", ".join(f"`{name}` {count}" for name, count in sorted(counts.items(), key=lambda item: -item[1]))
    rows = [[case["router"], f"`{case['opponent']}`", f"{case['return']:+.2f}",
             f"`{case['best_scripted_router']}`", f"{case['best_scripted_return']:+.2f}"] for case in cases]  # fmt: skip
    learned = np.mean([case["return"] for case in cases])
    scripted = cases[0]["best_scripted_worst_case"]
    return [f"- **The routers' worst case.** Each learned main router's worst opponent in the cross-play (count over "
            f"runs): {named}. Their mean return against it is {learned:+.2f}; the best scripted router against the "
            f"same opponent gets more in {sum(c['best_scripted_return'] > c['return'] for c in cases)} of "
            f"{len(cases)} runs, and the best scripted router's own worst case over every opponent is "
            f"{scripted:+.2f}.", ""] + ["  " + line for line in table(
                ["main router", "its worst opponent", "its return", "best scripted router there", "that router's return"],
                rows)] + [""]  # fmt: skip


def _oracle_gain_lines(gains: dict) -> list[str]:
    parts = []
    for side in SIDES:
        for start, values in sorted(gains.get(side, {}).items()):
            rising = sum(v > 0 for v in values if np.isfinite(v))
            parts.append(f"{start} start against {side}s {Interval.of(values).text()} ({rising} of {len(values)} "
                         "still gaining)")  # fmt: skip
    if not parts:
        return []
    return ["- **The oracle's last doubling.** Exploitability gained between the curve's last point and the point at "
            "half its steps (mean ± 95% t over targets): " + "; ".join(parts) + ". A gain well above 0 means the "
            "figure is a lower bound from a curve still rising."]  # fmt: skip


def _late_learning_lines(found: dict) -> list[str]:
    if not found:
        return []
    parts = [f"{regime} " + ", ".join(f"{side} {Interval.of(values).text()}" for side, values in sides.items())
             for regime, sides in found.items()]  # fmt: skip
    return ["- **Still learning?** Each main's return against the scripted evaluation opponents (its own return, "
            "higher is better for it), last point minus the point at half the budget: " + "; ".join(parts) + "."]


def _fallback_lines(found: list[dict]) -> list[str]:
    if not found:
        return []
    threshold = found[0]["threshold"]
    rates = ", ".join(f"{f['run']} router {f['router_main']:.2f} / fraudster {f['fraudster_main']:.2f}" for f in found)
    below = sum(f["router_main"] < threshold for f in found)
    return [f"- **Who meets whom (pfsp).** A main's self-play branch plays the other side's main only while its win "
            f"rate against it is at least {threshold:.2f}; below that it plays that main's snapshots. Win rates of "
            f"the mains against each other at the end (a router wins an episode by its return against "
            f"{found[0]['win_reference']:+.1f}, softened): {rates}. The router main was below the threshold in "
            f"{below} of {len(found)} runs."]  # fmt: skip


def settings_section(study: Study) -> list[str]:
    b = study.budgets
    wall = study.wall_s
    return [f"- game `{study.game}`; base config `{study.base_config}` (PPO, batch, runner) with the game replaced;",
            f"- {len(study.regimes)} regimes x seeds {', '.join(map(str, study.seeds))}"
            + (" (quick mode: one seed, small budgets; a smoke-scale run of the pipeline, not a result)" if study.quick else "") + ";",
            f"- league budget {b.league_steps:,} env steps per run; oracle {b.oracle_steps:,} env steps per best "
            f"response; {b.episodes} episodes per cross-play pairing and per oracle evaluation;",
            f"- wall time of the pieces as recorded when each was made: training {wall['train'] / 60:.1f} min, "
            f"the study's cross-play {wall['crossplay'] / 60:.1f} min, oracle {wall['oracle'] / 60:.1f} min; "
            f"this invocation {wall['invocation'] / 60:.1f} min on this 2-core machine (shared with other work "
            "while it ran)."]  # fmt: skip


def reproduce(study: Study) -> list[str]:
    return ["```bash", study.command, "```"]


SECTIONS: tuple[tuple[str, Callable[[Study], list[str]]], ...] = (
    ("## Headline", headline),
    ("## Exploitability and NashConv", exploitability_tables),
    ("## Against self-play, paired by seed", paired_section),
    ("## The oracle", oracle_section),
    ("## Scripted players: training set and held out", scripted_section),
    ("## Budgets and samples", budget_section),
    ("## Why: what the measurements say", why_section),
    ("## Settings and wall time", settings_section),
    ("## Reproduce", reproduce),
)


def render(study: Study) -> str:
    lines = [f"# Training regimes on the `{study.game}` game, at equal env-step budgets", ""]
    for title, section in SECTIONS:
        lines += [title, ""] + section(study) + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------- figures


def plot(study: Study, run_dirs: dict[str, Path], oracle_curves: dict, output: Path) -> None:
    """``exploitability.png``, ``learning_curves.png`` and ``best_response_curves.png`` in ``output``."""
    from agents.reporting import pyplot

    plt = pyplot()
    _bars(plt, study, output / "exploitability.png")
    _learning(plt, study, run_dirs, output / "learning_curves.png")
    _oracle_curves(plt, study, oracle_curves, output / "best_response_curves.png")


def _bars(plt, study: Study, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    x = np.arange(len(study.rows))
    width = 0.27
    for axis, kind in zip(axes, KINDS):
        for k, (label, key) in enumerate((("router", "router_exploitability"), ("fraudster", "fraudster_exploitability"),
                                          ("NashConv", "nash_conv"))):  # fmt: skip
            stats = [Interval.of(row[kind].get(key, [])) for row in study.rows.values()]
            errors = [s.half_width if np.isfinite(s.half_width) else 0.0 for s in stats]
            axis.bar(x + (k - 1) * width, [s.mean for s in stats], width, yerr=errors, capsize=3, label=label)
        axis.set_xticks(x, list(study.rows))
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set_title(f"{study.game}: {kind} (lower is better)")
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("reward units per episode (1.0 = $100)")
    axes[0].legend()
    figure.tight_layout()
    save_figure(figure, path)


def _learning(plt, study: Study, run_dirs: dict[str, Path], path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for axis, side in zip(axes, SIDES):
        for index, regime in enumerate(study.rows):
            for k, seed in enumerate(study.rows[regime]["seeds"]):
                points = main_vs_scripted_curve(run_dirs[f"{regime}-s{seed}"], side)
                if points:
                    axis.plot(*zip(*points), color=f"C{index}", alpha=0.8, label=regime if k == 0 else None)
        _label(axis, f"{side}_main against the scripted evaluation opponents", "env steps of the run",
               "mean episode return")  # fmt: skip
    figure.tight_layout()
    save_figure(figure, path)


def _oracle_curves(plt, study: Study, curves: dict, path: Path) -> None:
    """``curves[(regime, seed, kind, side, start)]`` = [(steps, exploitability)], drawn per target kind and side."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    for (regime, seed, kind, side, start), points in sorted(curves.items()):
        axis = axes[KINDS.index(kind)][SIDES.index(side)]
        index = list(study.rows).index(regime)
        first = seed == study.rows[regime]["seeds"][0]
        axis.plot(*zip(*points), marker="o", markersize=3, linestyle="-" if start == "warm" else "--",
                  color=f"C{index}", alpha=0.8, label=f"{regime} ({start})" if first else None)  # fmt: skip
    for kind in KINDS:
        for side in SIDES:
            _label(axes[KINDS.index(kind)][SIDES.index(side)], f"best responses to the {side} {kind}: exploitability",
                   "best-response env steps", "1.0 = $100 per episode", legend_size=7)  # fmt: skip
    figure.tight_layout()
    save_figure(figure, path)


def _label(axis, title: str, x_label: str, y_label: str, legend_size: int = 8) -> None:
    axis.set_title(title)
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=legend_size)
