"""The demo page in headless Chromium against a real `python -m gateway` (local mode) and
a real redis-server: log in, a job shows up, a duplicate trace id shows once, and after
the gateway restarts (same port) the page reconnects and still receives."""

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from producer import NotificationProducer
from tests.browser.chromium import CHROMIUM_ARGS, chromium_executable, skip_or_fail
from tests.support.gateway import ROOT, GatewayProcess, base_env

pytestmark = pytest.mark.slow

SCREENSHOT = ROOT / "docs" / "demo.png"
WAIT_MS = 15_000


class Gateways:
    """`python -m gateway` processes on one port, one after the other."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port: int | None = None
        self.started: list[GatewayProcess] = []

    async def start(self) -> GatewayProcess:
        process = GatewayProcess(self.env, self.log_dir)
        if self.port is None:
            self.port = process.port
        process.port = self.port  # a restart: same address, so the page finds it again
        process.env["GATEWAY_PORT"] = str(self.port)
        process.log_path = self.log_dir / f"gateway-{self.port}-{len(self.started)}.log"
        self.started.append(process.start())
        return await process.started()

    def kill_all(self) -> None:
        for process in self.started:
            process.kill()


@pytest.fixture
def gateways(redis_url: str, tmp_path: Path) -> Iterator[Gateways]:
    env = base_env(
        redis_url,
        GATEWAY_LOCAL_MODE="true",
        GATEWAY_DISCONNECT_SPREAD_SECONDS="0",
        # One job at a time: the page receives jobs in the order they were added.
        GATEWAY_QUEUES="critical-events=1,general-events=1",
    )
    gateways = Gateways(env, tmp_path)
    yield gateways
    gateways.kill_all()


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    executable = chromium_executable()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("the playwright package is missing: pip install -e '.[dev]'")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 520})
        yield page
        await browser.close()


async def test_the_demo_page_shows_notifications_once_and_survives_a_restart(
    gateways: Gateways, page: Any, redis_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    gateway = await gateways.start()
    await page.goto(f"{gateway.url}/demo")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
    state = page.locator("#state")

    # Log in as user 42 of department A with a dev token.
    await page.fill("#user", "42")
    await page.fill("#department", "A")
    await page.click("#login")
    await expect(state).to_have_attribute("data-state", "connected", timeout=WAIT_MS)

    # A job sent from the form shows up.
    await page.fill("#resource-id", "res-1")
    await page.click("#send")
    await expect(page.locator("#notifications li")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#notifications li").first).to_contain_text("res-1")

    # The same trace id twice (two jobs, as after a producer's retry): shown once.
    async with NotificationProducer(redis_url, namespaces=["/data_owner", "/billing"]) as notifier:
        for status in ("ready", "ready (again)"):
            await notifier.notify(
                "resources:created", namespace="/data_owner", rooms=["department:A"],
                id="res-2", data={"status": status}, metadata={"trace_id": "trace-res-2"},
            )
    await expect(page.locator("#duplicate-count")).to_have_text("1", timeout=WAIT_MS)
    await expect(page.locator('#notifications li[data-trace-id="trace-res-2"]')).to_have_count(1)
    await expect(page.locator("#notifications li")).to_have_count(2)

    # The gateway restarts on the same port: the page reconnects and still receives.
    gateway.signal_term()
    assert await gateway.exit_code() == 0, gateway.log()
    await expect(state).to_have_attribute("data-state", "reconnecting", timeout=WAIT_MS)
    await gateways.start()
    await expect(page.locator("#connect-count")).to_have_text("2", timeout=WAIT_MS)
    await expect(state).to_have_attribute("data-state", "connected")
    await page.fill("#resource-id", "res-3")
    await page.select_option("#event", "system:alert")
    await page.select_option("#target", "department")
    await page.click("#send")
    await expect(page.locator("#notifications li")).to_have_count(3, timeout=WAIT_MS)
    await expect(page.locator("#notifications li").first).to_contain_text("res-3")
    await expect(page.locator("#received-count")).to_have_text("3")

    screenshot = tmp_path / "demo.png"
    await page.screenshot(path=str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # docs/demo.png (shown in the README) is written when missing or when asked for,
    # so a test run doesn't leave the checkout modified.
    if not SCREENSHOT.exists() or os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(screenshot, SCREENSHOT)
