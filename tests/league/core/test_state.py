"""Tests for league.core.state: roster changes, slot assignment, and the saved JSON file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from league.core.matchmaking import Matchmaker, Regime
from league.core.players import (
    Player,
    PlayerKind,
    Role,
    make_learning_players,
    make_scripted_player,
    parse_scripted_name,
)
from league.core.snapshots import SnapshotRule
from league.core.state import FORMAT_VERSION, LeagueConfig, LeagueFileError, LeagueState, UnknownPlayerError
from league.core.win import WinDefinition


def make_state(**config_fields: object) -> LeagueState:
    fields = {"scripted_opponents": ["fraudster_scripted:neutral", "router_scripted:rules"], **config_fields}
    return LeagueState.new(LeagueConfig(**fields))


def add_snapshots(state: LeagueState, learner: str, iterations: range) -> list[str]:
    return [state.add_snapshot(learner, i, f"/ckpt/{learner}/{i}").name for i in iterations]


def test_new_league_roster() -> None:
    state = make_state(num_main_exploiters=1, num_league_exploiters=2)
    assert [p.name for p in state.learning_players(Role.ROUTER)] == [
        "router_main",
        "router_main_exploiter_0",
        "router_league_exploiter_0",
        "router_league_exploiter_1",
    ]
    assert len(state.learning_players()) == 8
    assert state.player("fraudster_scripted:neutral").kind is PlayerKind.SCRIPTED
    assert state.snapshots() == []
    assert state.payoff.decay == state.config.payoff_decay


def test_add_snapshot() -> None:
    state = make_state()
    snapshot = state.add_snapshot("router_main", 12, "/ckpt/router_main/12")
    assert snapshot.name == "router_main@it12"
    assert (snapshot.kind, snapshot.parent, snapshot.created_iteration) == (PlayerKind.HISTORICAL, "router_main", 12)
    assert snapshot.frozen and not snapshot.learning
    assert state.snapshots("router") == [snapshot]
    assert state.snapshots(Role.FRAUDSTER) == []
    assert state.history[-1] == {
        "iteration": 12,
        "event": "snapshot",
        "player": "router_main@it12",
        "parent": "router_main",
        "checkpoint_path": "/ckpt/router_main/12",
    }
    with pytest.raises(ValueError, match="already exists"):
        state.add_snapshot("router_main", 12, None)
    with pytest.raises(ValueError, match="learning player"):
        state.add_snapshot("router_main@it12", 13, None)


def test_unknown_player_error_names_it_and_lists_known() -> None:
    state = make_state()
    with pytest.raises(KeyError) as error:
        state.player("router_mian")
    message = str(error.value)
    assert isinstance(error.value, UnknownPlayerError)
    assert message.startswith("unknown player 'router_mian'")
    assert "router_main" in message and "fraudster_scripted:neutral" in message


def test_save_load_round_trip(tmp_path: Path) -> None:
    state = make_state(
        regime=Regime.FICTITIOUS,
        router_weighting="variance",
        snapshot_rule=SnapshotRule(every_iterations=3, win_rate_threshold=0.7, min_iterations_between=2),
        slots_per_side=2,
        payoff_decay=0.97,
        payoff_min_games=1.5,
        win_definition=WinDefinition(reference=-1.5, scale=4.0),
    )
    add_snapshots(state, "fraudster_main", range(0, 9, 3))
    state.payoff.update("router_main", "fraudster_main@it3", [0.2, 0.9])
    state.assign_slot("fraudster_main@it3", Role.FRAUDSTER)
    state.iteration = 9
    state.record_event("note", text="hello")
    path = tmp_path / "league.json"
    state.save(path)
    loaded = LeagueState.load(path)
    assert loaded == state
    assert loaded.payoff.router_win_rate("router_main", "fraudster_main@it3") == pytest.approx((0.97 * 0.2 + 0.9) / 1.97)
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION
    state.save(path)  # overwriting an existing file works too
    assert LeagueState.load(path) == state


def test_save_leaves_no_temp_files(tmp_path: Path) -> None:
    state = make_state()
    path = tmp_path / "league.json"
    for iteration in range(3):
        state.add_snapshot("router_main", iteration, None)
        state.save(path)
    assert os.listdir(tmp_path) == ["league.json"]


def test_failed_save_keeps_old_file_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = make_state()
    path = tmp_path / "league.json"
    state.save(path)
    before = path.read_bytes()

    def broken_replace(source: str, target: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    state.add_snapshot("router_main", 1, None)
    with pytest.raises(OSError, match="disk on fire"):
        state.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["league.json"]


def saved_data(tmp_path: Path) -> dict:
    path = tmp_path / "good.json"
    make_state().save(path)
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("truncated", "not valid JSON"),
        ("not_json", "not valid JSON"),
        ("not_object", "must hold a JSON object"),
        ("no_version", "has no format_version; this code supports format_version 2"),
        ("future_version", "has format_version 3; this code supports format_version 2 (and reads 1)"),
        ("version_1_decayed", "has format_version 1 and payoff decay 0.9, applied once per iteration"),
        ("schema", "does not match the league state schema"),
    ],
)
def test_corrupt_files_raise_league_file_error(tmp_path: Path, case: str, expected: str) -> None:
    data = saved_data(tmp_path)
    path = tmp_path / "state.json"
    text = json.dumps(data)
    if case == "truncated":
        path.write_text(text[: len(text) // 2])
    elif case == "not_json":
        path.write_bytes(b"\x00\xffgarbage")
    elif case == "not_object":
        path.write_text("[1, 2]")
    elif case == "no_version":
        del data["format_version"]
        path.write_text(json.dumps(data))
    elif case == "future_version":
        data["format_version"] = 3
        path.write_text(json.dumps(data))
    elif case == "version_1_decayed":
        data["format_version"] = 1
        data["payoff"]["decay"] = data["config"]["payoff_decay"] = 0.9
        path.write_text(json.dumps(data))
    elif case == "schema":
        data["config"]["slots_per_side"] = 0
        path.write_text(json.dumps(data))
    with pytest.raises(LeagueFileError) as error:
        LeagueState.load(path)
    message = str(error.value)
    assert str(path) in message
    assert expected in message
    if case == "schema":
        assert "slots_per_side" in message and "greater than or equal to 1" in message


def test_schema_catches_inconsistent_slots(tmp_path: Path) -> None:
    data = saved_data(tmp_path)
    data["slots"] = {"router_slot_0": "router_main"}
    data["slot_use_order"] = ["router_slot_0"]
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LeagueFileError, match="must name a historical player"):
        LeagueState.load(path)


def test_assign_slot_reuses_then_fills_then_evicts_lru() -> None:
    state = make_state(slots_per_side=2)
    a, b, c = add_snapshots(state, "router_main", range(1, 4))
    assert state.assign_slot(a, Role.ROUTER) == ("router_slot_0", None)
    assert state.assign_slot(b, Role.ROUTER) == ("router_slot_1", None)
    assert state.assign_slot(a, Role.ROUTER) == ("router_slot_0", None)  # reuse, and a is now most recent
    assert state.assign_slot(c, Role.ROUTER) == ("router_slot_1", b)  # b was least recently used
    assert state.assign_slot(b, Role.ROUTER) == ("router_slot_0", a)
    assert state.slots == {"router_slot_0": b, "router_slot_1": c}
    assert state.slot_use_order == ["router_slot_1", "router_slot_0"]


def test_slots_of_each_role_are_independent() -> None:
    state = make_state(slots_per_side=1)
    (router_snapshot,) = add_snapshots(state, "router_main", range(1, 2))
    fraudster_a, fraudster_b = add_snapshots(state, "fraudster_main", range(1, 3))
    assert state.assign_slot(router_snapshot, "router") == ("router_slot_0", None)
    assert state.assign_slot(fraudster_a, "fraudster") == ("fraudster_slot_0", None)
    assert state.assign_slot(fraudster_b, "fraudster") == ("fraudster_slot_0", fraudster_a)
    assert state.slots["router_slot_0"] == router_snapshot


def test_assign_slot_validates_its_arguments() -> None:
    state = make_state()
    (snapshot,) = add_snapshots(state, "router_main", range(1, 2))
    with pytest.raises(ValueError, match="role must be 'router'"):
        state.assign_slot(snapshot, Role.FRAUDSTER)
    with pytest.raises(ValueError, match="historical"):
        state.assign_slot("router_main", Role.ROUTER)
    with pytest.raises(UnknownPlayerError):
        state.assign_slot("router_main@it99", Role.ROUTER)


def test_slot_cap_never_exceeded_over_many_random_picks(tmp_path: Path) -> None:
    rng = np.random.default_rng(2024)
    state = make_state(slots_per_side=4)
    snapshots = {
        Role.ROUTER: add_snapshots(state, "router_main", range(50)),
        Role.FRAUDSTER: add_snapshots(state, "fraudster_main", range(50)),
    }
    for step in range(600):
        role = Role.ROUTER if rng.random() < 0.5 else Role.FRAUDSTER
        name = snapshots[role][int(rng.integers(0, 50))]
        held_before = dict(state.slots)
        slot, evicted = state.assign_slot(name, role)
        assert state.slots[slot] == name
        assert slot in state.slot_ids(role)
        for each_role in Role:
            occupied = [s for s in state.slots if s in state.slot_ids(each_role)]
            assert len(occupied) <= 4
        assert len(set(state.slots.values())) == len(state.slots)  # a snapshot sits in one slot only
        if evicted is not None:
            assert held_before[slot] == evicted and evicted not in state.slots.values()
            assert all(s in held_before for s in state.slot_ids(role))  # eviction only when full
        if step % 200 == 0:
            path = tmp_path / "state.json"
            state.save(path)
            assert LeagueState.load(path) == state


def test_matchmaker_from_state_follows_config_and_roster() -> None:
    state = make_state(regime="fictitious")
    matchmaker = Matchmaker.from_state(state, seed=0)
    assert matchmaker.regime is Regime.FICTITIOUS
    state.add_snapshot("fraudster_main", 4, None)
    names = {p.name for p in matchmaker.candidates(state.player("router_main"))}
    assert names == {"fraudster_main", "fraudster_main@it4"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slots_per_side": 0}, "slots_per_side"),
        ({"payoff_decay": 0.0}, "payoff_decay"),
        ({"num_main_exploiters": -1}, "num_main_exploiters"),
        ({"router_weighting": "cubic"}, "router_weighting"),
        ({"scripted_opponents": ["neutral"]}, "scripted_opponents"),
        ({"scripted_opponents": ["fraudster_scripted:a", "fraudster_scripted:a"]}, "scripted_opponents"),
        ({"regime": "fixed", "scripted_opponents": []}, "scripted_opponents"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_config_validation(fields: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        LeagueConfig(**fields)


# Player records (league.core.players), exercised here because the state builds its roster from them.


def test_roles_and_learning_roster() -> None:
    assert Role.ROUTER.opponent is Role.FRAUDSTER and Role.FRAUDSTER.opponent is Role.ROUTER
    players = make_learning_players(num_main_exploiters=2, num_league_exploiters=0)
    assert [p.name for p in players] == [
        "router_main",
        "router_main_exploiter_0",
        "router_main_exploiter_1",
        "fraudster_main",
        "fraudster_main_exploiter_0",
        "fraudster_main_exploiter_1",
    ]
    assert all(p.learning and not p.frozen and p.parent is None for p in players)
    with pytest.raises(ValueError, match="num_league_exploiters must be an integer >= 0, got -1"):
        make_learning_players(0, -1)


def test_player_validation() -> None:
    assert parse_scripted_name("fraudster_scripted:neutral") == (Role.FRAUDSTER, "neutral")
    scripted = make_scripted_player("router_scripted:rules")
    assert scripted.role is Role.ROUTER and scripted.frozen
    with pytest.raises(ValueError, match="must look like"):
        make_scripted_player("attacker_scripted:x")
    with pytest.raises(ValidationError, match="must start with 'router_'"):
        Player(name="fraudster_main", role=Role.ROUTER, kind=PlayerKind.MAIN)
    with pytest.raises(ValidationError, match="parent must name"):
        Player(name="router_main@it1", role=Role.ROUTER, kind=PlayerKind.HISTORICAL)
    with pytest.raises(ValidationError, match="parent must be None"):
        Player(name="router_main", role=Role.ROUTER, kind=PlayerKind.MAIN, parent="router_x")


def test_main_self_play_share_is_checked():
    with pytest.raises(ValidationError, match="main_self_play_share applies to regime 'pfsp' only"):
        LeagueConfig(regime="self_play", main_self_play_share=0.35)
    with pytest.raises(ValidationError, match="main_self_play_share"):
        LeagueConfig(main_self_play_share=1.5)
    with pytest.raises(ValidationError, match="main_self_play_share \\+ main_verification_share must be <= 1"):
        LeagueConfig(main_self_play_share=0.9, main_verification_share=0.2)
    assert LeagueConfig(main_self_play_share=0.1).main_self_play_share == 0.1


def test_pfsp_defaults_are_alphastars_and_other_regimes_switch_the_rules_off():
    pfsp = LeagueConfig()
    assert (pfsp.main_self_play_share, pfsp.main_verification_share, pfsp.main_pfsp_share) == (0.35, 0.15, 0.5)
    assert pfsp.main_exploiter_fallback_win_rate == 0.2 and pfsp.main_exploiter_reset_on_snapshot
    assert pfsp.league_exploiter_reset_probability == 0.25
    assert pfsp.snapshot_rule.win_rate_threshold == 0.7
    assert pfsp.snapshot_rule.min_iterations_between == pfsp.snapshot_rule.every_iterations // 2
    assert pfsp.payoff_decay < 1 and pfsp.payoff_min_games == 8 and not pfsp.both_learners_train
    self_play = LeagueConfig(regime="self_play")
    assert self_play.main_self_play_share == 0.0 and not self_play.main_exploiter_reset_on_snapshot
    assert self_play.snapshot_rule.win_rate_threshold is None
    # What a run directory's config.yaml holds reads back as the same config, under every regime.
    for config in (pfsp, self_play):
        assert LeagueConfig.model_validate(config.model_dump(mode="json")) == config


def version_1_file(tmp_path: Path, **config_changes) -> Path:
    """A league state as version 1 wrote it: no played counts, no minimum games, no player rules."""
    state = make_state(**config_changes)
    state.payoff.update("router_main", "fraudster_main", [0.25, 0.75, 1.0])
    data = json.loads(state.model_dump_json())
    data["format_version"] = 1
    for name in ("main_verification_share", "main_self_play_fallback_win_rate", "verification_win_rate",
                 "main_exploiter_fallback_win_rate", "main_exploiter_reset_on_snapshot",
                 "league_exploiter_weighting", "league_exploiter_reset_probability", "both_learners_train",
                 "payoff_min_games", "main_self_play_share"):  # fmt: skip
        data["config"].pop(name)
    data["payoff"].pop("min_games")
    del data["payoff"]["stats"]["router_main"]["fraudster_main"]["played"]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))
    return path


def test_a_version_1_file_loads_with_a_note_of_the_defaults_it_assumes(tmp_path: Path):
    from league.core.state import LeagueFormatNote

    path = version_1_file(tmp_path, payoff_decay=1.0)
    with pytest.warns(LeagueFormatNote) as notes:
        state = LeagueState.load(path)
    text = " ".join(str(note.message) for note in notes)
    assert str(path) in text and "payoff_min_games assumed 0" in text and "both_learners_train assumed true" in text
    assert state.format_version == FORMAT_VERSION
    assert state.config.main_self_play_share == 0.0 and state.config.both_learners_train  # as version 1 trained
    assert state.payoff.played("router_main", "fraudster_main") == 3
    assert state.payoff.router_win_rate("router_main", "fraudster_main") == pytest.approx(2.0 / 3.0)
