"""The stdlib client (smartpay_marl.client): payloads, float round trips, errors, and its use of a live server."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from smartpay_marl.client import GameClient, ServerError, _action_payload, observation_array
from smartpay_marl.models import FraudsterAction, RouterAction

CLIENT_SOURCE = Path(__file__).parents[3] / "smartpay_marl" / "client.py"


def test_client_imports_neither_agents_nor_league_nor_third_party_http():
    tree = ast.parse(CLIENT_SOURCE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"agents", "league", "fastapi", "uvicorn", "httpx", "requests"}


def test_actions_become_json_payloads():
    assert _action_payload(RouterAction(gateway=1, decision="3ds", retry=True)) == {"gateway": 1, "decision": "3ds", "retry": True}
    assert _action_payload(FraudsterAction(intensity=2, strategy="card_testing"))["strategy"] == "card_testing"
    assert _action_payload(np.array([[2, 0, 1]])) == [2, 0, 1]
    assert _action_payload((1, 2, 3, 4)) == [1, 2, 3, 4]
    assert _action_payload({"gateway": 0}) == {"gateway": 0}


def test_float32_observations_survive_json_exactly():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(1000, dtype=np.float32), np.float32([0.1, 1 / 3, 1e-38, 1.5])])
    reply = json.loads(json.dumps({"observation": [float(v) for v in values]}))
    assert np.array_equal(observation_array(reply), values) and observation_array(reply).dtype == np.float32


def test_base_url_must_be_http():
    for bad in ("127.0.0.1:8000", "ftp://host/", "http://"):
        with pytest.raises(ValueError, match="base_url"):
            GameClient(bad)


def test_the_connection_is_kept_alive_and_renewed_when_the_server_closes_it(server):
    client = GameClient(server)
    client.health()
    first = client._connection
    client.info()
    assert client._connection is first  # reused
    first.sock.shutdown(2)  # as if the server had closed the idle connection
    client.health()
    assert client._connection is not first


def test_errors_carry_the_status_and_the_servers_message(server):
    client = GameClient(server)
    with pytest.raises(RuntimeError, match="call reset"):
        client.step([0, 0, 0])
    with pytest.raises(ServerError) as caught:
        client.reset(opponent="nobody")
    assert caught.value.status == 422 and "opponent.name" in caught.value.detail
    assert client.session_id is None


def test_reset_closes_the_previous_session_and_the_context_closes_the_last(server):
    with GameClient(server) as client:
        first = client.reset(opponent="neutral", seed=1, max_cycles=5)
        second = client.reset(opponent="neutral", seed=1, max_cycles=5)
        assert first["session_id"] != second["session_id"]
        assert first["observation"] == second["observation"]  # same seed, same first view
        assert client.health()["sessions"] == 1
        client.step(RouterAction(gateway=0))
        assert client.last_reply["step"] == 1 and client.state()["step"] == 1
    assert GameClient(server).health()["sessions"] == 0
