"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright,
never a browser that Playwright downloads."""

import os
import shutil
from typing import NoReturn

import pytest

# As the machine's own probe starts it: no sandbox (root in CI), and nothing that
# phones home (connections out are refused here, many at a time).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def skip_or_fail(reason: str) -> NoReturn:
    """Skip where the browser is missing, but fail in CI, where scripts/setup installs it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    skip_or_fail(
        "Chromium is not installed (Debian/Ubuntu: apt-get install chromium; scripts/setup "
        "installs it where it can)"
    )
