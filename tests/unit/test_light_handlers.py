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


def test_the_prediction_fit_runs_without_pyarrow() -> None:
    # Given: a fresh interpreter that cannot import pyarrow, as the fit function's layers (numpy, scipy) have it
    program = (
        "import sys; sys.modules['pyarrow'] = None; "
        "import numpy as np; "
        "from cdp.predict.histories import PurchaseHistories; "
        "from cdp.predict.fit import fit_and_predict; "
        "from cdp.predict.customers import PredictionSettings; "
        "rng = np.random.default_rng(1); x = rng.poisson(2, 500); age = rng.uniform(50, 300, 500); "
        "t = np.where(x > 0, age * rng.uniform(0.2, 1, 500), 0.0); "
        "arrays = dict(first_day=np.zeros(500, int), last_day=t.astype(int), frequency=x, recency=t, age=age, "
        "mean_repeat_spend=np.where(x > 0, rng.uniform(10, 90, 500), 0.0), calibration_end_day=np.array(300), "
        "time_unit=np.array('days')); "
        "columns, parameters = fit_and_predict(PurchaseHistories.from_arrays(arrays), PredictionSettings()); "
        "print(len(columns['probability_alive']), sorted(parameters['bgnbd']))"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "layers" / "core" / "python")}
    # When
    ran = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    # Then
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip() == "500 ['a', 'alpha', 'b', 'r']"
