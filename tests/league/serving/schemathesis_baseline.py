"""Schemathesis hooks for this API: the baseline of failures accepted, each with the reason.

Load it with ``SCHEMATHESIS_HOOKS=tests.league.serving.schemathesis_baseline`` (and the repository
root on ``PYTHONPATH``); the schema-fuzz test and ``experiments/serve/fuzz.sh`` both do. The run's
summary counts the failures dropped here, so none is hidden.

It also serialises ``ast.parse`` (see :func:`_parse_one_at_a_time`): a workaround for the runner, not for
the API.

Accepted, and why:

- ``positive_data_acceptance`` on ``POST /sessions`` answered 422 because of one of the two relations
  between config fields that GameConfig checks and that a JSON Schema cannot state (it has no way to
  compare two values of a request): ``low <= high`` of ``chargeback_delay`` and ``review_delay``, and
  ``max(intensity_levels) <= 1 - customer_arrival_rate``; and one sum, ``sum(lookalike_share) <= 1`` (each
  share's range is in the schema, their sum cannot be). Every other bound GameConfig enforces is in the
  schema. Only a 422 whose message names one of these relations is dropped.
- The same on ``POST /sessions`` for a third relation, between the opponent and the config: a scripted
  ring that plays fixed level indices (``stealth_fraud`` plays intensity 2, ``max_everything`` the top
  level, ...) cannot play a config whose level lists are shorter than that. The schema would have to tie
  each scripted name to minimum list lengths; the 422 names ``opponent.name`` and the levels.
"""

from __future__ import annotations

import ast
import atexit
import json
import sys
import threading
from collections import Counter

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

#: The messages of GameConfig's cross-field checks (smartpay_marl/config.py) and of the opponent-levels check
#: (league/serving/opponents.py); nothing else is accepted.
CROSS_FIELD_RULES = (
    "chargeback_delay must satisfy 1 <= low <= high",
    "review_delay must satisfy 1 <= low <= high",
    "intensity_levels must not exceed the idle share",
    "lookalike_share values must lie in [0, 1] and sum to at most 1",
    "cannot play this session's levels",
)


#: Failures dropped, by the rule their message names; printed when the run ends.
DROPPED: Counter[str] = Counter()


def accepted_rule(operation: str, failure_kind: str, status: int, detail: str) -> str | None:
    """The rule of :data:`CROSS_FIELD_RULES` that makes a failure one the baseline accepts, or None."""
    if operation != "POST /sessions" or failure_kind != "RejectedPositiveData" or status != 422:
        return None
    return next((rule for rule in CROSS_FIELD_RULES if rule in detail), None)


def is_accepted(operation: str, failure_kind: str, status: int, detail: str) -> bool:
    """Whether a failure is one the baseline accepts (see the module docstring)."""
    return accepted_rule(operation, failure_kind, status, detail) is not None


@atexit.register
def _report_dropped() -> None:
    if DROPPED:
        counts = "; ".join(f"{count} x {rule!r}" for rule, count in DROPPED.most_common())
        print(f"baseline (tests/league/serving/schemathesis_baseline.py) dropped: {counts}", file=sys.stderr)


_AST_LOCK = threading.Lock()
_ast_parse = ast.parse


def _parse_one_at_a_time(*args, **kwargs):
    # With --workers 2, Hypothesis (describing a lambda of Schemathesis' generators) runs ast.parse in two
    # threads at once, and CPython 3.11's parser is not safe for that: it raises "SystemError: AST
    # constructor recursion depth mismatch", which Schemathesis reports as a runtime error of the run.
    with _AST_LOCK:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except those :func:`is_accepted` names."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    try:
        detail = json.loads(response.content).get("detail", "")
    except (ValueError, AttributeError):
        return True
    operation = f"{case.method.upper()} {case.operation.path}"
    with _AST_LOCK:  # any lock will do for the counter; hooks run in the worker threads
        rule = accepted_rule(operation, type(failure).__name__, response.status_code, str(detail))
        if rule is not None:
            DROPPED[rule] += 1
    return rule is None
