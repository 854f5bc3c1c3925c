"""HTTP and journey handlers stay light: importing them never loads pyarrow (cold starts stay short)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cdp_local.template import REPO_ROOT, function_specs, load_template, resources_of_type

TEMPLATE = load_template()
LIGHT_FUNCTIONS = sorted(
    logical_id
    for logical_id, function in resources_of_type(TEMPLATE, "AWS::Serverless::Function").items()
    if {"Ref": "ColumnarDependenciesLayer"} not in function["Properties"].get("Layers", [])
)


@pytest.mark.parametrize("logical_id", LIGHT_FUNCTIONS)
def test_importing_the_handler_does_not_load_pyarrow(logical_id: str) -> None:
    # Given: a fresh interpreter with the layers on the path, as Lambda has them
    module_file = function_specs(TEMPLATE)[logical_id].module_file
    program = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('handler', {str(module_file)!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
        "print('pyarrow' in sys.modules)"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "layers" / "core" / "python")}
    # When
    loaded = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True, check=True)
    # Then
    assert loaded.stdout.strip() == "False"
    assert {
        "AuthorizeWriteKeyFunction",
        "TrackEventsFunction",
        "GetProfileFunction",
        "SplitProfileFunction",
        "ManageConsentFunction",
        "EraseProfileFunction",
        "ExportProfileFunction",
        "SendMessageFunction",
        "SendDeferredMessagesFunction",
    } <= set(LIGHT_FUNCTIONS)
