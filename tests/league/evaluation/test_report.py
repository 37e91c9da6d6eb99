"""The evaluation report's figures and tables, on a synthetic evaluation (no Ray, no training).

A population of 4 scripted baselines and 20 snapshots per side gives 24 x 24
pairings: the size at which the old heatmap lost its numbers and the old
ratings plot stacked the baseline labels on top of each other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

from league.core.players import PlayerKind, Role
from league.evaluation.evaluate import analyse_meta_game, fit_ratings, _same_as_live
from league.evaluation.results import CrossPlay, Evaluation, Population, Settings

matplotlib = pytest.importorskip("matplotlib")
import matplotlib.text  # noqa: E402  (after the skip check)


def _record(name: str, role: str, kind: str, iteration: int | None):
    from league.evaluation.loading import PlayerRecord

    return PlayerRecord(name=name, role=role, kind=kind, iteration=iteration, source=f"/runs/x/{name}")


def synthetic_evaluation(snapshots: int = 20, baselines: int = 4, seed: int = 0) -> Evaluation:
    """Scripted baselines plus snapshots every 5 iterations, returns around 30 with one extreme baseline."""
    rng = np.random.default_rng(seed)
    sides = {}
    for role in Role:
        scripted = [_record(f"{role.value}_scripted:policy_{k}", role.value, "baseline", None) for k in range(baselines)]
        learned = [_record(f"{role.value}_main@it{5 * k}", role.value, PlayerKind.HISTORICAL.value, 5 * k)
                   for k in range(1, snapshots)]  # fmt: skip
        learned.append(_record(f"{role.value}_main", role.value, PlayerKind.MAIN.value, 5 * snapshots))
        sides[role] = scripted + learned
    routers, fraudsters = sides[Role.ROUTER], sides[Role.FRAUDSTER]
    mean = 30 + 3 * rng.standard_normal((len(routers), len(fraudsters)))
    mean[0, :] = -63.0  # a block-all router: the outlier that used to stretch the colour scale
    play = CrossPlay(
        router_names=[r.name for r in routers], fraudster_names=[f.name for f in fraudsters],
        mean=mean, low=mean - 1, high=mean + 1, win_rate=1 / (1 + np.exp(-(mean - 30) / 4)),
        episodes=8, seed=0, wall_s=1.0,
    )  # fmt: skip
    meta = analyse_meta_game(play.mean, play.router_names, play.fraudster_names)
    settings = Settings(run_dir="/runs/x", episodes=8, seed=0, baselines={}, max_snapshots=None, max_envs=1024,
                        output="/runs/x/eval", game={}, win_definition={"reference": 30.0, "scale": 4.0})  # fmt: skip
    population = Population(routers=routers, fraudsters=fraudsters)
    return Evaluation(settings, population, play, meta, fit_ratings(play), snapshots * 5, 1.0, 0.1)


def _figure_texts(monkeypatch, draw) -> list:
    """Every figure ``draw`` saves, kept open for inspection instead of closed."""
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda figure=None: figures.append(figure))
    draw()
    return figures


def test_heatmap_shows_every_value_and_scales_colours_to_the_bulk_of_the_data(tmp_path, monkeypatch):
    from league.evaluation.report import plot_heatmap

    evaluation = synthetic_evaluation()
    (figure,) = _figure_texts(monkeypatch, lambda: plot_heatmap(evaluation, tmp_path / "heatmap.png"))
    axes = figure.axes[0]
    image = axes.get_images()[0]
    rows, columns = evaluation.play.mean.shape
    assert rows == columns == 24
    numbers = [t for t in axes.texts if t.get_text().lstrip("-").replace(".", "").isdigit()]
    assert len(numbers) == rows * columns, "every cell shows its value"
    norm = image.norm
    assert norm.vcenter == pytest.approx(evaluation.meta.value), "colours diverge at the game value"
    # The scale follows the bulk (about 30 +- 3 plus the outlier row), not -63 .. max.
    bulk = evaluation.play.mean[1:]
    assert norm.vmax < bulk.max() + 1e-9
    assert norm.vmin > -63.0
    # Typical cells are not all one pale colour: their colours span a good part of the colour map.
    shades = norm(bulk.ravel())
    assert np.percentile(shades, 95) - np.percentile(shades, 5) > 0.3
    assert (tmp_path / "heatmap.png").stat().st_size > 10_000


def test_ratings_labels_of_baselines_do_not_overlap(tmp_path, monkeypatch):
    from league.evaluation.report import plot_ratings

    evaluation = synthetic_evaluation(baselines=6)
    # Baselines rated almost alike: the case where their labels used to sit on top of each other.
    index = {name: k for k, name in enumerate(evaluation.ratings.names)}
    for k in range(6):
        evaluation.ratings.elo[index[f"fraudster_scripted:policy_{k}"]] = 1500.0 + k
    (figure,) = _figure_texts(monkeypatch, lambda: plot_ratings(evaluation, tmp_path / "ratings.png"))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes:
        labels = [t for t in axis.texts if t.get_text().startswith("policy_")]
        assert len(labels) == 6
        # The text itself (an annotation's own extent would include its leader line).
        boxes = [matplotlib.text.Text.get_window_extent(t, renderer) for t in labels]
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                assert not boxes[a].overlaps(boxes[b]), (labels[a].get_text(), labels[b].get_text())
        # Outside the plotting area: they cannot cover markers or error bars.
        plot_area = axis.get_window_extent(renderer)
        assert all(box.x0 >= plot_area.x1 for box in boxes)


def test_a_snapshot_taken_at_the_checkpoint_iteration_is_not_listed_twice():
    records = [
        _record("router_main@it55", "router", PlayerKind.HISTORICAL.value, 55),
        _record("router_main@it60", "router", PlayerKind.HISTORICAL.value, 60),
        _record("router_main", "router", PlayerKind.MAIN.value, 60),
    ]
    assert _same_as_live(records) == {"router_main@it60": "router_main"}
    # A checkpoint older than the newest snapshot: the snapshot is a different player.
    records[-1] = _record("router_main", "router", PlayerKind.MAIN.value, 58)
    assert _same_as_live(records) == {}


def test_report_mentions_the_players_it_did_not_repeat(tmp_path):
    from league.evaluation.report import write_evaluation

    evaluation = synthetic_evaluation(snapshots=3, baselines=2)
    evaluation.population = Population(evaluation.population.routers, evaluation.population.fraudsters,
                                       same_as={"router_main@it15": "router_main"})  # fmt: skip
    files = write_evaluation(evaluation, tmp_path / "eval", tmp_path)
    text = files["report"].read_text()
    assert "`router_main@it15` is `router_main`" in text


def test_evaluate_and_report_share_result_types_without_an_import_cycle():
    root = Path(__file__).parents[3] / "league" / "evaluation"

    def imports(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        return found

    assert not any(name.startswith("league.evaluation.evaluate") for name in imports("report"))
    assert "league.evaluation.results" in imports("report") and "league.evaluation.results" in imports("evaluate")
    assert not any(name.startswith(("league.evaluation.report", "league.evaluation.evaluate")) for name in imports("results"))


def test_training_matchups_table_sums_the_games_played_per_learner_and_opponent():
    from league.evaluation.report import training_matchups_table

    rows = [
        {"iteration": "1", "learner": "router_main", "opponent": "fraudster_main", "games": "3", "learner_wins": "1.5"},
        {"iteration": "2", "learner": "router_main", "opponent": "fraudster_main", "games": "1", "learner_wins": "1.0"},
        {"iteration": "2", "learner": "router_main", "opponent": "fraudster_main@it1", "games": "4", "learner_wins": "1"},
        {"iteration": "2", "learner": "fraudster_main", "opponent": "router_main", "games": "2", "learner_wins": "0.5"},
    ]
    table = training_matchups_table(rows).splitlines()
    assert table[0] == "| learner \\ opponent | fraudster_main | fraudster_main@it1 | router_main | all |"
    assert table[2] == "| fraudster_main |  |  | 2 (25%) | 2 (25%) |"
    assert table[3] == "| router_main | 4 (62%) | 4 (25%) |  | 8 (44%) |"
    assert "No `matchups.csv`" in training_matchups_table([])
