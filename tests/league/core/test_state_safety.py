"""Issue 13, plain Python: stricter training configs, snapshot checksums and retired snapshots in the league state."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from league.core.config import load_train_config, make_train_config
from league.core.matchmaking import Matchmaker
from league.core.state import LeagueConfig, LeagueState

SMOKE = Path(__file__).parents[3] / "configs" / "smoke.yaml"


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "{}\n"])
def test_an_empty_config_file_is_rejected_naming_the_file(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"{path}: the training config is empty"):
        load_train_config(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ppo": {"hidden": [32, 0]}}, r"ppo\.hidden: .*every layer size must be > 0"),
        ({"ppo": {"hidden": [-4]}}, r"ppo\.hidden: .*every layer size must be > 0"),
        ({"league": {"scripted_opponents": ["fraudster_scripted:no_such"]}},
         r"league: .*unknown scripted fraudster policy 'no_such'.*agents\.registry has: neutral"),
        ({"eval_opponents": {"router": ["risk_threshold"]}},
         r"eval_opponents: .*unknown scripted fraudster policies \['risk_threshold'\]"),
        ({"eval_opponents": {"referee": []}}, r"eval_opponents: .*keys must be 'router' or 'fraudster'"),
    ],
)
def test_config_errors_name_the_field_before_ray_starts(change, message):
    data = yaml.safe_load(SMOKE.read_text())
    for key, value in change.items():
        data[key] = {**data.get(key, {}), **value}
    with pytest.raises(ValueError, match=message):
        make_train_config(data)


def test_the_shipped_configs_still_load():
    for path in sorted(SMOKE.parent.glob("*.yaml")):
        load_train_config(path)


def _league_with_snapshots() -> LeagueState:
    state = LeagueState.new(LeagueConfig(num_main_exploiters=0, num_league_exploiters=0, slots_per_side=1))
    state.add_snapshot("router_main", 1, "snapshots/router_main@it1", checksum="sha256:aa")
    state.add_snapshot("router_main", 2, "snapshots/router_main@it2", checksum="sha256:bb")
    state.iteration = 2
    state.assign_slot("router_main@it1", "router")
    return state


def test_snapshot_checksums_are_recorded_and_survive_a_save(tmp_path):
    state = _league_with_snapshots()
    state.save(tmp_path / "league_state.json")
    loaded = LeagueState.load(tmp_path / "league_state.json")
    assert loaded.snapshot_checksums == {"router_main@it1": "sha256:aa", "router_main@it2": "sha256:bb"}


def test_a_retired_snapshot_leaves_the_roster_and_its_slot_with_an_event(tmp_path):
    state = _league_with_snapshots()
    state.retire_snapshot("router_main@it1", reason="weights.pt is corrupt")
    assert "router_main@it1" not in {p.name for p in state.players}
    assert [p.name for p in state.retired] == ["router_main@it1"]
    assert state.slots == {} and state.slot_use_order == []
    assert state.history[-1] == {"iteration": 2, "event": "snapshot_retired", "player": "router_main@it1",
                                 "reason": "weights.pt is corrupt"}  # fmt: skip
    fraudster = state.player("fraudster_main")
    for seed in range(20):
        matchmaker = Matchmaker.from_state(state, seed=seed)
        assert "router_main@it1" not in matchmaker.opponent_probabilities(fraudster)
        assert "router_main@it2" in {p.name for p in matchmaker.candidates(fraudster)}
    state.save(tmp_path / "league_state.json")
    loaded = LeagueState.load(tmp_path / "league_state.json")
    assert [p.name for p in loaded.retired] == ["router_main@it1"]
    with pytest.raises(ValueError, match="only snapshots can be retired"):
        state.retire_snapshot("router_main", reason="x")
