"""Subcommands whose extra is missing stop with one line naming it; the extras match pyproject.toml."""

import sys
import tomllib
from pathlib import Path

import pytest

from league import cli

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pretend_missing(monkeypatch, *names):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in names else real(name, *a))


def test_a_missing_extra_is_named_in_one_line(monkeypatch, capsys):
    _pretend_missing(monkeypatch, "ray", "torch")
    assert cli.main(["train", "--config", "configs/quickstart.yaml"]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == (
        "smartpay-marl train: error: needs ray, torch, not installed; "
        "install the 'league' extra: pip install 'smartpay-marl[league]'\n"
    )


def test_serve_names_its_own_extra(monkeypatch, capsys):
    _pretend_missing(monkeypatch, "uvicorn")
    assert cli.main(["serve"]) == cli.EXIT_USER_ERROR
    assert "needs uvicorn, not installed; install the 'serve' extra: pip install 'smartpay-marl[serve]'" in capsys.readouterr().err


def test_help_works_without_the_extra(monkeypatch, capsys):
    _pretend_missing(monkeypatch, "ray", "torch", "scipy", "matplotlib", "fastapi", "uvicorn")
    for command in cli.COMMAND_NEEDS:
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
        assert f"usage: smartpay-marl {command}" in capsys.readouterr().out


def test_a_core_command_runs_whatever_is_missing(monkeypatch, capsys):
    _pretend_missing(monkeypatch, "ray", "torch", "scipy", "matplotlib", "fastapi", "uvicorn")
    assert cli.main(["demo", "--steps", "1"]) == 0


def test_an_extra_module_missing_at_run_time_gets_the_same_line(monkeypatch, capsys):
    # E.g. a learned opponent needing torch, met while a subcommand runs.
    import smartpay_marl.demo

    def needs_torch(args):
        raise ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn")

    monkeypatch.setattr(smartpay_marl.demo, "main", needs_torch)
    assert cli.main(["demo"]) == cli.EXIT_USER_ERROR
    assert capsys.readouterr().err == (
        "smartpay-marl demo: error: needs torch, not installed; "
        "install the 'league' extra: pip install 'smartpay-marl[league]'\n"
    )


def test_other_missing_modules_stay_unexpected_errors(monkeypatch, capsys):
    import smartpay_marl.demo

    def broken(args):
        raise ModuleNotFoundError("No module named 'nonexistent'", name="nonexistent")

    monkeypatch.setattr(smartpay_marl.demo, "main", broken)
    assert cli.main(["demo"]) == cli.EXIT_FAILURE
    assert "ModuleNotFoundError" in capsys.readouterr().err


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower()


def test_cli_extras_match_pyproject():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project["optional-dependencies"]
    # The import name of each distribution the CLI checks for.
    distribution = {"ray": "ray", "torch": "torch", "scipy": "scipy", "matplotlib": "matplotlib",
                    "fastapi": "fastapi", "uvicorn": "uvicorn", "pyarrow": "pyarrow"}  # fmt: skip
    for extra, modules in cli.EXTRAS.items():
        names = {_requirement_name(r) for r in extras[extra]}
        assert {distribution[m] for m in modules} <= names, extra
    for command, (extra, modules) in cli.COMMAND_NEEDS.items():
        assert command in cli.SUBCOMMANDS and set(modules) <= set(cli.EXTRAS[extra]), command
    core = {_requirement_name(r) for r in project["dependencies"]}
    assert core == {"numpy", "numba", "pydantic", "pettingzoo", "gymnasium", "pyyaml"}
    assert "smartpay-marl[league,serve,docs,logs]" in extras["dev"]


def test_game_and_scripted_players_import_nothing_heavy():
    # scipy is left out here: numba itself imports it when it is installed (the core-install test checks the rest).
    import subprocess

    code = (
        "import sys, smartpay_marl, smartpay_marl.demo, smartpay_marl.bench, smartpay_marl.wrappers, agents, "
        "agents.baselines, agents.registry, league.cli; "
        "print(sorted(m for m in ('ray', 'torch', 'matplotlib', 'fastapi', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
