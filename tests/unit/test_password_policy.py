"""A refused password names each rule it breaks, so the person choosing it knows what to fix."""

from __future__ import annotations

import pytest

from services.identity.passwords.policy import check_strength, strength_problems
from shared.errors import InvalidArgument

EMAIL = "marguerite@example.com"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt!", "too short"),
        ("alllowercaseletters", "too simple"),
        ("Password1", "too short"),
        ("correcthorsebatterystaple", "too common"),
        ("Marguerite-Sailing-2026", "contains the email"),
    ],
)
def test_each_refusal_names_its_rule(password: str, rule: str) -> None:
    problems = strength_problems(password, EMAIL, 12)
    assert any(problem.startswith(f"{rule}:") for problem in problems), problems


def test_a_strong_password_breaks_no_rule() -> None:
    assert strength_problems("Quiet-Lagoon-Sailing-77", EMAIL, 12) == []


def test_every_broken_rule_is_a_violation_of_the_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_strength("password", EMAIL, 12, "password")
    descriptions = [v.description for v in refused.value.violations]
    assert {d.split(":", 1)[0] for d in descriptions} == {"too short", "too simple", "too common"}
    assert all(v.field == "password" for v in refused.value.violations)
