"""Browser tests' harness: headless Chromium driven by selenium, and a FastAPI app served on a loopback port.

    from tests.browser import browser, serve   # noqa: F401 — `browser` is a pytest fixture

    def test_page(browser):
        with serve(app) as url:
            browser.get(url)

Chromium and its driver come from the system (Debian: `apt-get install -y chromium chromium-driver`); browser
builds cannot be downloaded by tests. Where they are absent the tests skip and say that command. Where they are
present but cannot start, the tests fail: CI installs them, so a broken browser must not pass as a skip. With
WORKBOOK_BROWSER_REQUIRED=1 (set by .ci/run) a missing browser fails too.
Selenium is pointed at both executables, so Selenium Manager never tries the network.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time

import pytest

INSTALL = "apt-get install -y chromium chromium-driver"
REQUIRED = "WORKBOOK_BROWSER_REQUIRED"   # "1": fail instead of skipping when the browser is missing (CI)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 900)


def find_chromium() -> tuple[str | None, str | None]:
    """(browser, driver) executables on PATH, or None for each one missing. $CHROMIUM / $CHROMEDRIVER override."""
    browser = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


def start_chromium(window: tuple[int, int] = WINDOW):
    """A headless Chromium webdriver; pytest.skip with the install command when the browser is not installed."""
    browser, driver = find_chromium()
    if browser is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
        message = f"{missing} not found: install headless Chromium with `{INSTALL}` (Debian/Ubuntu)"
        if os.environ.get(REQUIRED) == "1":
            pytest.fail(f"{message}; {REQUIRED}=1 says this machine must run the browser tests")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run", f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)   # no-sandbox: CI runs as root; dev-shm: small /dev/shm in containers
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # the page's console, for js_errors()
    try:
        return webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except WebDriverException as error:
        pytest.fail(f"{browser} with {driver} is installed but did not start ({error.msg}); reinstall both with "
                    f"`{INSTALL}` so that their versions match")


def js_errors(driver) -> list[str]:
    """The page's script errors since the last call (uncaught exceptions, console.error), as messages. Failed
    requests are left out: an API's 4xx answer to a bad upload is expected, and the page shows it."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") != "network"]


@pytest.fixture(scope="session")
def browser():
    driver = start_chromium()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@contextlib.contextmanager
def serve(app, host: str = "127.0.0.1"):
    """Serve the ASGI `app` with uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"tests serve on loopback addresses only, not {host!r}")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))                                     # port 0: the system picks a free one
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
