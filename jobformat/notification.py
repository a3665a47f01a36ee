from dataclasses import asdict, dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Notification:
    """One decoded job. `payload` is exactly what clients receive: `{id, data, metadata}`."""

    queue: str
    event: str
    namespace: str
    rooms: tuple[str, ...]
    resource_id: str | int
    payload: dict[str, Any]
    created_at_ms: int

    def to_bytes(self) -> bytes:
        """How a notification held by the throttle is stored in Redis (JSON, never pickle)."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, encoded: bytes) -> "Notification":
        fields = orjson.loads(encoded)
        fields["rooms"] = tuple(fields["rooms"])
        return cls(**fields)
