from dataclasses import dataclass
from typing import Any


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
