"""Shared fixtures: a fresh local stack (the template in moto) per test that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cdp_local.stack import LocalStack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack() as local_stack:
        yield local_stack
