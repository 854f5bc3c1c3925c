"""Shared fixtures: a fresh local stack (the template in moto) per test that asks for one; and the order tests are
handed to the workers in: those marked `long_running` first (see `pytest_collection_modifyitems`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cdp_local.stack import LocalStack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack() as local_stack:
        yield local_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long_running` go first, the rest keep their order. `make test` hands whole files to the workers
    in this order (`--dist loadfile --no-loadscope-reorder`), so a long file starts first instead of running alone at
    the end while the other worker has nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)
