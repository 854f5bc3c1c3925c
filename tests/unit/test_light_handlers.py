"""Every handler imports with only the packages its layers carry, and HTTP and journey handlers stay light:
importing them loads no pyarrow, numpy or scipy (cold starts stay short)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cdp_local.template import REPO_ROOT, function_specs, load_template, resources_of_type

TEMPLATE = load_template()
OPTIONAL_PACKAGES = ("pyarrow", "numpy", "scipy")  # what only some layers carry


def _carried(logical_id: str) -> set[str]:
    """The optional packages the function's layers (global and its own) name in their requirements."""
    function = TEMPLATE["Resources"][logical_id]
    layers = TEMPLATE["Globals"]["Function"].get("Layers", []) + function["Properties"].get("Layers", [])
    names = set()
    for layer in layers:
        requirements = REPO_ROOT / TEMPLATE["Resources"][layer["Ref"]]["Properties"]["ContentUri"] / "requirements.txt"
        if requirements.exists():
            names |= {line.split("==")[0].strip().lower() for line in requirements.read_text().splitlines()
                      if line.strip() and not line.startswith("#")}  # fmt: skip
    return names & set(OPTIONAL_PACKAGES)


@pytest.mark.parametrize("logical_id", sorted(resources_of_type(TEMPLATE, "AWS::Serverless::Function")))
def test_the_handler_imports_with_only_the_packages_its_layers_carry(logical_id: str) -> None:
    # Given: a fresh interpreter with the core layer on the path, as Lambda has it, where the optional packages the
    # function's layers do not carry cannot be imported
    module_file = function_specs(TEMPLATE)[logical_id].module_file
    absent = sorted(set(OPTIONAL_PACKAGES) - _carried(logical_id))
    program = (
        f"import importlib.util, sys; sys.modules.update(dict.fromkeys({absent!r})); "
        f"spec = importlib.util.spec_from_file_location('handler', {str(module_file)!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "layers" / "core" / "python")}
    # When
    loaded = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    # Then it imports; and the HTTP and journey functions carry none of them (cold starts stay short)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
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
    } <= {name for name in resources_of_type(TEMPLATE, "AWS::Serverless::Function") if not _carried(name)}


def test_the_prediction_fit_runs_without_pyarrow() -> None:
    # Given: a fresh interpreter that cannot import pyarrow, as the fit function's layers (numpy, scipy) have it
    program = (
        "import sys; sys.modules['pyarrow'] = None; "
        "import numpy as np; "
        "from cdp.predict.histories import PurchaseHistories; "
        "from cdp.predict.fit import fit_and_predict; "
        "from cdp.predict.contract import PredictionSettings; "
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
