from dataclasses import dataclass

from config import AuthSettings

_HMAC_PREFIX = "HS"


@dataclass(frozen=True, slots=True)
class VerificationKeys:
    """Key material and the claims policy; the key is picked by the allow-listed `alg`,
    so an HMAC token is never checked against the public key (RS/HS confusion)."""

    algorithms: tuple[str, ...]
    hmac_secret: str | None
    public_key: str | None
    audience: str | None
    issuer: str | None
    user_claim: str
    department_claim: str

    def key_for(self, algorithm: str) -> str | None:
        if algorithm.startswith(_HMAC_PREFIX):
            return self.hmac_secret
        return self.public_key


def keys_from_settings(settings: AuthSettings) -> VerificationKeys:
    return VerificationKeys(
        algorithms=settings.algorithms,
        hmac_secret=settings.secret.reveal() if settings.secret else None,
        public_key=settings.public_key.reveal() if settings.public_key else None,
        audience=settings.audience,
        issuer=settings.issuer,
        user_claim=settings.user_claim,
        department_claim=settings.department_claim,
    )
