"""The job format imports only config, the standard library and orjson: importing it
loads no worker, no Redis client and no web server (the consumers, the producer API and
the gateway all import it)."""

import sys

from tests.support.imports import loaded_after

ALLOWED = {"jobformat", "config", "orjson"}


def test_importing_the_job_format_loads_only_config_stdlib_and_orjson() -> None:
    loaded = loaded_after("import jobformat")
    assert "jobformat" in loaded
    top_level = {name.partition(".")[0] for name in loaded}
    foreign = {
        name for name in top_level
        if name not in ALLOWED and name not in sys.stdlib_module_names
        and not name.startswith("_")  # the standard library's private C modules
    }
    assert not foreign, sorted(foreign)
