"""Key material, token forging and the reference verdict for the token fuzz tests.

Tokens are assembled by hand (not with `jwt.encode`) so that anything can be put in
them: headers and payloads that are not objects, NaN, JSON bombs, bad padding, any
`alg`, HMAC signatures made with the RSA public key.
"""

import base64
import hashlib
import hmac
import itertools
import json
import math
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms

from auth import InvalidToken, MissingToken, Principal, VerificationKeys, keys_from_settings
from auth.verify import MAX_TOKEN_LENGTH
from config import load_settings

NOW = 1_800_000_000.0
SECRET = "fuzz-hmac-secret-" + "s" * 48
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
PUBLIC_DER = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
AUDIENCE = "gateway"
ISSUER = "https://idp.example"
# Every case variant of "none": none of them may ever be accepted.
ALG_NONE_VARIANTS = tuple(sorted({"".join(c) for c in itertools.product("nN", "oO", "nN", "eE")}))
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_PYJWT_ALGORITHMS = get_default_algorithms()


def keys(**env: str) -> VerificationKeys:
    """Verification keys built the way the gateway builds them: from the environment
    (connection recovery off: with a public key alone it would need a secret of its own)."""
    return keys_from_settings(load_settings({"GATEWAY_RECOVERY_SECONDS": "0", **env}).auth)


CONFIGS: dict[str, VerificationKeys] = {
    "HS256": keys(JWT_SECRET=SECRET),
    "RS256": keys(JWT_PUBLIC_KEY=PUBLIC_PEM, JWT_ALGORITHMS="RS256"),
    "HS256+RS256": keys(
        JWT_SECRET=SECRET, JWT_PUBLIC_KEY=PUBLIC_PEM, JWT_ALGORITHMS="HS256,RS256"
    ),
    "HS384+HS512 aud iss uid org": keys(
        JWT_SECRET=SECRET,
        JWT_ALGORITHMS="HS384,HS512",
        JWT_AUDIENCE=AUDIENCE,
        JWT_ISSUER=ISSUER,
        JWT_USER_CLAIM="uid",
        JWT_DEPARTMENT_CLAIM="org",
    ),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_signature(alg: str, signing_input: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input, _HMAC_HASHES.get(alg, hashlib.sha256)).digest()


def genuine_signature(alg: str, signing_input: bytes) -> bytes:
    """What the real issuer (holder of SECRET / RSA_KEY) would sign for `alg`."""
    if alg in _HMAC_HASHES:
        return hmac_signature(alg, signing_input, SECRET.encode())
    if alg in _PYJWT_ALGORITHMS and alg.startswith(("RS", "PS")):
        return bytes(_PYJWT_ALGORITHMS[alg].sign(signing_input, RSA_KEY))
    return b""


def assemble(header: bytes, payload: bytes, sign: bool = True) -> str:
    """A compact JWS of these exact header and payload bytes, genuinely signed for the
    header's `alg` when `sign` (and the alg is one the issuer has a key for)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    alg = _alg_of(header)
    signature = genuine_signature(alg, signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def signed(claims: dict[str, Any], alg: str = "HS256", **header: Any) -> str:
    header_bytes = json.dumps({"alg": alg, "typ": "JWT", **header}).encode()
    return assemble(header_bytes, json.dumps(claims).encode())


def bomb(depth: int, kind: str = "[") -> bytes:
    """Nested JSON `depth` levels deep: `[[[...]]]` or `{"a":{"a":...}}`."""
    if kind == "[":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _alg_of(header: bytes) -> str:
    try:
        value = json.loads(header)
    except (ValueError, RecursionError):
        return ""
    alg = value.get("alg") if isinstance(value, dict) else None
    return alg if isinstance(alg, str) else ""


# --- The reference verdict (CONTRACT §4, README "Browsers and other Socket.IO clients") ---


def expected_principal(
    claims: object, keys: VerificationKeys, token_length: int
) -> Principal | None:
    """The Principal a genuinely signed token with these claims must give, or None
    when it must be refused with `Invalid token`."""
    if token_length > MAX_TOKEN_LENGTH or not isinstance(claims, dict):
        return None
    expires_at = _numeric_date(claims.get("exp"))
    if expires_at is None or expires_at <= NOW:
        return None
    if "nbf" in claims:
        not_before = _numeric_date(claims["nbf"])
        if not_before is None or not_before > NOW:
            return None
    if not _audience_and_issuer_match(claims, keys):
        return None
    user = _room_claim(claims.get(keys.user_claim))
    department_value = claims.get(keys.department_claim)
    department = None if department_value in (None, "") else _room_claim(department_value)
    if user is None or (department is None and department_value not in (None, "")):
        return None
    return Principal(user, department, expires_at)


def _numeric_date(value: object) -> float | None:
    """RFC 7519 NumericDate: a JSON number (not a boolean, not NaN or infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _audience_and_issuer_match(claims: dict[str, Any], keys: VerificationKeys) -> bool:
    if keys.audience is not None:
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or keys.audience not in audiences:
            return False
        if not all(isinstance(entry, str) for entry in audiences):
            return False
    return keys.issuer is None or claims.get("iss") == keys.issuer


def _room_claim(value: object) -> str | None:
    if value in (None, "") or isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    # Within the room grammar of jobs: no spaces, no leading ":" (finding F5).
    addressable = " " not in text and not text.startswith(":")
    return text if len(text) <= 256 and text.isprintable() and addressable else None


# --- What every refusal must look like ---

REASON_LABEL_MAX = 40


def assert_refusal(error: Exception, token: object) -> None:
    """Only the auth package's two errors, with the contract's two messages, and a
    `reason` fit to be a Prometheus label (short, from a fixed vocabulary)."""
    if isinstance(error, MissingToken):
        assert token is None or token == "", f"MissingToken for a token: {token!r:.80}"
        assert error.message == "Authentication failed"
    elif isinstance(error, InvalidToken):
        assert not (token is None or token == "")
        assert type(error).message == "Invalid token" and error.message == "Invalid token"
    else:
        raise AssertionError(f"verify raised {type(error).__name__}: {error}") from error
    reason = error.reason
    assert isinstance(reason, str) and 0 < len(reason) <= REASON_LABEL_MAX, reason
    assert reason.replace("_", "").isalpha() and reason.isascii(), reason
