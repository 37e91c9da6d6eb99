"""The compiled rules' packed columns are built from names, and the simulator fills the parameters by name."""

from __future__ import annotations

import pytest

from smartpay_marl import rules, simulator
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import AGENT_COLUMN, AGENT_OF_ROLE, AGENTS, OTHER_ROLE, ROLES, Role


def test_every_named_column_has_its_constant_at_its_position():
    for prefix, names in (("K_", rules.PARAMETERS), ("S_", rules.STATE_COLUMNS), ("PNL_", rules.PNL_TERMS),
                          ("M_", rules.METRIC_NAMES)):  # fmt: skip
        assert [getattr(rules, prefix + name.upper()) for name in names] == list(range(len(names)))
    assert rules.K_DIM == len(rules.PARAMETERS) and rules.S_DIM == len(rules.STATE_COLUMNS)


def test_a_constant_out_of_step_with_its_names_fails_at_import(monkeypatch):
    monkeypatch.setattr(rules, "K_MARGIN", 1)
    with pytest.raises(ValueError, match="rules.K_MARGIN must be 0"):
        rules._check_named("K_", rules.PARAMETERS)


def test_parameters_are_packed_by_name():
    config = GameConfig(review_delay=(10, 20))
    params = simulator.Simulator._pack_params(config)
    assert params.shape == (rules.K_DIM,)
    assert (params[rules.K_REVIEW_LOW], params[rules.K_REVIEW_HIGH]) == (10.0, 20.0)
    assert params[rules.K_MARGIN] == config.gross_margin


def test_packing_fails_when_parameter_values_is_out_of_step(monkeypatch):
    def missing_one(config):
        values = dict(original(config))
        del values["cashout"]
        return values

    original = simulator.parameter_values
    monkeypatch.setattr(simulator, "parameter_values", missing_one)
    with pytest.raises(RuntimeError, match=r"missing \['cashout'\]"):
        simulator.Simulator._pack_params(GameConfig())


def test_one_role_vocabulary():
    assert [role.value for role in Role] == list(ROLES)
    assert Role.ROUTER == "router" and {"router": 1}[Role.ROUTER] == 1  # a member is its plain name
    assert Role.ROUTER.opponent is Role.FRAUDSTER and Role.FRAUDSTER.agent == AGENT_OF_ROLE["fraudster"]
    assert OTHER_ROLE == {"router": "fraudster", "fraudster": "router"}
    assert [AGENT_COLUMN[agent] for agent in AGENTS] == [0, 1]
