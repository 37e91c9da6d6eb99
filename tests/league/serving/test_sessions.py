"""The session store (limits, expiry, locks), the opponents catalogue and the app in process (FastAPI's test client)."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import warnings

import numpy as np
import pytest

from league.serving.app import ServerSettings, create_app
from league.serving.errors import SessionNotFound, TooManySessions
from league.serving.opponents import OpponentCatalog, OpponentError, SharedPolicy, UnknownOpponent
from league.serving.schemas import RunOpponent, ScriptedOpponent
from league.serving.sessions import GameLimits, GameSession, SessionStore
from smartpay_marl.config import make_game_config
from tests.league.serving.conftest import RUN_NAME

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about its httpx-based test client
    from fastapi.testclient import TestClient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_session(session_id: str, seed: int = 0, max_cycles: int = 20) -> GameSession:
    game = make_game_config(max_cycles=max_cycles)
    opponent = OpponentCatalog().resolve(ScriptedOpponent(name="mixed"), "fraudster", seed, {}, GameLimits().make_game)
    return GameSession(session_id, "router", opponent.policy, opponent.label, game, seed)


# ---------------------------------------------------------------------- the store


def test_store_refuses_sessions_beyond_its_limit_until_one_closes():
    store = SessionStore(max_sessions=2, idle_timeout_s=60)
    first = store.open(a_session)
    store.open(a_session)
    with pytest.raises(TooManySessions, match="maximum of 2 open sessions"):
        store.open(a_session)
    store.close(first.session_id)
    store.open(a_session)
    assert len(store) == 2


def test_idle_sessions_expire_and_say_so():
    clock = FakeClock()
    store = SessionStore(max_sessions=2, idle_timeout_s=30, clock=clock)
    kept, idle = store.open(a_session), store.open(a_session)
    clock.now += 20
    store.get(kept.session_id)  # a request keeps a session alive
    clock.now += 20
    with pytest.raises(SessionNotFound, match="expired after 30 s"):
        store.get(idle.session_id)
    assert store.get(kept.session_id) is kept
    clock.now += 31
    assert store.sweep() == 1 and len(store) == 0
    with pytest.raises(SessionNotFound, match="expired"):
        store.close(kept.session_id)
    with pytest.raises(SessionNotFound, match="unknown session"):
        store.get("never-opened")


def test_expired_sessions_free_their_place():
    clock = FakeClock()
    store = SessionStore(max_sessions=1, idle_timeout_s=5, clock=clock)
    store.open(a_session)
    clock.now += 6
    store.open(a_session)  # the expired one was swept to make room
    assert len(store) == 1


def test_session_ids_are_unguessable_and_unique():
    store = SessionStore(max_sessions=50)
    ids = {store.open(a_session).session_id for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 22 for i in ids)


def test_a_failed_build_does_not_leak_a_place():
    store = SessionStore(max_sessions=1)

    def broken(session_id: str) -> GameSession:
        raise OpponentError("opponent.name: no such player")

    for _ in range(3):
        with pytest.raises(OpponentError):
            store.open(broken)
    store.open(a_session)


def test_what_ifs_leave_the_session_and_a_stateful_opponent_untouched():
    plain, probed = a_session("a", seed=4), a_session("b", seed=4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.integers(0, [3, 4, 2]).tolist()
        for _ in range(3):
            probed.simulate(rng.integers(0, [3, 4, 2]).tolist())
        what_if = probed.simulate(action)
        a, b = plain.step(action), probed.step(action)
        assert a.model_dump(exclude={"session_id"}) == b.model_dump(exclude={"session_id"})
        assert what_if.model_dump() == {**b.model_dump(), "simulated": True}


def test_the_session_lock_serialises_concurrent_steps():
    session = a_session("s", max_cycles=200)
    errors: list[BaseException] = []

    def play() -> None:
        try:
            for _ in range(50):
                with session.lock:
                    session.step([0, 0, 1])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=play) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and session.reply.step == 200 and session.done


# ---------------------------------------------------------------------- opponents


def test_league_players_are_restored_once_and_shared(runs_dir):
    catalog = OpponentCatalog(runs_dir)
    spec = RunOpponent(run=RUN_NAME, player="fraudster_main@it1")
    first = catalog.resolve(spec, "fraudster", 1, {}, GameLimits().make_game)
    second = catalog.resolve(spec, "fraudster", 2, {"max_cycles": 50}, GameLimits().make_game)
    assert isinstance(first.policy, SharedPolicy) and first.policy is second.policy
    assert catalog.loaded_players == [f"{RUN_NAME}/fraudster_main@it1"]
    assert first.game.max_cycles == 100 and second.game.max_cycles == 50  # the run's game, then the override
    scripted = catalog.resolve(RunOpponent(run=RUN_NAME, player="fraudster_scripted:neutral"), "fraudster", 1, {},
                               GameLimits().make_game)  # fmt: skip
    assert scripted.policy.name == "neutral" and catalog.loaded_players == [f"{RUN_NAME}/fraudster_main@it1"]


def test_run_names_never_lead_outside_the_runs_directory(runs_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (runs_dir / "escape").symlink_to(outside, target_is_directory=True)
    try:
        catalog = OpponentCatalog(runs_dir)
        for name in ("escape", "..", "tiny/..", "/tmp"):
            with pytest.raises((OpponentError, UnknownOpponent), match="opponent.run"):
                catalog._open_run(name)
        assert catalog.run_names() == [RUN_NAME]
    finally:
        (runs_dir / "escape").unlink()
    with pytest.raises(OpponentError, match="needs a server started with --runs"):
        OpponentCatalog(None)._open_run(RUN_NAME)
    with pytest.raises(OpponentError, match="must be an existing directory"):
        OpponentCatalog(tmp_path / "missing")


# ---------------------------------------------------------------------- the app in process


def test_an_expired_session_answers_404_over_http():
    app = create_app(ServerSettings(idle_timeout_s=30))
    clock = FakeClock()
    app.state.store.clock = clock
    with TestClient(app) as http:
        created = http.post("/sessions", json={"role": "router", "opponent": {"kind": "scripted", "name": "mixed"}})
        assert created.status_code == 201 and isinstance(created.json()["seed"], int)  # a drawn seed is returned
        session_id = created.json()["session_id"]
        assert http.post(f"/sessions/{session_id}/step", json={"action": [0, 0, 0]}).status_code == 200
        clock.now += 31
        expired = http.post(f"/sessions/{session_id}/step", json={"action": [0, 0, 0]})
        assert expired.status_code == 404 and "expired" in expired.json()["detail"]
        assert http.delete(f"/sessions/{session_id}").status_code == 404


def test_request_validation_errors_are_one_line_naming_the_field():
    with TestClient(create_app()) as http:
        reply = http.post("/sessions", json={"role": "router", "opponent": {"kind": "scripted"}, "seed": "soon"})
        assert reply.status_code == 422
        detail = reply.json()["detail"]
        assert "opponent.name: Field required" in detail and "seed: Input should be a valid integer (got 'soon')" in detail
        assert [e["loc"] for e in reply.json()["errors"]] == ["opponent.name", "seed"]
        bad_json = http.post("/sessions", content=b"{not json", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]
        as_text = http.post("/sessions", content=b"{}", headers={"content-type": "text/plain"})
        assert as_text.status_code == 415 and "application/json" in as_text.json()["detail"]


def test_memory_stays_flat_as_sessions_open_and_close():
    app = create_app(ServerSettings(max_sessions=4))
    body = {"role": "router", "opponent": {"kind": "scripted", "name": "adaptive"}, "config": {"max_cycles": 50}}

    def cycle(count: int) -> None:
        for seed in range(count):
            session_id = http.post("/sessions", json={**body, "seed": seed}).json()["session_id"]
            for _ in range(5):
                http.post(f"/sessions/{session_id}/step", json={"action": [1, 0, 1]})
            assert http.delete(f"/sessions/{session_id}").status_code == 200

    with TestClient(app) as http:
        cycle(30)  # warm up: compiled code, caches, the thread pool
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        cycle(300)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert len(app.state.store) == 0
    # 300 sessions of ~100 KiB each would be ~30 MiB; only the bounded list of closed ids may remain.
    assert growth < 1.5 * 2**20, f"memory grew by {growth / 2**20:.2f} MiB over 300 sessions"


def test_cli_warns_when_binding_beyond_loopback():
    from league.serving.cli import _is_loopback

    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.10") and not _is_loopback("example.org")



def test_a_runs_meta_nash_mixture_plays_one_member_per_session(tmp_path):
    from league.evaluation.mixture import MixturePolicy, make_mixture, write_mixture
    from tests.league.serving.conftest import build_tiny_run

    run_dir = build_tiny_run(tmp_path / RUN_NAME)
    members = ["fraudster_main@it1", "fraudster_scripted:neutral"]
    write_mixture(run_dir, make_mixture("fraudster", "nash", 1, members, [0.5, 0.5], source="test"))
    catalog = OpponentCatalog(tmp_path)
    assert "fraudster_nash@1" in catalog.describe()["runs"][RUN_NAME]["fraudster"]
    spec = RunOpponent(run=RUN_NAME, player="fraudster_nash@1")
    mixture = catalog._learned_player(catalog._open_run(RUN_NAME), RUN_NAME, "fraudster_nash@1")._policy
    assert isinstance(mixture, MixturePolicy)
    played = []
    for seed in range(40):
        opponent = catalog.resolve(spec, "fraudster", seed, {}, GameLimits().make_game)
        expected = mixture.member_for_episode(seed).name
        assert opponent.label.endswith(f"(member {expected})")  # the session's seed draws the member
        played.append(expected)
    assert {"fraudster_main@it1", "neutral"} <= set(played) or set(played) == set(members)
    # A scripted member keeps state, so two sessions never share one object.
    scripted_seeds = [s for s, name in enumerate(played) if "neutral" in name][:2]
    first, second = (catalog.resolve(spec, "fraudster", s, {}, GameLimits().make_game).policy for s in scripted_seeds)
    assert first is not second
    with pytest.raises(OpponentError, match="plays the fraudster"):
        catalog.resolve(spec, "router", 0, {}, GameLimits().make_game)
