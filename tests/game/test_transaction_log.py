"""Replaying a transaction log: round trip, determinism, validation errors, mappings, the PettingZoo suite."""

import hashlib
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

import smartpay_marl  # noqa: E402
from league.cli import main as cli_main  # noqa: E402
from smartpay_marl.config import GameConfig, make_game_config  # noqa: E402
from smartpay_marl.layout import FRAUDSTER, ROUTER, TX, TX_DIM  # noqa: E402
from smartpay_marl.log_export import export_log, generated_customers  # noqa: E402
from smartpay_marl.transaction_log import (  # noqa: E402
    MISSING_EXTRA_MESSAGE,
    AbsentColumnsWarning,
    SCHEMA,
    TransactionLogError,
    load_mapping,
    load_transaction_log,
    log_features,
    read_transaction_log,
)

REPO = Path(__file__).resolve().parents[2]
IEEE_MAPPING = REPO / "configs" / "logs" / "ieee_cis.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 3,000-row export of the generator's stream, as Parquet and CSV."""
    folder = tmp_path_factory.mktemp("logs")
    paths = {}
    for suffix in ("parquet", "csv"):
        paths[suffix] = folder / f"stream.{suffix}"
        assert export_log(paths[suffix], 3000, GameConfig(), seed=5) == 3000
    return paths


def _episode_digest(config: GameConfig, seed: int, router_seed: int = 7) -> str:
    env = smartpay_marl.parallel_env(config=config)
    env.reset(seed=seed)
    rng = np.random.default_rng(router_seed)
    digest = hashlib.sha256()
    while env.agents:
        actions = {ROUTER: rng.integers(0, [3, 4, 2]), FRAUDSTER: rng.integers(0, [5, 4, 4, 5])}
        obs, rewards, *_ = env.step(actions)
        for agent in (ROUTER, FRAUDSTER):
            digest.update(obs[agent].tobytes())
            digest.update(np.float64(rewards[agent]).tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_replaying_an_export_gives_the_generators_features(exported, suffix):
    expected = np.concatenate([tx for _, tx in generated_customers(GameConfig(), 3000, seed=5)])
    log = read_transaction_log(exported[suffix])
    assert log.num_rows == 3000 and log.notes == []  # every schema column was written
    replayed, _ = log_features(log, GameConfig(), np.arange(3000))
    assert replayed.shape == (3000, TX_DIM)
    np.testing.assert_array_equal(replayed, expected)  # bit for bit: the file keeps every value exactly
    assert expected[:, TX["payment"]].all()  # the export holds paying customers only


def test_export_log_command_writes_the_schema(tmp_path, capsys):
    output = tmp_path / "out" / "first.parquet"
    assert cli_main(["export-log", "--rows", "500", "--output", str(output), "--seed", "3"]) == 0
    assert "wrote 500 rows" in capsys.readouterr().out
    table = pq.read_table(output)
    assert table.column_names == [c.name for c in SCHEMA if c.name != "timestamp"]
    assert table.num_rows == 500
    assert set(table.column("is_fraud").to_pylist()) <= {0, 1}


# ----------------------------------------------------------------------------- episodes
def test_same_seed_same_episode_across_processes(exported):
    script = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(REPO)!r})
        from smartpay_marl.config import GameConfig
        from tests.game.test_transaction_log import _episode_digest
        print(_episode_digest(GameConfig(transaction_log={str(exported["parquet"])!r}), 11))
        """
    )
    digests = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip()
        for _ in range(2)
    }
    config = GameConfig(transaction_log=str(exported["parquet"]))
    assert digests == {_episode_digest(config, 11)}
    assert _episode_digest(config, 12) != _episode_digest(config, 11)
    assert _episode_digest(GameConfig(), 11) != _episode_digest(config, 11)


def test_different_routers_face_the_same_customers(exported):
    """Common random numbers: with an idle ring, what the router sees does not depend on its actions."""
    config = GameConfig(transaction_log=str(exported["csv"]))
    seen = []
    for decision in (0, 1):  # always allow, always block
        env = smartpay_marl.parallel_env(config=config)
        obs, _ = env.reset(seed=4)
        features = [obs[ROUTER][:TX_DIM]]
        while env.agents:
            obs, *_ = env.step({ROUTER: np.array([0, decision, 0]), FRAUDSTER: np.zeros(4, dtype=np.int64)})
            features.append(obs[ROUTER][:TX_DIM])
        seen.append(np.array(features))
    np.testing.assert_array_equal(seen[0], seen[1])


def test_customers_come_from_the_log_in_order(exported):
    log = load_transaction_log(exported["parquet"])
    env = smartpay_marl.vector_env(8, transaction_log=str(exported["parquet"]))
    obs, _ = env.reset(seed=2)
    window = env.simulator.log_window.copy()
    expected, _ = log_features(log, env.config, window)
    first = obs[ROUTER][:, :TX_DIM]
    paying = first[:, TX["payment"].start] > 0.5
    assert paying.any()
    np.testing.assert_array_equal(first[paying], expected[paying])


def test_vector_env_runs_with_a_log_and_ring_attempts_use_log_profiles(exported):
    env = smartpay_marl.vector_env(64, transaction_log=str(exported["csv"]), max_cycles=60)
    env.reset(seed=0)
    attacking = np.tile([4, 0, 0, 0], (64, 1))  # the strongest intensity, plain fraud
    attempts = 0
    for _ in range(60):
        obs, rewards, terms, _, infos = env.step({ROUTER: np.zeros((64, 3), dtype=np.int64), FRAUDSTER: attacking})
        attempts += int(obs[FRAUDSTER][:, 0].sum())
        assert np.isfinite(rewards[ROUTER]).all()
    assert attempts > 0 and terms[ROUTER].all()


def test_a_branch_of_a_replaying_simulator_has_the_same_future(exported):
    from smartpay_marl.simulator import Simulator

    simulator = Simulator(GameConfig(transaction_log=str(exported["parquet"])), num_envs=16)
    simulator.reset(seed=9)
    rng = np.random.default_rng(1)
    router, fraudster = rng.integers(0, [3, 4, 2], size=(16, 3)), rng.integers(0, [5, 4, 4, 5], size=(16, 4))
    for _ in range(30):  # past the first chunk, so the branch must continue the log where the original is
        simulator.step(router, fraudster)
    twin = simulator.clone()
    for _ in range(40):
        a, b = simulator.step(router, fraudster), twin.step(router, fraudster)
        np.testing.assert_array_equal(a.router_obs, b.router_obs)
        np.testing.assert_array_equal(a.rewards, b.rewards)
    np.testing.assert_array_equal(simulator.log_cursor, twin.log_cursor)


def test_relative_paths_are_resolved_against_the_working_directory(exported, monkeypatch):
    monkeypatch.chdir(exported["csv"].parent)
    config = GameConfig(transaction_log="stream.csv")
    assert config.transaction_log == str(exported["csv"].resolve())
    assert os.path.isabs(make_game_config(**config.model_dump()).transaction_log)


# ----------------------------------------------------------------------------- absent columns
def test_absent_columns_are_filled_by_the_model_with_a_note(tmp_path):
    path = tmp_path / "minimal.csv"
    rng = np.random.default_rng(0)  # a second, larger file of the same layout, for an episode
    pq.write_table(pa.table({"amount": rng.uniform(1, 300, 400), "is_fraud": (rng.random(400) < 0.05).astype(int)}),
                   tmp_path / "minimal.parquet")  # fmt: skip
    path.write_text("amount,is_fraud\n12.5,0\n80,1\n")
    log = read_transaction_log(path)
    absent = {note.split("'")[1] for note in log.notes}
    assert absent == {c.name for c in SCHEMA if not c.required} - {"timestamp"}
    features, rows = log_features(log, GameConfig(), np.array([0, 1]))
    assert features[:, TX["segment"]].sum() == 2 and features[:, TX["merchant"]].sum() == 2
    assert 0.0 < features[1, TX["risk_score"].start] < 1.0
    with pytest.warns(AbsentColumnsWarning, match="absent columns filled by the generator's model: merchant_category"):
        config = GameConfig(transaction_log=str(tmp_path / "minimal.parquet"))
    assert _episode_digest(config, 1) == _episode_digest(config, 1)


# ----------------------------------------------------------------------------- validation
GOOD_HEADER = "amount,is_fraud,merchant_category,segment,card_bin"
GOOD_ROW = "10.0,0,grocery,existing,3"


def _bad_csv(tmp_path, body: str, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


BAD_LOGS = {
    "missing column": (f"amount,merchant_category\n10,grocery\n", 0, "'is_fraud'", "missing"),
    "mistyped column": (f"{GOOD_HEADER}\n{GOOD_ROW}\nten dollars,0,grocery,new,1\n", 2, "'amount'", "expected a number"),
    "NaN amount": (f"{GOOD_HEADER}\n{GOOD_ROW}\n{GOOD_ROW}\nNaN,0,grocery,new,1\n", 3, "'amount'", "NaN"),
    "negative amount": (f"{GOOD_HEADER}\n-5,0,grocery,new,1\n", 1, "'amount'", "negative"),
    "unknown category": (f"{GOOD_HEADER}\n{GOOD_ROW}\n10,0,casino,new,1\n", 2, "'merchant_category'", "unknown category 'casino'"),
    "label outside {0, 1}": (f"{GOOD_HEADER}\n{GOOD_ROW}\n10,2,grocery,new,1\n", 2, "'is_fraud'", "not a label in {0, 1}"),
    "header only": (f"{GOOD_HEADER}\n", 1, "-", "no rows"),
    "empty file": ("", 0, "-", "empty"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_every_validation_error_is_one_line_naming_file_row_and_column(tmp_path, case):
    body, row, column, what = BAD_LOGS[case]
    path = _bad_csv(tmp_path, body)
    with pytest.raises(TransactionLogError) as raised:
        read_transaction_log(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: row {row}, column {column}: "), message
    assert what in message


def test_parquet_errors_name_the_row_too(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"amount": [1.0, 2.0, float("nan")], "is_fraud": [0, 1, 0]}), path)
    with pytest.raises(TransactionLogError, match=r"bad\.parquet: row 3, column 'amount': NaN"):
        read_transaction_log(path)
    pq.write_table(pa.table({"amount": ["1", "x"], "is_fraud": [0, 1]}), path)
    with pytest.raises(TransactionLogError, match=r"row 2, column 'amount': expected a number"):
        read_transaction_log(path)


def test_training_never_starts_on_a_bad_log(tmp_path, capsys):
    log = _bad_csv(tmp_path, f"{GOOD_HEADER}\n{GOOD_ROW}\n-1,0,grocery,new,1\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"name: bad_log\niterations: 1\ngame:\n  transaction_log: {log}\n")
    output = tmp_path / "run"
    assert cli_main(["train", "--config", str(config), "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"smartpay-marl train: error: {log}: row 2, column 'amount': negative (-1); must be >= 0"
    assert not output.exists()


def test_baselines_and_game_configs_refuse_a_bad_log(tmp_path, capsys):
    log = _bad_csv(tmp_path, f"{GOOD_HEADER}\n10,0,grocery,new,12\n")
    assert cli_main(["baselines", "--episodes", "2", "--transaction-log", str(log)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"smartpay-marl baselines: error: {log}: row 1, column 'card_bin'")
    with pytest.raises(TransactionLogError, match="unknown category '12'"):
        make_game_config(transaction_log=str(log))
    game = tmp_path / "game.yaml"
    game.write_text(f"transaction_log: {log}\n")
    assert cli_main(["export-log", "--rows", "5", "--output", str(tmp_path / "x.csv"), "--game", str(game)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"smartpay-marl export-log: error: {log}: row 1")


def test_a_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(TransactionLogError) as raised:
        read_transaction_log(tmp_path / "any.csv")
    assert str(raised.value) == MISSING_EXTRA_MESSAGE and "'logs' extra" in MISSING_EXTRA_MESSAGE


# ----------------------------------------------------------------------------- mapping
IEEE_ROWS = textwrap.dedent(
    """\
    TransactionID,isFraud,TransactionDT,TransactionAmt,ProductCD,card4,card6,P_emaildomain,DeviceType
    2987000,0,86400,68.5,W,discover,credit,,
    2987001,0,86401,29.0,W,mastercard,credit,gmail.com,mobile
    2987002,1,90000,59.0,C,visa,debit,outlook.com,desktop
    2987003,0,133200,50.0,H,american express,credit,yahoo.com,mobile
    2987004,1,140000,49.0,S,,debit,gmail.com,
    2987005,0,200000,159.95,R,visa,credit,,desktop
    """
)


def test_the_ieee_cis_mapping_reads_that_layout_unedited(tmp_path):
    path = tmp_path / "train_transaction.csv"
    path.write_text(IEEE_ROWS)
    log = read_transaction_log(path, load_mapping(IEEE_MAPPING))
    np.testing.assert_allclose(log.amount, [68.5, 29.0, 59.0, 50.0, 49.0, 159.95])
    assert log.is_fraud.tolist() == [0, 0, 1, 0, 1, 0]
    merchants = [smartpay_marl.layout.MERCHANT_CATEGORIES[k] for k in log.merchant]
    assert merchants == ["fashion", "fashion", "digital", "travel", "gaming", "electronics"]
    assert log.card_bin.tolist() == [3, 1, 0, 2, 0, 0]  # the empty network takes the mapping's default (visa)
    assert log.flags["new_device"].tolist() == [0, 1, 0, 1, 0, 0]
    assert log.hour.tolist() == [0, 0, 1, 13, 14, 7]  # TransactionDT seconds -> hour of day
    assert any("segment" in note for note in log.notes)
    with pytest.warns(AbsentColumnsWarning, match="segment, tenure, geo_mismatch, international, card_velocity, risk_score"):
        config = GameConfig(transaction_log=str(path), transaction_log_mapping=str(IEEE_MAPPING), max_cycles=50)
    assert _episode_digest(config, 0) == _episode_digest(config, 0)


def test_a_mistyped_mapped_column_is_named_both_ways(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(IEEE_ROWS.replace("2987004,1,", "2987004,yes,"))
    with pytest.raises(TransactionLogError, match=r"t\.csv: row 5, column 'isFraud' \(schema column 'is_fraud'\): "
                                                  r"expected a number, got 'yes'"):  # fmt: skip
        read_transaction_log(path, load_mapping(IEEE_MAPPING))


def test_a_mapping_error_names_the_mapping_or_the_value(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  amount_usd: TransactionAmt\n")
    path = tmp_path / "t.csv"
    path.write_text(IEEE_ROWS.replace(",W,", ",Z,", 1))
    with pytest.raises(TransactionLogError, match=r"m\.yaml: row 0, column -: invalid mapping: .*amount_usd"):
        make_game_config(transaction_log=str(path), transaction_log_mapping=str(mapping))
    mapping.write_text("categories:\n  merchant_category: {W: casino}\n")
    with pytest.raises(TransactionLogError, match=r"categories\.merchant_category\.W: 'casino' is not one of digital"):
        load_mapping(mapping)
    with pytest.raises(TransactionLogError, match=r"row 1, column 'ProductCD' \(schema column 'merchant_category'\): unknown category 'Z'"):
        make_game_config(transaction_log=str(path), transaction_log_mapping=str(IEEE_MAPPING))


# ----------------------------------------------------------------------------- PettingZoo suite
def test_pettingzoo_api_suite_passes_with_a_log(exported):
    from pettingzoo.test import api_test, parallel_api_test, seed_test
    from pettingzoo.utils import parallel_to_aec

    log = str(exported["parquet"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # heterogeneous agents and MultiDiscrete actions: by design
        parallel_api_test(smartpay_marl.parallel_env(transaction_log=log), num_cycles=400)
        api_test(parallel_to_aec(smartpay_marl.parallel_env(transaction_log=log, max_cycles=150)), num_cycles=400)
        seed_test(lambda: smartpay_marl.env(transaction_log=log), num_cycles=300)


def test_the_docs_page_shows_the_schema_as_defined():
    from smartpay_marl.transaction_log import schema_markdown

    assert schema_markdown() in (REPO / "docs" / "transaction_logs.md").read_text()


def test_the_core_game_does_not_import_pyarrow():
    script = (
        "import sys, smartpay_marl; env = smartpay_marl.vector_env(4); env.reset(seed=0); "
        "print('pyarrow' in sys.modules, 'smartpay_marl.transaction_log' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.split() == ["False", "False"]
