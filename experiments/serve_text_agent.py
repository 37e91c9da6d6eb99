"""A text-reading router agent playing on the game server: the loop a language-model agent would run.

Each step the agent gets the prompt a model would get (the rules in brief, the
readable view as text, the answer format), "asks the model", parses the answer
into a :class:`~smartpay_marl.models.RouterAction`, optionally checks it with
a what-if (planning with the server's exact model), and plays it. No model is
downloaded: :func:`rule_model` stands in for one. It reads only the prompt
text, as a model would, and answers in the requested JSON format. Swap it for
a call to any chat model (``ask(prompt) -> str``) to play a real one; answers
that do not parse fall back to a safe action and are counted.

Run against a server started with ``smartpay-marl serve``::

    python experiments/serve_text_agent.py --url http://127.0.0.1:8000 --episodes 3 --opponent stealth_fraud
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from smartpay_marl.client import GameClient
from smartpay_marl.models import RouterAction

RULES = """You are a payment router. For the next payment choose a gateway (0 economy, 1 standard, 2 premium),
a decision (allow, block, 3ds, review) and whether to fail over to the next gateway on a decline.
Fraud costs the amount plus a $15 dispute fee; 3-D Secure costs $0.10 and some customers abandon it;
a review costs $5. Answer with one JSON object: {"gateway": int, "decision": str, "retry": bool}."""

SAFE_ACTION = RouterAction(gateway=2, decision="allow", retry=True)


def build_prompt(reply: dict) -> str:
    """What a language model would be sent for this step."""
    return f"{RULES}\n\nSituation:\n{reply['text']}\n\nYour answer:"


def rule_model(prompt: str) -> str:
    """A stand-in for a language model: reads the situation text and answers in the requested JSON.

    The rule: route to the gateway with the best lagged success rate that is not degraded; send risky or
    fast-moving cards to 3-D Secure, block the very risky, allow the rest, always fail over.
    """
    gateways = re.findall(r"g(\d) ([0-9.]+) (normal|degraded|recovering)", prompt)
    healthy = [(float(rate), int(g)) for g, rate, status in gateways if status != "degraded"] or [(0.0, 2)]
    gateway = max(healthy)[1]
    risk_match = re.search(r"risk ([0-9.]+), velocity ([0-9.]+)", prompt)
    decision = "allow"
    if risk_match:
        risk, velocity = float(risk_match.group(1)), float(risk_match.group(2))
        if risk > 0.8:
            decision = "block"
        elif risk > 0.35 or velocity >= 4.0:
            decision = "3ds"
    return json.dumps({"gateway": gateway, "decision": decision, "retry": True})


def parse_answer(answer: str) -> RouterAction | None:
    """The first JSON object in a model's answer as a RouterAction; None when it is not one."""
    match = re.search(r"\{.*?\}", answer, flags=re.DOTALL)
    if not match:
        return None
    try:
        return RouterAction.model_validate(json.loads(match.group(0)))
    except (ValueError, ValidationError):
        return None


@dataclass
class EpisodeSummary:
    seed: int
    steps: int
    router_return: float
    profit: float
    decisions: dict[str, int] = field(default_factory=dict)
    unparsed_answers: int = 0


def play_episode(
    client: GameClient,
    ask: Callable[[str], str] = rule_model,
    opponent: str | dict = "stealth_fraud",
    seed: int | None = None,
    check_with_what_if: bool = False,
    **config,
) -> EpisodeSummary:
    """Play one episode as the router with ``ask`` choosing every action from the text view."""
    reply = client.reset(role="router", opponent=opponent, seed=seed, **config)
    decisions: dict[str, int] = {}
    unparsed = 0
    while not reply["done"]:
        action = parse_answer(ask(build_prompt(reply)))
        if action is None:
            unparsed += 1
            action = SAFE_ACTION
        if check_with_what_if and action.decision == "allow" and reply["view"]["transaction"]:
            # Planning with the true model: a what-if is the exact outcome (issuer and gateway draws included),
            # so this peeks at the future. Useful for analysis; not a fair way to score an agent.
            outcome = client.simulate(action)
            if not outcome["metrics"]["captured"] and not outcome["metrics"]["is_fraud"]:
                action = action.model_copy(update={"gateway": (action.gateway + 1) % 3})
        decisions[action.decision] = decisions.get(action.decision, 0) + 1
        reply = client.step(action)
    client.close()
    return EpisodeSummary(
        seed=reply["seed"],
        steps=reply["step"],
        router_return=reply["episode_return"]["router_0"],
        profit=reply["view"]["episode_profit"],
        decisions=decisions,
        unparsed_answers=unparsed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--opponent", default="stealth_fraud", help="a scripted fraudster (GET /info lists them)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; the next ones count up")
    parser.add_argument("--max-cycles", type=int, default=200)
    parser.add_argument("--what-if", action="store_true",
                        help="check each 'allow' with a what-if first (peeks at the exact outcome)")  # fmt: skip
    args = parser.parse_args(argv)
    with GameClient(args.url) as client:
        for episode in range(args.episodes):
            summary = play_episode(client, opponent=args.opponent, seed=args.seed + episode,
                                   check_with_what_if=args.what_if, max_cycles=args.max_cycles)  # fmt: skip
            print(
                f"episode {episode}: seed {summary.seed}, {summary.steps} steps, router return "
                f"{summary.router_return:+.2f}, profit ${summary.profit:,.2f}, decisions {summary.decisions}, "
                f"unparsed answers {summary.unparsed_answers}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
