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
