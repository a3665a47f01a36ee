"""Offsets: `<ms>-<seq>`, like Redis stream ids, handed out by the append script from
Redis' clock and never decreasing. Time-based, so after a failover to a replica that
missed the newest appends, the next offsets are still newer than any a client saw (the
jobs of the lost appends are retried, since their completion was lost with them)."""

import re
from typing import NamedTuple

_OFFSET = re.compile(r"(\d{1,16})-(\d{1,12})")


class Offset(NamedTuple):
    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


ZERO = Offset(0, 0)


def parse_offset(text: object) -> Offset | None:
    """The offset a client or Redis sent, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    return Offset(int(match.group(1)), int(match.group(2)))
