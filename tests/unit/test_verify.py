"""`auth.verify` with an injected clock."""

import jwt
import pytest

from auth import InvalidToken, MissingToken, Principal, VerificationKeys, verify

SECRET = "k" * 64
NOW = 1_800_000_000.0
KEYS = VerificationKeys(
    algorithms=("HS256",), hmac_secret=SECRET, public_key=None, audience=None, issuer=None,
    user_claim="sub", department_claim="department",
)


def token(**claims: object) -> str:
    return jwt.encode({"exp": NOW + 60, **claims}, SECRET, algorithm="HS256")


def test_principal_and_rooms() -> None:
    principal = verify(token(sub="42", department="A"), KEYS, NOW)
    assert principal == Principal("42", "A", NOW + 60)
    assert principal.rooms == ("user:42", "department:A")
    assert verify(token(sub=7), KEYS, NOW).rooms == ("user:7",)


def test_expiry_uses_the_given_clock() -> None:
    signed = token(sub="42")
    assert verify(signed, KEYS, NOW + 59.9).expires_at == NOW + 60
    with pytest.raises(InvalidToken) as raised:
        verify(signed, KEYS, NOW + 60)
    assert raised.value.reason == "expired" and raised.value.message == "Invalid token"


def test_not_before_is_honoured() -> None:
    with pytest.raises(InvalidToken):
        verify(token(sub="42", nbf=NOW + 10), KEYS, NOW)


def test_configured_claim_names() -> None:
    keys = VerificationKeys(**{
        "algorithms": ("HS256",), "hmac_secret": SECRET, "public_key": None, "audience": None,
        "issuer": None, "user_claim": "uid", "department_claim": "org",
    })
    assert verify(token(uid="u1", org="ops"), keys, NOW).rooms == ("user:u1", "department:ops")
    with pytest.raises(InvalidToken):
        verify(token(sub="42"), keys, NOW)


@pytest.mark.parametrize("value", [None, ""])
def test_missing_token(value: object) -> None:
    with pytest.raises(MissingToken) as raised:
        verify(value, KEYS, NOW)
    assert raised.value.message == "Authentication failed"


@pytest.mark.parametrize(
    "claims", [{"sub": True}, {"sub": ["42"]}, {"sub": "42", "department": {"x": 1}},
               {"sub": "a\nb"}, {"sub": "42", "exp": "tomorrow"}]
)
def test_ill_typed_claims_are_invalid(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        verify(token(**claims), KEYS, NOW)
