from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token names, and until when (epoch seconds) it may stay connected."""

    user_id: str
    department: str | None
    expires_at: float

    @property
    def rooms(self) -> tuple[str, ...]:
        user_room = f"user:{self.user_id}"
        if self.department is None:
            return (user_room,)
        return (user_room, f"department:{self.department}")
