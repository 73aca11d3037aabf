"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

The browser is the system's ``/usr/bin/chromium`` (``apt-get install chromium``); Playwright's
own browser downloads are never used. Without it these tests are skipped loudly, except in CI
(``CI`` set) or with ``REQUIRE_BROWSER=1``, where a missing browser is an error.

Screenshots of every step go to ``test-artifacts/browser/<test name>/`` (or under
``BROWSER_SCREENSHOTS_DIR``); each test's folder is listed at the end of the run (and printed by
the test, which ``pytest -s`` shows as it goes).
"""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("BROWSER_SCREENSHOTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # The sync API runs an event loop in this thread; the ORM calls the tests make here are
    # plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Steps:
    """Numbered screenshots of a test's steps, in its own folder."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    folder = ARTIFACTS / "browser" / re.sub(r"[^\w.-]+", "_", request.node.name)
    page.steps = Steps(page, folder)
    print(f"\nscreenshots: {folder}")
    request.config.stash.setdefault(SCREENSHOT_FOLDERS, []).append(folder)
    yield page
    context.close()


SCREENSHOT_FOLDERS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    folders = config.stash.get(SCREENSHOT_FOLDERS, [])
    if folders:
        terminalreporter.write_sep("-", f"browser screenshots ({len(folders)} tests)")
        for folder in folders:
            terminalreporter.write_line(f"screenshots: {folder}")
