import time
from typing import Any

import jwt

SECRET = "test-secret-" + "x" * 64  # long enough for HS512 too


def mint(
    user: str | None = "42",
    department: str | None = "A",
    *,
    expires_in: float = 3600,
    secret: str = SECRET,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {"exp": time.time() + expires_in, **claims}
    if user is not None:
        payload["sub"] = user
    if department is not None:
        payload["department"] = department
    return jwt.encode(payload, secret, algorithm=algorithm)
