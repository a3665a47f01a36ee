"""The two ways a pass can fail that are nobody's bug: a dependency is unreachable or not
ready. The run loop logs them in one line and tries again with back-off; it never exits
on them."""


class DependencyUnavailable(Exception):
    dependency = "unknown"


class RedisUnavailable(DependencyUnavailable):
    dependency = "redis"


class DatabaseUnavailable(DependencyUnavailable):
    dependency = "postgresql"
