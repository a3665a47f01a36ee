from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value whose repr never shows it, so settings can be logged."""

    value: str

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def reveal(self) -> str:
        return self.value
