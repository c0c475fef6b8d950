"""Browser tests: the real app on a free loopback port, driven in Debian's Chromium.

Every request to a host other than the app's own is aborted and recorded; a test fails if
there was any. Screenshots of each screen go to ``screenshots/`` (not in git) for a person
to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app, started with ``streamlit run app.py`` on a fresh data folder."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install "
                    "chromium)")
    port = _free_port()
    data = tmp_path_factory.mktemp("e2e-data")
    guard_log = data / "outbound.log"
    guard_log.touch()
    env = dict(os.environ, SAFEPLAN_DATA_DIR=str(data), PYTHONUNBUFFERED="1",
               # the server refuses, and records, any attempt to reach another host
               SAFEPLAN_NETGUARD_LOG=str(guard_log),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent / "netguard"),
                                           os.environ.get("PYTHONPATH", "")]))
    for name in ("SAFEPLAN_DATABASE_URL", "SAFEPLAN_TILE_URL"):
        env.pop(name, None)
    log = open(data / "streamlit.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    app_log = data / "streamlit.log"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("the app did not start: "
                            + (data / "streamlit.log").read_text()[-2000:])
            time.sleep(0.25)
    yield Server(url, data, app_log)
    attempts = guard_log.read_text().split()
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    assert attempts == [], f"the app server tried to reach other hosts: {attempts}"


@dataclass(frozen=True)
class Server:
    url: str
    data: Path
    log: Path

    def store(self):
        from geo.store import Store

        return Store(f"sqlite:///{self.data / 'safeplan.db'}")


PASSWORD = "a long test pass phrase"


@pytest.fixture(scope="session")
def accounts(app_server, browser):
    """The app's first start (the demo case, and the demo user's one-time password printed
    on its console), then a user per role for the tests, made as an administrator would."""
    from geo import auth

    first = browser.new_context()
    pg = first.new_page()
    pg.goto(app_server.url)
    pg.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
    first.close()
    found = re.search(r"one-time password\s+(\S+)", app_server.log.read_text())
    assert found, "the first start did not print the demo user's one-time password"
    store = app_server.store()
    names = {}
    for role in ("analyst", "housing", "viewer", "admin"):
        name = f"e2e-{role}"
        otp = auth.add_user(store, name, role, actor="e2e set-up", cases=("DEMO-2026-0147",))
        auth.change_password(store, name, otp, PASSWORD)
        names[role] = name
    store.close()
    return {"demo_otp": found.group(1), **names}


def sign_in(pg, name: str, password: str = PASSWORD) -> None:
    pg.goto(pg.app_url)
    pg.get_by_label("User name").fill(name)
    pg.get_by_label("Password", exact=True).fill(password)
    pg.get_by_role("button", name="Sign in").click()
    settle(pg)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (the Python package) is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server, accounts, block_network):
    """A fresh browser page on the app, not signed in; requests to any other host are
    aborted and fail the test."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(app_server.url) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.app_url = app_server.url
    yield pg
    context.close()
    assert outside == [], f"the app tried to reach other hosts: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


_IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  return state === 'notRunning';
}"""


def settle(pg, text: str | None = None) -> None:
    """Wait until the app's script has finished running (and shows ``text``, if given)."""
    pg.wait_for_timeout(300)  # let a rerun that was just asked for begin
    pg.wait_for_function(_IDLE, timeout=120_000)
    if text:
        pg.get_by_text(text, exact=False).first.wait_for(state="visible")
        pg.wait_for_function(_IDLE, timeout=120_000)


def shot(pg, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


__all__ = ["PASSWORD", "settle", "shot", "shutil", "sign_in"]
