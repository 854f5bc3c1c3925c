"""A schema-driven fuzzer (schemathesis) against the local HTTP API on loopback, reading the API's own served
OpenAPI document: for every operation, a bounded number of generated requests (valid by the schema and not), each
answered without a 5xx and with a status the document lists. Derandomized, so every run sends the same requests."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from cdp_local.http_api import make_server
from cdp_local.runner import basic_authorization, create_local_source, http_api, register_demo_shop
from cdp_local.stack import LocalStack
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

# 16 operations x 8 requests: about 30 s here; bounded by count, not by a clock.
EXAMPLES_PER_OPERATION = 8


@pytest.fixture
def served(stack: LocalStack) -> Iterator[tuple[str, str]]:
    """The template's HTTP API served on loopback over the local stack: (base URL, a write key)."""
    write_key = create_local_source(stack)
    register_demo_shop(stack)
    server = make_server(http_api(stack), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", write_key
    server.shutdown()
    server.server_close()
    thread.join()


def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(served: tuple[str, str]) -> None:
    # Given: the document the API serves
    base_url, write_key = served
    with urllib.request.urlopen(f"{base_url}/v1/openapi.json", timeout=10) as response:
        schema = schemathesis.openapi.from_dict(json.load(response))
    surprises: list[str] = []
    # When: each operation gets generated requests, with the write key (IAM routes go unsigned: 403 is documented)
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE))
        def probe(case: schemathesis.Case) -> None:
            answer = case.call(base_url=base_url, headers={"Authorization": basic_authorization(write_key)}, timeout=10)
            documented = case.operation.definition.raw["responses"]
            if answer.status_code >= 500 or str(answer.status_code) not in documented:
                surprises.append(f"{case.method} {case.path} -> {answer.status_code}: {answer.text[:200]}")

        probe()
    # Then
    assert surprises == []
