"""Verify a bearer token against the configured keys at a given time.

`now` is passed in (not read from the clock) so expiry is testable; PyJWT's own
expiry check is turned off for that reason and done here, with no leeway.
"""

import math
from typing import Any

import jwt

from auth.errors import InvalidToken, MissingToken
from auth.keys import VerificationKeys
from auth.principal import Principal

MAX_TOKEN_LENGTH = 8192
_CLAIM_TYPES = (str, int)
# Whatever PyJWT or the JSON parser may raise on a hostile token. RecursionError: a
# JSON bomb (PyJWT < 2.14 lets it through from the header, < 2.15 from the payload).
# InvalidKeyError: the configured key does not fit the token's (allowed) algorithm.
_DECODE_ERRORS = (jwt.PyJWTError, ValueError, TypeError, RecursionError)


def verify(token: object, keys: VerificationKeys, now: float) -> Principal:
    if token is None or token == "":
        raise MissingToken()
    # A compact JWS is base64url and dots: anything else (lone surrogates from a header
    # aiohttp decoded with surrogateescape, say) is malformed before PyJWT sees it.
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("malformed")
    claims = _decode(token, keys)
    expires_at = _expiry(claims, now)
    not_before = _numeric_date(claims.get("nbf", 0))
    if not_before is None or not_before > now:
        raise InvalidToken("not_yet_valid")
    return Principal(
        user_id=_claim(claims, keys.user_claim, required=True) or "",
        department=_claim(claims, keys.department_claim, required=False),
        expires_at=expires_at,
    )


def _decode(token: str, keys: VerificationKeys) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except _DECODE_ERRORS:
        raise InvalidToken("malformed") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in keys.algorithms:
        raise InvalidToken("algorithm")
    key = keys.key_for(algorithm)
    if key is None:
        raise InvalidToken("algorithm")
    claims = _verified_claims(token, key, algorithm, keys)
    if not isinstance(claims, dict):
        raise InvalidToken("malformed")
    return claims


def _verified_claims(token: str, key: str, algorithm: str, keys: VerificationKeys) -> Any:
    try:
        return jwt.decode(
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
    except jwt.InvalidKeyError:
        # The configured key does not fit this (allowed) algorithm: a set-up error that
        # any client can trigger by choosing the alg; its own label tells operators.
        raise InvalidToken("key") from None
    except _DECODE_ERRORS:
        raise InvalidToken("malformed") from None


def _expiry(claims: dict[str, Any], now: float) -> float:
    expires_at = _numeric_date(claims.get("exp"))
    if expires_at is None:
        raise InvalidToken("malformed")
    if expires_at <= now:
        raise InvalidToken("expired")
    return expires_at


def _numeric_date(value: object) -> float | None:
    """RFC 7519 NumericDate: a JSON number. Not a boolean, and not NaN, Infinity or an
    integer too large for a float, which Python's JSON parser lets through."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _claim(claims: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        if required:
            raise InvalidToken(f"missing_{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, _CLAIM_TYPES):
        raise InvalidToken(f"malformed_{name}")
    text = str(value)
    # The room grammar of jobs (jobformat/decode.py) has no spaces and no leading ":";
    # a claim outside it would connect a socket no notification can ever reach.
    if len(text) > 256 or not text.isprintable() or " " in text or text.startswith(":"):
        raise InvalidToken(f"malformed_{name}")
    return text
