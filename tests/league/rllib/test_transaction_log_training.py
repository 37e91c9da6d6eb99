"""Training and evaluation on a replayed transaction log, with an RLlib env-runner process loading it.

Starts a real local Ray instance and runs one small PPO iteration (num_env_runners 1), with the log
named by a path relative to the working directory: the worker must find it all the same.
"""

from pathlib import Path

import pytest
import yaml

pytest.importorskip("pyarrow")

from league.cli import main as cli_main  # noqa: E402
from smartpay_marl.log_export import export_log  # noqa: E402

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[3]


def test_train_and_evaluate_with_a_relative_log_path(tmp_path, monkeypatch, capsys):
    export_log(tmp_path / "customers.parquet", 2000, seed=1)
    smoke = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())
    smoke.update(name="log_smoke", iterations=1, eval_every=1, eval_episodes=4, checkpoint_every=1)
    smoke["game"]["transaction_log"] = "customers.parquet"  # relative to the working directory
    smoke["resources"]["num_env_runners"] = 1  # a separate env-runner process loads the log
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(smoke))
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", "--config", "run.yaml", "--output", "run", "--quiet"]) == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["game"]["transaction_log"] == str(tmp_path / "customers.parquet")  # absolute for every process

    monkeypatch.chdir(REPO)  # a later command from elsewhere still finds the log
    code = cli_main(["evaluate", str(tmp_path / "run"), "--episodes", "4", "--max-snapshots", "1", "--quiet",
                     "--output", str(tmp_path / "eval")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert any((tmp_path / "eval").iterdir())
