"""The transaction stream: an informative but imperfect risk score, realistic spend, layout agreement."""

import numpy as np
from scipy.stats import mannwhitneyu

import smartpay_marl
from smartpay_marl import layout, rules
from smartpay_marl.layout import FRAUDSTER, ROUTER


def test_risk_score_is_informative_but_imperfect_on_neutral_traffic():
    env = smartpay_marl.vector_env(1024, difficulty="medium")
    obs, _ = env.reset(seed=0)
    risk, fraud, present = [], [], []
    actions = {ROUTER: np.zeros((1024, 3), int), FRAUDSTER: np.zeros((1024, 4), int)}
    for _ in range(200):
        risk.append(obs[ROUTER][:, layout.TX["risk_score"].start].copy())
        obs, _, _, _, info = env.step(actions)
        fraud.append(info["metrics"]["is_fraud"].astype(bool))
        present.append(info["metrics"]["payment_present"].astype(bool))
    risk, fraud, present = np.concatenate(risk), np.concatenate(fraud), np.concatenate(present)
    risk, fraud = risk[present], fraud[present]
    auc = mannwhitneyu(risk[fraud], risk[~fraud]).statistic / (fraud.sum() * (~fraud).sum())
    assert 0.85 < auc < 0.93  # README: ROC-AUC about 0.89 on neutral traffic


def test_spend_is_log_normal_with_a_realistic_median():
    env = smartpay_marl.vector_env(512)
    env.reset(seed=0)
    amounts = []
    for _ in range(50):
        _, _, _, _, info = env.step({ROUTER: np.zeros((512, 3), int), FRAUDSTER: np.zeros((512, 4), int)})
        m = info["metrics"]
        amounts.append(m["amount"][m["payment_present"].astype(bool) & ~m["is_fraud"].astype(bool)])
    amounts = np.concatenate(amounts)
    assert 30 < np.median(amounts) < 90
    assert amounts.min() > 0


def test_compiled_rules_agree_with_the_layout():
    assert rules.TX_DIM == layout.TX_DIM
    assert rules.OBS_HOUR == layout.ROUTER_OBS["hour"].start
    assert rules.OBS_HEALTH == layout.ROUTER_OBS["health_rate"].start
    assert rules.OBS_HISTORY == layout.ROUTER_OBS["failure_streak"].start
    assert layout.ROUTER_OBS["progress"].stop == layout.ROUTER_OBS_DIM
    assert layout.FRAUDSTER_OBS["validated_cards"].start == 9
    assert layout.FRAUDSTER_OBS["progress"].start == 12 == layout.FRAUDSTER_OBS_DIM - 1
    assert rules.TX_PAYMENT == layout.TX_PAYMENT == layout.TX["payment"].start
    assert [layout.TX_AMOUNT, layout.TX_RISK, layout.TX_VELOCITY] == [
        layout.TX["amount"].start, layout.TX["risk_score"].start, layout.TX["velocity"].start
    ]
    assert len(rules.PNL_TERMS) == 8 and len(rules.METRIC_NAMES) == rules.M_PAYMENT_PRESENT + 1
