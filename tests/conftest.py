"""Test-wide rules: the network is blocked, and in CI a skipped browser or PostGIS test fails.

Every test runs with sockets limited to this machine (loopback and Unix sockets): anything
that tries to reach another host fails the test with the host it tried. ``SAFEPLAN_CI=1``
(set by ``.ci/run``) turns a skipped test marked ``browser`` or ``postgis`` into a failure,
so CI cannot go green without them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

pytest_plugins = ["tests.databases"]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "", None}


class NetworkBlocked(RuntimeError):
    """Raised when code under test tries to reach a host other than this machine."""


def _is_local(host: object) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def block_network(monkeypatch):
    """Fail any attempt to connect to, or look up, a host that is not this machine."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_local(host):
                attempts.append(str(host))
                msg = f"network access blocked in tests: tried to reach {host!r}"
                raise NetworkBlocked(msg)

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host if not isinstance(host, bytes) else host.decode()):
            attempts.append(str(host))
            msg = f"network access blocked in tests: tried to look up {host!r}"
            raise NetworkBlocked(msg)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"code under test tried to reach the network: {attempts}"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Each test gets its own data folder, so nothing touches the user's real database."""
    data = tmp_path_factory.mktemp("safeplan-data")
    monkeypatch.setenv("SAFEPLAN_DATA_DIR", str(data))
    for name in ("SAFEPLAN_DATABASE_URL", "SAFEPLAN_TILE_URL", "SAFEPLAN_TILE_ATTRIBUTION",
                 "SAFEPLAN_ALLOW_OSM_DOWNLOAD"):
        monkeypatch.delenv(name, raising=False)
    return data


@pytest.fixture(autouse=True)
def fast_password_hashing(request, monkeypatch):
    """argon2 at its real cost takes 0.4 s a hash here: tests use a cheap one, except those
    marked ``real_argon2`` (which check the real parameters)."""
    if request.node.get_closest_marker("real_argon2"):
        return
    from argon2 import PasswordHasher

    from geo import auth

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", lambda: cheap)
    monkeypatch.setattr(auth, "_dummy_hash", lambda: cheap.hash("dummy"))


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``, or a skip with the reason when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


_MUST_RUN = ("browser", "postgis")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SAFEPLAN_CI") != "1" or not report.skipped:
        return
    marks = [m for m in _MUST_RUN if item.get_closest_marker(m)]
    if marks:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{marks[0]} test skipped in CI (SAFEPLAN_CI=1): {reason}"
