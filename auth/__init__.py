"""JWT verification for Socket.IO connections: pure functions, no I/O.

Holds: `verify(token, keys, now) -> Principal`, the key material built from settings
(`keys`), the verified `Principal` and its rooms, the errors with their metric reasons.
May import: `config`, PyJWT, the standard library.
"""

from auth.errors import AuthError, InvalidToken, MissingToken
from auth.keys import VerificationKeys, keys_from_settings
from auth.principal import Principal
from auth.verify import verify

__all__ = [
    "AuthError",
    "InvalidToken",
    "MissingToken",
    "Principal",
    "VerificationKeys",
    "keys_from_settings",
    "verify",
]
