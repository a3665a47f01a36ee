"""GATEWAY_LOCAL_MODE: the demo page's switch (scripts/run sets it; deployments never do)."""

import pytest

from config import SettingsError, load_settings

BASE = {"JWT_SECRET": "s" * 40}


def test_local_mode_is_off_unless_asked() -> None:
    assert load_settings(BASE).server.local_mode is False
    assert load_settings({**BASE, "GATEWAY_LOCAL_MODE": "false"}).server.local_mode is False
    assert load_settings({**BASE, "GATEWAY_LOCAL_MODE": "true"}).server.local_mode is True


def test_a_bad_local_mode_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_LOCAL_MODE"):
        load_settings({**BASE, "GATEWAY_LOCAL_MODE": "sometimes"})


def test_the_helm_chart_cannot_turn_local_mode_on() -> None:
    from tests.deploy.test_chart_schema import _errors, _with

    assert _errors(_with("gateway.localMode", False)) == []
    assert _errors(_with("gateway.localMode", True))
    assert _errors(_with("gateway.localMode", "false"))
