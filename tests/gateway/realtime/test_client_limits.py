from gateway.realtime.client_limits import MessageRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_holds() -> None:
    clock = Clock()
    limiter = MessageRateLimiter(rate=5, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.2  # one token back at 5/s
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 60  # refills up to the burst, not beyond
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_connections_are_limited_separately_and_forgotten() -> None:
    limiter = MessageRateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")
    limiter.forget("a")
    limiter.forget("b")
    assert len(limiter) == 0
