"""`make proof`: the security promises of SECURITY.md as figures, measured on a real stack.

Each suite (`proof.idor`, `proof.canaries`, `proof.fuzz`, `proof.drill`, `proof.load`,
`proof.faults`, `proof.backlog`) has a
`run(*, short: bool) -> list[dict]` returning rows
{suite, figure, value, expected, held}. `python -m proof` runs them at full size
against throwaway PostgreSQL and Redis and writes var/proof.json and the README's
figures block; tests/proof/ runs each with `short=True` inside `make test`.
"""

from __future__ import annotations


def figure(suite: str, name: str, value, expected: str, held: bool) -> dict:
    return {"suite": suite, "figure": name, "value": value, "expected": expected, "held": held}


def zero(suite: str, name: str, value: int) -> dict:
    """A count that must be zero (unauthorised successes, crashes, canary hits)."""
    return figure(suite, name, value, "0", value == 0)


def count(suite: str, name: str, value: int, at_least: int = 1) -> dict:
    """How much was tried: a suite that tried nothing proves nothing."""
    return figure(suite, name, value, f">= {at_least:,}", value >= at_least)
