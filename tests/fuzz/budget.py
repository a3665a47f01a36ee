"""How hard each fuzz property is run, and a runner that proves it ran that many.

Deterministic (`derandomize=True`, no example database) so CI sees the same examples on
every run; bounded so the whole of tests/fuzz stays well under a minute on 2 cores.
`EXAMPLES` is the number each property runs (at least; `run_property` asserts it) and
is what docs/reliability.md quotes.
"""

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

EXAMPLES: dict[str, int] = {
    # tests/fuzz/test_verify_fuzz.py
    "verify: arbitrary values and huge strings": 400,
    "verify: forged token structures": 500,
    "verify: validly signed, arbitrary claims": 500,
    "verify: algorithm outside the allow-list": 300,
    # tests/fuzz/test_decode_fuzz.py
    "decode: arbitrary job name and data": 500,
    "decode: valid jobs": 300,
    "decode: one bad field": 200,  # x 14 spoiled fields each = 2,800 jobs
}

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# Filled by run_property: what each property really ran in this session.
RAN: dict[str, int] = {}


def run_property(name: str, strategy: st.SearchStrategy[T], check: Callable[[T], None]) -> int:
    """Run `check` on `EXAMPLES[name]` examples of `strategy`; fail if fewer ran."""
    runs = 0

    def counted(example: T) -> None:
        nonlocal runs
        runs += 1
        check(example)

    settings(FUZZ, max_examples=EXAMPLES[name])(given(strategy)(counted))()
    RAN[name] = runs
    assert runs >= EXAMPLES[name], f"{name}: only {runs} of {EXAMPLES[name]} examples ran"
    return runs
