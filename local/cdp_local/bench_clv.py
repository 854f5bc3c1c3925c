"""The CLV bench figure: BG/NBD + Gamma-Gamma fitted on 100k generated customers, side by side with `lifetimes`.

Both fit the same per-customer summary (x, t_x, T in days, mean repeat spend) of the same generated transactions;
`seconds` times our two fits on it (wall; `cpu_seconds` the process's CPU time, steadier on a shared machine),
`seconds_from_csv` adds reading the CSV and summarising. lifetimes runs in its own virtualenv (build/bench-venv,
made here on first use) because it needs pandas, which the project does not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from cdp.predict.bgnbd import BgNbdParameters, fit_bgnbd
from cdp.predict.clv import fit_models
from cdp.predict.gamma_gamma import GammaGammaParameters, fit_gamma_gamma

from cdp_local.clv import read_transactions
from cdp_local.clv_data import simulate_customers, transactions
from cdp_local.template import REPO_ROOT

CUSTOMERS = 100_000
TRUE_BGNBD = BgNbdParameters(r=0.5, alpha=20.0, a=0.8, b=3.0)
TRUE_SPEND = GammaGammaParameters(p=6.0, q=4.0, gamma=15.0)
START, CALIBRATION_END = date(2024, 1, 1), date(2024, 12, 31)
BENCH_VENV = REPO_ROOT / "build" / "bench-venv"
LIFETIMES = "lifetimes==0.11.3"

LIFETIMES_FIT = """
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
summary = pd.read_csv(sys.argv[1])
started, cpu_started = time.perf_counter(), time.process_time()
bgnbd = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
spend = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "parameters": {
    "r": bgnbd.params_["r"], "alpha": bgnbd.params_["alpha"], "a": bgnbd.params_["a"], "b": bgnbd.params_["b"],
    "p": spend.params_["p"], "q": spend.params_["q"], "gamma": spend.params_["v"]}}))
"""


def _lifetimes_python() -> Path:
    """The bench virtualenv's python with lifetimes installed (created on first use)."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import lifetimes"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", LIFETIMES],
                       capture_output=True, text=True, check=True)
    return python


def _run_lifetimes(summary_csv: Path) -> dict[str, Any]:
    try:
        python = _lifetimes_python()
    except subprocess.CalledProcessError as error:
        return {"error": f"lifetimes could not be installed: {(error.stderr or '')[-500:]}"}
    finished = subprocess.run([str(python), "-c", LIFETIMES_FIT, str(summary_csv)], capture_output=True, text=True,
                              check=False)
    if finished.returncode != 0:
        return {"error": f"lifetimes failed: {finished.stderr[-500:]}"}
    return dict(json.loads(finished.stdout))


def clv_fit(customers: int = CUSTOMERS) -> dict[str, Any]:
    """Seconds and parameters of our fit and lifetimes' on the same generated customers."""
    rng = np.random.default_rng(2024)
    simulated = simulate_customers(customers, TRUE_BGNBD, TRUE_SPEND, START, 90, CALIBRATION_END, rng)
    with tempfile.TemporaryDirectory() as folder:
        transactions_csv, summary_csv = Path(folder) / "transactions.csv", Path(folder) / "summary.csv"
        pacsv.write_csv(transactions(simulated, TRUE_SPEND, rng), transactions_csv)
        started = time.perf_counter()
        models = fit_models(read_transactions(transactions_csv), CALIBRATION_END, "days")
        seconds_from_csv = time.perf_counter() - started
        histories = models.histories
        started, cpu_started = time.perf_counter(), time.process_time()
        fit_bgnbd(histories)
        fit_gamma_gamma(histories.frequency, histories.mean_repeat_spend)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        pacsv.write_csv(pa.table({"frequency": histories.frequency, "recency": histories.recency,
                                  "T": histories.age, "monetary_value": histories.mean_repeat_spend}), summary_csv)
        lifetimes = _run_lifetimes(summary_csv)
    ours = models.bgnbd.parameters.as_dict() | models.spend.parameters.as_dict()
    figure: dict[str, Any] = {
        "customers": customers,
        "transactions": int(histories.frequency.sum() + len(histories)),
        "seconds": round(seconds, 3),
        "seconds_from_csv": round(seconds_from_csv, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "lifetimes_seconds": None,
        "lifetimes_cpu_seconds": None,
        "parameters": {name: round(value, 6) for name, value in ours.items()},
        "lifetimes_parameters": None,
        "max_relative_difference": None,
        "true_parameters": TRUE_BGNBD.as_dict() | TRUE_SPEND.as_dict(),
    }
    if "error" in lifetimes:
        return figure | {"lifetimes_error": lifetimes["error"]}
    theirs = lifetimes["parameters"]
    return figure | {
        "lifetimes_seconds": round(lifetimes["seconds"], 3),
        "lifetimes_cpu_seconds": round(lifetimes["cpu_seconds"], 3),
        "lifetimes_parameters": {name: round(value, 6) for name, value in theirs.items()},
        "max_relative_difference": float(f"{max(abs(ours[name] / theirs[name] - 1) for name in ours):.3g}"),
    }
