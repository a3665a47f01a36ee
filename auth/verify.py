"""Verify a bearer token against the configured keys at a given time.

`now` is passed in (not read from the clock) so expiry is testable; PyJWT's own
expiry check is turned off for that reason and done here, with no leeway.
"""

from typing import Any

import jwt

from auth.errors import InvalidToken, MissingToken
from auth.keys import VerificationKeys
from auth.principal import Principal

MAX_TOKEN_LENGTH = 8192
_CLAIM_TYPES = (str, int)


def verify(token: object, keys: VerificationKeys, now: float) -> Principal:
    if token is None or token == "":
        raise MissingToken()
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed")
    claims = _decode(token, keys)
    expires_at = _expiry(claims, now)
    if not isinstance(claims.get("nbf", 0), int | float) or claims.get("nbf", 0) > now:
        raise InvalidToken("not_yet_valid")
    return Principal(
        user_id=_claim(claims, keys.user_claim, required=True) or "",
        department=_claim(claims, keys.department_claim, required=False),
        expires_at=expires_at,
    )


def _decode(token: str, keys: VerificationKeys) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in keys.algorithms:
        raise InvalidToken("algorithm")
    key = keys.key_for(algorithm)
    if key is None:
        raise InvalidToken("algorithm")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=keys.audience,
            issuer=keys.issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                # Numeric user ids in `sub` are common; _claim() checks the type instead.
                "verify_sub": False,
                "verify_jti": False,
                "verify_aud": keys.audience is not None,
                "verify_iss": keys.issuer is not None,
                "require": ["exp"],
            },
        )
    except jwt.InvalidAudienceError:
        raise InvalidToken("audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("issuer") from None
    except jwt.MissingRequiredClaimError as error:
        raise InvalidToken(f"missing_{error.claim}") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("signature") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise InvalidToken("malformed") from None
    if not isinstance(claims, dict):
        raise InvalidToken("malformed")
    return claims


def _expiry(claims: dict[str, Any], now: float) -> float:
    expires_at = claims.get("exp")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise InvalidToken("malformed")
    if expires_at <= now:
        raise InvalidToken("expired")
    return float(expires_at)


def _claim(claims: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        if required:
            raise InvalidToken(f"missing_{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, _CLAIM_TYPES):
        raise InvalidToken(f"malformed_{name}")
    text = str(value)
    if len(text) > 256 or not text.isprintable():
        raise InvalidToken(f"malformed_{name}")
    return text
