"""Bad input never gives 500, the schema states the constraints, sessions are shared fairly, logs stay in --logs.

These run the app in process (FastAPI's test client); the schema fuzzer against
the real server process is in ``test_schema_fuzz.py``.
"""

from __future__ import annotations

import logging
import warnings

import pytest

from league.serving.app import ServerSettings, create_app
from league.serving.errors import BadInput, Forbidden, NotFound, TooManySessions
from league.serving.logs import LogDirectory, guard_transaction_log
from league.serving.opponents import OpponentCatalog
from league.serving.sessions import GameLimits, GameSession, SessionStore
from smartpay_marl.config import MAX_DELAY, MAX_LEVELS, GameConfig
from tests.league.serving.test_sessions import FakeClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about its httpx-based test client
    from fastapi.testclient import TestClient

ROUTER_SESSION = {"role": "router", "opponent": "mixed", "seed": 1, "config": {"max_cycles": 20}}


@pytest.fixture(scope="module")
def http():
    with TestClient(create_app(ServerSettings(max_sessions_per_client=64)), raise_server_exceptions=False) as client:
        yield client


def open_session(http, body=ROUTER_SESSION) -> str:
    reply = http.post("/sessions", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["session_id"]


# ---------------------------------------------------------------------- bad input is a 4xx naming the field

HUGE = 99999999999999999999


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ROUTER_SESSION, "seed": HUGE}, "seed"),
        ({**ROUTER_SESSION, "seed": 1.5}, "seed"),
        ({**ROUTER_SESSION, "seed": True}, "seed"),
        ({**ROUTER_SESSION, "config": {"max_cycles": HUGE}}, "config.max_cycles"),
        ({**ROUTER_SESSION, "config": {"review_delay": [1, HUGE]}}, "config.review_delay.1"),
        ({**ROUTER_SESSION, "config": {"intensity_levels": [0.0] * (MAX_LEVELS + 1)}}, "config.intensity_levels"),
        ({**ROUTER_SESSION, "config": {"dispute_fee": "15"}}, "config.dispute_fee"),
        ({**ROUTER_SESSION, "config": []}, "config"),
        ({**ROUTER_SESSION, "opponent": {"kind": "scripted", "name": "x" * 10_000}}, "opponent.name"),
        ({**ROUTER_SESSION, "opponent": {"kind": "run", "run": "tiny", "player": "p"}}, "opponent"),  # no --runs
        ({**ROUTER_SESSION, "opponent": HUGE}, "opponent"),
        ({**ROUTER_SESSION, "role": None}, "role"),
        ({"role": "router"}, "opponent"),
        ({**ROUTER_SESSION, "colour": "red"}, "colour"),
    ],
)
def test_bad_session_bodies_get_422_naming_the_field(http, body, field):
    reply = http.post("/sessions", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"].startswith(field) or f"; {field}" in reply.json()["detail"], reply.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": [1, HUGE, 1]}, "action[1] (decision)"),
        ({"action": [-HUGE, 0, 0]}, "action[0] (gateway)"),
        ({"action": [HUGE, 0, 0, 0]}, "action[0] (intensity)"),
        ({"action": {"gateway": HUGE}}, "action.gateway"),
        ({"action": {"intensity": HUGE}}, "action.intensity"),
        ({"action": [0.5, 0, 0]}, "action[0] (gateway)"),
        ({"action": [True, 0, 0]}, "action[0] (gateway)"),
        ({"action": []}, "action"),
        ({"action": None}, "action"),
        ({"action": [0, 0, 0], "opponent_action": [HUGE, 0, 0, 0]}, "opponent_action[0] (intensity)"),
        ({"action": [0, 0, 0], "extra": 1}, "extra"),
        ({}, "action"),
    ],
)
def test_bad_actions_get_422_naming_the_field(http, body, field):
    session_id = open_session(http)
    for endpoint in ("step", "simulate"):
        if endpoint == "step" and "opponent_action" in body:
            continue
        reply = http.post(f"/sessions/{session_id}/{endpoint}", json=body)
        assert reply.status_code == 422, reply.text
        assert reply.json()["detail"].startswith(field), reply.json()["detail"]
    assert http.get(f"/sessions/{session_id}/state").json()["step"] == 0


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_get_422(http, literal):
    # Python's JSON reader turns these into floats; GameConfig's floats refuse them, and no int takes them.
    config = b'{"role": "router", "opponent": "mixed", "config": {"reward_scale": %s}}' % literal
    reply = http.post("/sessions", content=config, headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["detail"].startswith("config.reward_scale"), reply.text
    seed = b'{"role": "router", "opponent": "mixed", "seed": %s}' % literal
    reply = http.post("/sessions", content=seed, headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["detail"].startswith("seed"), reply.text


def test_malformed_or_non_json_bodies_get_400_and_415(http):
    session_id = open_session(http)
    for path in ("/sessions", f"/sessions/{session_id}/step", f"/sessions/{session_id}/simulate"):
        broken = http.post(path, content=b'{"action": [1, 2', headers={"content-type": "application/json"})
        assert broken.status_code == 400 and broken.json()["detail"].startswith("body: not valid JSON"), broken.text
        as_form = http.post(path, content=b"action=1", headers={"content-type": "application/x-www-form-urlencoded"})
        assert as_form.status_code == 415, as_form.text
        no_type = http.post(path, content=b'{"action": [0, 0, 0]}')
        assert no_type.status_code == 415 and "no Content-Type" in no_type.json()["detail"]


def test_session_ids_of_any_shape_get_404(http):
    for session_id in ("x" * 5000, "%00", "..", "ü" * 10, " "):
        reply = http.get(f"/sessions/{session_id}/state")
        assert reply.status_code == 404, (session_id, reply.text)
        assert len(reply.json()["detail"]) < 200


def test_a_bare_scripted_name_is_the_opponent_shorthand(http):
    for role, name in (("router", "stealth_fraud"), ("fraudster", "velocity_rules")):
        reply = http.post("/sessions", json={"role": role, "opponent": name, "seed": 3})
        assert reply.status_code == 201 and reply.json()["opponent"] == f"scripted:{name}"
    wrong_side = http.post("/sessions", json={"role": "fraudster", "opponent": "stealth_fraud"})
    assert wrong_side.status_code == 422 and "velocity_rules" in wrong_side.json()["detail"]


def test_a_fixed_scripted_ring_beyond_the_configs_levels_gets_422_not_500(http):
    # stealth_fraud plays intensity index 2; found by the schema fuzzer as a 500 before.
    reply = http.post("/sessions", json={**ROUTER_SESSION, "opponent": "stealth_fraud",
                                         "config": {"intensity_levels": [0.0, 0.1]}})  # fmt: skip
    assert reply.status_code == 422, reply.text
    assert "opponent.name" in reply.json()["detail"] and "intensity index 2" in reply.json()["detail"]


def test_an_unexpected_failure_is_one_line_with_a_request_id_and_a_logged_trace(http, caplog, monkeypatch):
    session_id = open_session(http)

    def broken(self, payload):
        raise RuntimeError("a bug deep inside the game")

    monkeypatch.setattr(GameSession, "step", broken)
    with caplog.at_level(logging.ERROR, logger="league.serving"):
        reply = http.post(f"/sessions/{session_id}/step", json={"action": [0, 0, 0]})
    assert reply.status_code == 500
    request_id = reply.json()["request_id"]
    assert request_id in reply.json()["detail"] and "bug deep inside" not in reply.text  # no internals to the caller
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info and "a bug deep inside the game" in str(logged[0].exc_info[1])


# ---------------------------------------------------------------------- the schema states the constraints


@pytest.fixture(scope="module")
def openapi(http):
    return http.get("/openapi.json").json()


def resolve(openapi: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_action_vectors_state_their_length_and_each_fields_range(openapi):
    forms = openapi["components"]["schemas"]["StepRequest"]["properties"]["action"]["oneOf"]
    vectors = [f for f in forms if f.get("type") == "array"]
    ranges = [[(i["minimum"], i["maximum"]) for i in v["prefixItems"]] for v in vectors]
    assert [(v["minItems"], v["maxItems"]) for v in vectors] == [(3, 3), (4, 4)]
    assert ranges == [[(0, 2), (0, 3), (0, 1)], [(0, MAX_LEVELS - 1)] * 3 + [(0, 4)]]
    typed = [resolve(openapi, f) for f in forms if "$ref" in f]
    router, fraudster = (t["properties"] for t in typed)
    assert router["decision"]["enum"] == ["allow", "block", "3ds", "review"] and router["gateway"]["maximum"] == 2
    assert fraudster["strategy"]["enum"][0] == "mixed" and fraudster["intensity"]["maximum"] == MAX_LEVELS - 1
    assert all(t["additionalProperties"] is False for t in typed)


def test_the_session_config_schema_is_gameconfigs_fields_with_their_bounds(openapi):
    config = openapi["components"]["schemas"]["SessionConfig"]
    fields = config["properties"]
    assert set(GameConfig.model_fields) <= set(fields) and config["additionalProperties"] is False
    assert (fields["max_cycles"]["minimum"], fields["max_cycles"]["maximum"]) == (1, GameLimits().max_cycles)
    assert fields["reward_mode"]["enum"] == ["zero_sum", "profit", "graded"]
    assert fields["chargeback_delay"]["prefixItems"] == [{"type": "integer", "minimum": 1, "maximum": MAX_DELAY}] * 2
    levels = fields["intensity_levels"]
    assert (levels["minItems"], levels["maxItems"], levels["items"]["minimum"], levels["items"]["maximum"]) == (2, MAX_LEVELS, 0, 1)
    assert fields["gateway_base_success"]["prefixItems"][0] == {"type": "number", "minimum": 0, "maximum": 1}
    # Every bound a scalar field of GameConfig declares is in the schema.
    for name, info in GameConfig.model_fields.items():
        for constraint in info.metadata:
            for attribute, keyword in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"), ("lt", "exclusiveMaximum")):
                if hasattr(constraint, attribute):
                    schema = fields[name]
                    options = schema.get("anyOf", [schema])
                    assert any(o.get(keyword) is not None for o in options), (name, keyword)


def test_every_example_in_the_schema_is_accepted_by_a_fresh_server(openapi):
    with TestClient(create_app()) as fresh:
        body = openapi["paths"]["/sessions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        examples = [e for option in body["oneOf"] for e in resolve(openapi, option).get("examples", [])]
        assert len(examples) == 2
        for example in examples:
            reply = fresh.post("/sessions", json=example)
            assert reply.status_code == 201, (example, reply.text)
            session_id = reply.json()["session_id"]
            for action in openapi["components"]["schemas"]["StepRequest"]["properties"]["action"]["examples"]:
                agent_fits = isinstance(action, dict) and ("gateway" in action) == (example["role"] == "router")
                if isinstance(action, list):
                    agent_fits = len(action) == (3 if example["role"] == "router" else 4)
                if agent_fits:
                    assert fresh.post(f"/sessions/{session_id}/step", json={"action": action}).status_code == 200


def test_every_operation_documents_the_statuses_it_can_answer(openapi):
    documented = {(path, method): set(op["responses"]) for path, ops in openapi["paths"].items() for method, op in ops.items()}
    assert {"201", "400", "403", "404", "415", "422", "429", "500"} <= documented[("/sessions", "post")]
    for path in ("/sessions/{session_id}/step", "/sessions/{session_id}/simulate"):
        assert {"200", "400", "404", "409", "415", "422", "500"} <= documented[(path, "post")]
    assert {"200", "404", "500"} <= documented[("/sessions/{session_id}", "delete")]


# ---------------------------------------------------------------------- fair sessions


def a_session(session_id: str) -> GameSession:
    opponent = OpponentCatalog().resolve("mixed", "fraudster", 0, {"max_cycles": 5}, GameLimits().make_game)
    return GameSession(session_id, "router", opponent.policy, opponent.label, opponent.game, 0)


def test_one_client_cannot_take_every_session():
    store = SessionStore(max_sessions=6, max_per_client=2, reclaim_idle_s=None)
    hoarder = [store.open(a_session, client="10.0.0.1") for _ in range(2)]
    with pytest.raises(TooManySessions, match=r"this client \(10.0.0.1\) already holds its maximum of 2") as refused:
        store.open(a_session, client="10.0.0.1")
    assert int(refused.value.headers["Retry-After"]) >= 1
    others = [store.open(a_session, client=f"10.0.0.{i}") for i in range(2, 6)]  # others still get theirs
    with pytest.raises(TooManySessions, match="this server holds its maximum of 6"):
        store.open(a_session, client="10.0.0.9")
    store.close(hoarder[0].session_id)
    store.open(a_session, client="10.0.0.9")
    assert len(store) == 6 and store.count("10.0.0.1") == 1 and len(others) == 4


def test_long_idle_sessions_are_reclaimed_when_there_is_no_room():
    clock = FakeClock()
    store = SessionStore(max_sessions=3, idle_timeout_s=600, max_per_client=2, reclaim_idle_s=60, clock=clock)
    first = store.open(a_session, client="a")
    clock.now += 10
    second = store.open(a_session, client="a")
    clock.now += 40  # first idle 50 s: not yet reclaimable
    with pytest.raises(TooManySessions, match="retry in 10 s") as refused:
        store.open(a_session, client="a")
    assert refused.value.headers == {"Retry-After": "10"}
    clock.now += 10  # first idle 60 s: the client's own longest-idle session makes room
    store.open(a_session, client="a")
    with pytest.raises(Exception, match="was reclaimed .* after 60 s"):
        store.get(first.session_id)
    assert store.get(second.session_id) is second
    store.open(a_session, client="b")  # the server is now full (3)
    clock.now += 61
    store.get(second.session_id)  # kept in use
    newest = store.open(a_session, client="c")  # reclaims the longest-idle one, not the one in use
    assert store.get(second.session_id) is second and store.get(newest.session_id) is newest and len(store) == 3


def test_a_rejected_request_never_reclaims_a_session():
    app = create_app(ServerSettings(max_sessions=1, reclaim_idle_s=0))
    with TestClient(app) as http:
        kept = open_session(http)
        assert http.post("/sessions", json={**ROUTER_SESSION, "config": {"max_cycles": 0}}).status_code == 422
        assert http.post("/sessions", json={**ROUTER_SESSION, "config": {"review_delay": [9, 3]}}).status_code == 422
        assert http.get(f"/sessions/{kept}/state").status_code == 200
        newer = open_session(http)  # a valid one does (reclaim_idle_s=0: any idle session may go)
        assert http.get(f"/sessions/{kept}/state").status_code == 404 and newer != kept


def test_the_per_client_limit_answers_429_with_retry_after_over_http():
    app = create_app(ServerSettings(max_sessions=10, max_sessions_per_client=2, reclaim_idle_s=None))
    with TestClient(app) as http:
        open_session(http), open_session(http)
        refused = http.post("/sessions", json=ROUTER_SESSION)
        assert refused.status_code == 429 and "maximum of 2" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        assert http.get("/info").json()["limits"]["max_sessions_per_client"] == 2


# ---------------------------------------------------------------------- transaction logs only from --logs


@pytest.fixture
def logs_dir(tmp_path):
    root = tmp_path / "logs"
    (root / "2024").mkdir(parents=True)
    (root / "2024" / "day1.csv").write_text("amount\n1.0\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("amount\n2.0\n")
    (root / "escape.csv").symlink_to(secret)
    (root / "escape_dir").symlink_to(tmp_path, target_is_directory=True)
    return root


def test_a_log_inside_logs_resolves_and_nothing_else_does(logs_dir, tmp_path):
    logs = LogDirectory(logs_dir)
    fields = guard_transaction_log({"max_cycles": 5, "transaction_log": "2024/day1.csv"}, logs)
    assert fields == {"max_cycles": 5, "transaction_log": str((logs_dir / "2024" / "day1.csv").resolve())}
    assert guard_transaction_log({"max_cycles": 5, "transaction_log": None}, None) == {"max_cycles": 5}
    with pytest.raises(Forbidden, match="leads outside"):
        logs.resolve("escape.csv")  # a symlink inside --logs to a file outside
    with pytest.raises(Forbidden, match="leads outside"):
        logs.resolve("escape_dir/secret.csv")
    for name in ("../secret.csv", "2024/../../secret.csv", str(tmp_path / "secret.csv"), "./2024/day1.csv", ".hidden", ""):
        with pytest.raises(BadInput, match="relative to the server's --logs"):
            logs.resolve(name)
    with pytest.raises(NotFound, match="no transaction log 'missing.csv'"):
        logs.resolve("missing.csv")
    with pytest.raises(Forbidden, match="start it with serve --logs DIR"):
        guard_transaction_log({"transaction_log": "2024/day1.csv"}, None)


def test_the_server_refuses_a_log_outside_logs(logs_dir, tmp_path):
    with TestClient(create_app(ServerSettings(logs_dir=logs_dir))) as http:
        def open_with(log):
            return http.post("/sessions", json={**ROUTER_SESSION, "config": {"transaction_log": log}})

        assert open_with("escape.csv").status_code == 403
        assert open_with("../secret.csv").status_code == 422
        assert open_with(str(tmp_path / "secret.csv")).status_code == 422
        assert open_with("missing.csv").status_code == 404
        inside = open_with("2024/day1.csv")
        if "transaction_log" in GameConfig.model_fields:  # the field of issue 21: the log is replayed
            assert inside.status_code in (201, 422), inside.text
        else:  # the guard let it through; GameConfig itself does not know the field yet
            assert inside.status_code == 422 and "transaction_log" in inside.json()["detail"]
    with TestClient(create_app()) as http:
        refused = http.post("/sessions", json={**ROUTER_SESSION, "config": {"transaction_log": "2024/day1.csv"}})
        assert refused.status_code == 403 and "--logs" in refused.json()["detail"]
