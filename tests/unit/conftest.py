"""Unit tests never reach the network (any connection to a non-loopback address fails the test), and each starts
with nothing built by the composition root (settings and collaborators are read afresh)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from cdp import wiring


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise RuntimeError(f"unit tests may not connect to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    yield


@pytest.fixture(autouse=True)
def fresh_composition_root() -> Iterator[None]:
    wiring.reset_settings()
    yield
    wiring.reset_settings()
