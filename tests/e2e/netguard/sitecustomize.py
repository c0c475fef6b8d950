"""Loaded by the app server the browser tests start (via PYTHONPATH): any attempt to reach a
host that is not this machine is refused and written to ``SAFEPLAN_NETGUARD_LOG``, so the
tests can fail on it. Not part of the product."""

import ipaddress
import os
import socket

_log = os.environ.get("SAFEPLAN_NETGUARD_LOG")


def _local(host) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host) -> None:
    if _log:
        with open(_log, "a", encoding="utf-8") as f:
            f.write(f"{host}\n")
    raise OSError(f"network access refused by the test guard: {host}")


if _log:
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(address[0])
        return _connect(sock, address)

    def connect_ex(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(address[0])
        return _connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not _local(name):
            _refuse(name)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
