"""Why a connection was refused. `message` is what the client sees (CONTRACT §4);
`reason` is the `gateway_auth_failures_total` label and never reaches the client."""


class AuthError(Exception):
    message = "Invalid token"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingToken(AuthError):
    message = "Authentication failed"

    def __init__(self) -> None:
        super().__init__("missing_token")


class InvalidToken(AuthError):
    message = "Invalid token"
