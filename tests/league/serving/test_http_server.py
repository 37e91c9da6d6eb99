"""The real server process (``python -m league.cli serve``) on a loopback port, played through the client.

A served episode must equal the in-process PettingZoo episode for the same
seed, actions and opponent, bit for bit; every error status is checked on the
wire.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from agents.registry import make_policy
from league.serving.sessions import GameLimits
from smartpay_marl.client import GameClient, ServerError, observation_array, router_view, run_player, scripted
from smartpay_marl.layout import FRAUDSTER, ROUTER
from smartpay_marl.models import FraudsterAction, RouterAction, StepView
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv
from smartpay_marl.spaces import build_action_spaces
from tests.league.serving.conftest import MAX_SESSIONS, REPO, RUN_NAME

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------- bit-for-bit episodes


def random_actions(role: str, game, count: int, seed: int) -> list[np.ndarray]:
    agent = ROUTER if role == "router" else FRAUDSTER
    nvec = build_action_spaces(game)[agent].nvec
    rng = np.random.default_rng(seed)
    return [rng.integers(0, nvec).astype(np.int64) for _ in range(count)]


def in_process_episode(game, seed: int, role: str, opponent, actions: list[np.ndarray]) -> list[dict]:
    """The episode as a PettingZoo user plays it: one record after the reset and one per step."""
    agent, other = (ROUTER, FRAUDSTER) if role == "router" else (FRAUDSTER, ROUTER)
    env = SmartPayParallelEnv(config=game)
    observations, _ = env.reset(seed=seed)
    opponent.reset(1, seed=seed)
    records = [{"observation": observations[agent], "done": False}]
    for mine in actions:
        theirs = opponent.act(observations[other][None, :])[0]
        observations, rewards, terminations, _, infos = env.step({agent: mine, other: theirs})
        records.append({
            "observation": observations[agent], "rewards": rewards, "done": terminations[agent],
            "pnl": infos[ROUTER]["pnl"], "metrics": infos[ROUTER]["metrics"], "fraudster_info": infos[FRAUDSTER],
            "opponent_action": [int(v) for v in theirs],
        })  # fmt: skip
        if not env.agents:
            break
    return records


def assert_reply_equals(reply: dict, record: dict, role: str) -> None:
    agent, other = (ROUTER, FRAUDSTER) if role == "router" else (FRAUDSTER, ROUTER)
    served = observation_array(reply)
    assert served.dtype == record["observation"].dtype == np.float32
    assert np.array_equal(served, record["observation"]), f"observation differs at step {reply['step']}"
    assert reply["done"] == record["done"]
    if "rewards" in record:
        assert reply["rewards"] == record["rewards"]  # exact float64 equality
        assert reply["reward"] == record["rewards"][agent]
        assert reply["pnl"] == record["pnl"]
        assert reply["metrics"] == record["metrics"]
        assert reply["fraudster_info"] == record["fraudster_info"]
        assert reply["actions"][other] == record["opponent_action"]


def as_payload(role: str, action: np.ndarray, step: int):
    """Alternate the three forms a caller may send: typed model, its fields as a dict, the raw vector."""
    model = RouterAction if role == "router" else FraudsterAction
    form = step % 3
    if form == 0:
        return model.from_array(action)
    if form == 1:
        return model.from_array(action).model_dump(mode="json")
    return action.tolist()


def test_router_episode_against_a_stateful_scripted_fraudster_equals_pettingzoo(server):
    from smartpay_marl.config import make_game_config

    game, seed = make_game_config(max_cycles=200), 1234
    actions = random_actions("router", game, game.max_cycles, seed=7)
    expected = in_process_episode(game, seed, "router", make_policy("adaptive", "fraudster"), actions)
    with GameClient(server) as client:
        reply = client.reset(role="router", opponent="adaptive", seed=seed, max_cycles=200)
        assert reply["opponent"] == "scripted:adaptive" and reply["config"]["max_cycles"] == 200
        assert_reply_equals(reply, expected[0], "router")
        for step, action in enumerate(actions):
            payload = as_payload("router", action, step)
            if step % 10 == 0:  # what-ifs must not move the game or the (stateful) opponent
                what_if = client.simulate(payload)
                assert what_if["simulated"] and client.state()["step"] == step
            reply = client.step(payload)
            assert_reply_equals(reply, expected[step + 1], "router")
            if step % 10 == 0:
                assert {**what_if, "simulated": False} == reply
            StepView.model_validate(reply["view"])
        assert reply["done"] and reply["step"] == 200 and len(expected) == 201
        assert router_view(reply).step == 200
        assert reply["episode_return"]["router_0"] == pytest.approx(sum(r["rewards"][ROUTER] for r in expected[1:]))


@pytest.mark.parametrize("player", ["router_main@it1", "router_main"])
def test_fraudster_episode_against_a_league_player_equals_pettingzoo(server, runs_dir, player):
    from league.evaluation.loading import load_player, open_run
    from smartpay_marl.config import make_game_config

    run = open_run(runs_dir / RUN_NAME)
    game, seed = make_game_config(**{**run.config.game, "max_cycles": 60, "reward_mode": "profit"}), 99
    actions = random_actions("fraudster", game, game.max_cycles, seed=11)
    expected = in_process_episode(game, seed, "fraudster", load_player(run, player), actions)
    with GameClient(server) as client:
        reply = client.reset(role="fraudster", opponent=run_player(RUN_NAME, player), seed=seed,
                             max_cycles=60, reward_mode="profit")  # fmt: skip
        assert reply["config"] == game.model_dump(mode="json")
        assert "transaction" not in reply["view"] and "outcome_approved" in reply["view"]  # the ring's own view
        for step, action in enumerate(actions):
            reply = client.step(as_payload("fraudster", action, step))
            assert_reply_equals(reply, expected[step + 1], "fraudster")
        assert reply["done"]
        info = client.info()
    assert RUN_NAME in info["opponents"]["runs"]
    assert player in info["opponents"]["runs"][RUN_NAME]["router"]


def test_text_agent_example_plays_a_full_episode(server):
    completed = subprocess.run(
        [sys.executable, "experiments/serve_text_agent.py", "--url", server, "--episodes", "2",
         "--max-cycles", "40", "--what-if"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["episode 0", "episode 1"]
    assert "40 steps" in lines[0] and "unparsed answers 0" in lines[0]

    spec = importlib.util.spec_from_file_location("serve_text_agent", REPO / "experiments" / "serve_text_agent.py")
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # its dataclasses look their module up
    spec.loader.exec_module(example)
    with GameClient(server) as client:
        summary = example.play_episode(client, ask=lambda prompt: "I would rather not say.", seed=3, max_cycles=10)
    assert summary.steps == 10 and summary.unparsed_answers == 10  # every unusable answer fell back safely
    assert example.parse_answer('Sure: {"gateway": 1, "decision": "3ds", "retry": false}') == RouterAction(
        gateway=1, decision="3ds", retry=False
    )


def test_openapi_docs_are_served(server):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server + "/docs", timeout=10) as response:
        assert response.status == 200 and "swagger" in response.read().decode().lower()
    with opener.open(server + "/openapi.json", timeout=10) as response:
        paths = json.loads(response.read())["paths"]
    assert {"/health", "/info", "/sessions", "/sessions/{session_id}/step", "/sessions/{session_id}/simulate",
            "/sessions/{session_id}/state", "/sessions/{session_id}"} <= set(paths)  # fmt: skip


def test_info_lists_spaces_tables_and_opponents(server):
    info = GameClient(server).info()
    assert info["agents"][ROUTER]["action"]["nvec"] == [3, 4, 2]
    assert info["agents"][FRAUDSTER]["observation"]["dim"] == 13
    assert "| 46 | `progress` |" in info["agents"][ROUTER]["observation_table"]
    assert info["decisions"] == ["allow", "block", "3ds", "review"]
    assert info["reward_modes"] == ["zero_sum", "profit", "graded"]
    assert "velocity_rules" in info["opponents"]["scripted"]["router"]
    assert info["opponents"]["runs"][RUN_NAME]["fraudster"] == [
        "fraudster_main", "fraudster_scripted:neutral", "fraudster_main@it1"
    ]
    assert "not_a_run" not in info["opponents"]["runs"]
    assert info["limits"]["max_sessions"] == MAX_SESSIONS


# ---------------------------------------------------------------------- error statuses on the wire


def expect_error(status: int, call, *fragments: str) -> str:
    with pytest.raises(ServerError) as caught:
        call()
    assert caught.value.status == status, caught.value.detail
    for fragment in fragments:
        assert fragment in caught.value.detail, caught.value.detail
    return caught.value.detail


def test_bad_actions_get_422_naming_the_field_and_allowed_values(server):
    with GameClient(server) as client:
        client.reset(role="router", opponent="mixed", seed=1, max_cycles=5)
        expect_error(422, lambda: client.step([3, 0, 0]), "action[0] (gateway)", "less than or equal to 2", "got 3")
        expect_error(422, lambda: client.step([1, 2]), "action", "3 integers (router", "4 integers (fraudster")
        expect_error(422, lambda: client.step([1, 10**20, 1]), "action[1] (decision)", "less than or equal to 3")
        expect_error(422, lambda: client.step({"gateway": 1, "decision": "maybe"}), "action.decision", "'allow', 'block', '3ds' or 'review'")
        expect_error(422, lambda: client.step({"gateway": "1"}), "action.gateway", "valid integer")
        expect_error(422, lambda: client.simulate([0, 0, 0], opponent_action=[10**30, 0, 0, 0]), "opponent_action[0] (intensity)")
        # Well formed, but not this session's to play: 409 naming what it would take.
        expect_error(409, lambda: client.step({"intensity": 2}), "fraudster's action", "RouterAction", "gateway")
        expect_error(409, lambda: client.simulate([0, 0, 0], opponent_action=[9, 0, 0, 0]), "opponent_action", "intensity")
        assert client.state()["step"] == 0  # nothing advanced
        assert client.step([0, 1.0, 0])["step"] == 1  # JSON Schema's integers include 1.0
        client.reset(role="fraudster", opponent="velocity_rules", seed=1, intensity_levels=[0.0, 0.1])
        expect_error(409, lambda: client.step({"intensity": 2, "strategy": "mixed"}), "fraudster_0", "MultiDiscrete([2, 4, 4, 5])")
        expect_error(422, lambda: client.step({"intensity": 1, "strategy": "phishing"}), "strategy", "card_testing")


def test_bad_sessions_get_4xx_naming_the_field(server, runs_dir):
    client = GameClient(server)
    expect_error(422, lambda: client.reset(role="robot"), "role", "'router' or 'fraudster'")
    expect_error(422, lambda: client.reset(opponent="nobody"), "opponent.name", "stealth_fraud", "got 'nobody'")
    expect_error(422, lambda: client.reset(role="fraudster", opponent="stealth_fraud"), "opponent.name", "velocity_rules")
    expect_error(422, lambda: client.reset(max_cycles=0), "config.max_cycles", "greater than or equal to 1")
    expect_error(422, lambda: client.reset(max_cycles=GameLimits().max_cycles + 1), "config.max_cycles",
                 f"less than or equal to {GameLimits().max_cycles}")  # fmt: skip
    expect_error(422, lambda: client.reset(chargeback_delay=[20, 10**9]), "config.chargeback_delay.1", "less than or equal to 1000")
    expect_error(422, lambda: client.reset(chargeback_delay=[30, 20]), "chargeback_delay must satisfy 1 <= low <= high")
    expect_error(422, lambda: client.reset(colour="red"), "config.colour", "Extra inputs are not permitted")
    expect_error(422, lambda: client.reset(difficulty="brutal"), "difficulty", "'easy', 'medium' or 'hard'")
    expect_error(422, lambda: client.reset(steps_per_hour="20"), "config.steps_per_hour", "valid integer")
    expect_error(422, lambda: client.reset(seed=-1), "seed")
    expect_error(422, lambda: client.reset(seed=2**64), "seed", "less than or equal to")
    expect_error(422, lambda: client.reset(opponent={"kind": "alien"}), "opponent", "kind must be 'scripted' or 'run'")
    # Nothing a request sends becomes a path outside --runs, and only league players are played.
    for run in ("..", "../tiny", "/etc", "tiny/snapshots", ".hidden", "tiny\\..", ""):
        expect_error(422, lambda: client.reset(opponent=run_player(run, "router_main")), "opponent.run")
    # Well formed, but not held by this server: 404.
    expect_error(404, lambda: client.reset(opponent=run_player("not_a_run", "router_main")), "unknown run", "allowed values: tiny")
    expect_error(404, lambda: client.reset(opponent=run_player("nowhere", "router_main")), "unknown run")
    expect_error(404, lambda: client.reset(role="fraudster", opponent=run_player(RUN_NAME, "router_main@it99")),
                 "not a player of run", "router_main, router_main@it1")  # fmt: skip
    expect_error(404, lambda: client.reset(opponent=run_player(RUN_NAME, "router_scripted:risk_threshold")),
                 "not a player of run")  # fmt: skip
    expect_error(422, lambda: client.reset(opponent=run_player(RUN_NAME, "router_main")),
                 "plays the router", "must play the fraudster")  # fmt: skip
    expect_error(422, lambda: client.reset(opponent=run_player(RUN_NAME, "../../etc/passwd")), "opponent.player")
    expect_error(422, lambda: client.reset(opponent=run_player(RUN_NAME, "fraudster_main"), intensity_levels=[0.0, 0.1]),
                 "plays fraudster actions of sizes [5, 4, 4, 5]", "[2, 4, 4, 5]")  # fmt: skip
    expect_error(403, lambda: client.reset(transaction_log="day1.csv"), "config.transaction_log", "--logs")
    assert client.health()["sessions"] == 0


def test_unknown_and_closed_sessions_get_404_and_finished_episodes_409(server):
    client = GameClient(server)
    client.session_id = "no-such-session"
    expect_error(404, lambda: client.step([0, 0, 0]), "unknown session")
    expect_error(404, client.state, "unknown session")
    client.reset(role="router", opponent=scripted("neutral"), seed=5, max_cycles=2)
    session_id = client.session_id
    client.step([0, 0, 0])
    finished = client.step([0, 0, 0])
    assert finished["done"]
    expect_error(409, lambda: client.step([0, 0, 0]), "episode ended after 2 steps")
    expect_error(409, lambda: client.simulate([0, 0, 0]), "episode ended")
    assert client.state() == finished  # a finished session can still be read
    client.close()
    client.session_id = session_id
    expect_error(404, client.state, "was closed")
    client.session_id = None
    client.close()  # closing without a session is a no-op


def test_sessions_beyond_the_limit_get_429(server):
    clients = [GameClient(server) for _ in range(MAX_SESSIONS + 1)]
    try:
        for client in clients[:MAX_SESSIONS]:
            client.reset(opponent="neutral", seed=0, max_cycles=10)
        detail = expect_error(429, lambda: clients[-1].reset(opponent="neutral"), f"maximum of {MAX_SESSIONS}")
        assert "this client (127.0.0.1)" in detail and "retry in" in detail
        clients[0].close()
        clients[-1].reset(opponent="neutral", seed=0, max_cycles=10)  # a closed session frees its place
    finally:
        for client in clients:
            client.close()
    assert GameClient(server).health()["sessions"] == 0


def test_the_server_binds_to_loopback_by_default():
    from league.serving.cli import add_arguments

    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).host == "127.0.0.1"
