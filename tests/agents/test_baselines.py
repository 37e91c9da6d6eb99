"""The baselines command: runs, prints the tables, writes JSON and a PNG."""

from __future__ import annotations

import argparse
import json

from agents.baselines import add_arguments, main, run_baselines
from agents.registry import FRAUDSTERS, ROUTERS


def test_run_baselines_writes_json_and_png(tmp_path, capsys) -> None:
    json_path, png_path = tmp_path / "baselines.json", tmp_path / "baselines.png"
    result = run_baselines(episodes=2, seed=1, json_path=json_path, png_path=png_path, max_cycles=15)
    printed = capsys.readouterr().out
    assert result.matrix.shape == (len(ROUTERS), len(FRAUDSTERS))
    assert "| router \\ fraudster |" in printed and "legit approval" in printed and " s" in printed
    data = json.loads(json_path.read_text())
    assert data["router_names"] == list(ROUTERS) and data["fraudster_names"] == list(FRAUDSTERS)
    assert len(data["router_returns"]) == len(ROUTERS) and len(data["pairings"][0]) == len(FRAUDSTERS)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_parses_its_own_arguments(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--episodes", "3", "--max-cycles", "5", "--seed", "4", "--json", str(tmp_path / "out.json")])
    assert main(args) == 0
    written = json.loads((tmp_path / "out.json").read_text())
    # The command's options reach the round robin: the same call made directly gives the same matrix.
    direct = run_baselines(episodes=3, seed=4, max_cycles=5)
    assert written["router_returns"] == direct.matrix.tolist()


def test_baselines_take_a_game_file_and_report_the_meta_game(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    json_path = tmp_path / "displacement.json"
    args = parser.parse_args(
        ["--game", "configs/game/displacement.yaml", "--episodes", "2", "--max-cycles", "20", "--json", str(json_path)]
    )
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "fraud displacement on" in printed and "Meta-game Nash" in printed and "cyclic share" in printed
    data = json.loads(json_path.read_text())
    assert data["config"]["max_cycles"] == 20 and data["config"]["review_capacity"] == 2  # the file, then the override
    assert "guard_big_ticket_travellers" in data["router_names"] and "target_travellers" in data["fraudster_names"]
    meta = data["meta_game"]
    assert set(meta) >= {"nash", "router_best_response_counts", "cyclic_share", "three_cycles", "best_response_cycle"}
    assert abs(sum(meta["nash"]["router_support"].values()) - 1.0) < 1e-3
    assert sum(meta["router_best_response_counts"].values()) == len(data["fraudster_names"])


def test_a_bad_game_file_is_named(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    bad = tmp_path / "bad.yaml"
    bad.write_text("review_capacity: -3\n")
    args = parser.parse_args(["--game", str(bad), "--episodes", "1"])
    try:
        main(args)
    except ValueError as error:
        assert "bad.yaml" in str(error) and "review_capacity" in str(error)
    else:
        raise AssertionError("a negative review_capacity was accepted")
