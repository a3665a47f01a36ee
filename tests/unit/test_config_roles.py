"""GATEWAY_ROLE and the precedence settings: defaults, parsing, and refusals that name
the variable (and stop `python -m gateway` with exit status 2 and one line)."""

import pytest

from config import Role, SettingsError, load_settings
from tests.support.gateway import run_module

BASE = {"JWT_SECRET": "s" * 40}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.role is Role.ALL
    assert settings.role.consumes and settings.role.holds_clients
    assert settings.consumers.min_share == 0.125
    assert settings.consumers.precedence_linger_ms == 100


@pytest.mark.parametrize(
    ("value", "role", "consumes", "holds_clients"),
    [("all", Role.ALL, True, True), ("consumer", Role.CONSUMER, True, False),
     ("Edge", Role.EDGE, False, True)],
)
def test_roles(value: str, role: Role, consumes: bool, holds_clients: bool) -> None:
    settings = load_settings({**BASE, "GATEWAY_ROLE": value})
    assert settings.role is role
    assert (settings.role.consumes, settings.role.holds_clients) == (consumes, holds_clients)


def test_precedence_settings_are_parsed() -> None:
    settings = load_settings({
        **BASE, "GATEWAY_QUEUE_MIN_SHARE": "0.5", "GATEWAY_QUEUE_PRECEDENCE_LINGER_MS": "0",
    })
    assert settings.consumers.min_share == 0.5
    assert settings.consumers.precedence_linger_ms == 0
    assert load_settings({**BASE, "GATEWAY_QUEUE_MIN_SHARE": "1"}).consumers.min_share == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_ROLE", "worker"),
        ("GATEWAY_QUEUE_MIN_SHARE", "0"),
        ("GATEWAY_QUEUE_MIN_SHARE", "1.5"),
        ("GATEWAY_QUEUE_MIN_SHARE", "half"),
        ("GATEWAY_QUEUE_MIN_SHARE", "nan"),
        ("GATEWAY_QUEUE_PRECEDENCE_LINGER_MS", "-5"),
        ("GATEWAY_QUEUE_PRECEDENCE_LINGER_MS", "0.5"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({**BASE, variable: value})


def test_a_bad_role_stops_the_pod_with_one_line() -> None:
    result = run_module({**BASE, "GATEWAY_ROLE": "worker"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gateway: invalid setting GATEWAY_ROLE: expected one of all, consumer, edge,"
        " got 'worker'"
    ]
