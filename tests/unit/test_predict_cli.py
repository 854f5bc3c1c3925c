"""`make clv` (python -m cdp_local.clv): the JSON it prints, the holdout table, and bad input answered with a
clear error and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
from cdp_local.clv import main
from cdp_local.clv_data import simulate_customers, transactions

from tests.unit.test_predict_models import TRUE_BGNBD, TRUE_SPEND

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def transactions_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(4)
    simulated = simulate_customers(2_000, TRUE_BGNBD, TRUE_SPEND, date(2024, 1, 1), 90, date(2025, 3, 31), rng)
    path = tmp_path_factory.mktemp("clv") / "transactions.csv"
    pacsv.write_csv(transactions(simulated, TRUE_SPEND, rng), path)
    return path


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_it_prints_the_fitted_parameters_as_json(transactions_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--transactions", str(transactions_csv), "--calibration-end", "2024-12-31")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert list(report) == ["bgnbd", "gamma_gamma", "customers", "repeat_customers_without_positive_spend"]
    assert list(report["bgnbd"]) == ["r", "alpha", "a", "b", "log_likelihood"]
    assert list(report["gamma_gamma"]) == ["p", "q", "gamma"]
    assert report["customers"] == 2_000
    assert report["bgnbd"]["alpha"] == pytest.approx(TRUE_BGNBD.alpha, rel=0.5)  # days, the default unit


def test_with_a_holdout_end_it_adds_the_figure_style_comparison(
        transactions_csv: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    predictions = tmp_path / "predictions.csv"
    code, out, _ = _run(capsys, "--transactions", str(transactions_csv), "--calibration-end", "2024-12-31",
                        "--time-unit", "weeks", "--holdout-end", "2025-03-31", "--predictions", str(predictions))
    assert code == 0
    holdout = json.loads(out)["holdout"]
    assert holdout["length"] == pytest.approx(90 / 7)
    assert holdout["by_calibration_repeat_purchases"][0]["calibration_repeat_purchases"] == "0"
    assert set(holdout["aggregate"]) >= {"actual_total", "predicted_total", "mean_absolute_error"}
    assert pacsv.read_csv(predictions).num_rows == 2_000


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    ("customer_id,date,amount\n", "no rows"),
    ("customer_id,amount\n1,3.5\n", "missing column(s): date"),
    ("customer_id,date,amount\n1,1997-02-30,3.5\n", "column date"),
    ("customer_id,date,amount\n1,yesterday,3.5\n", "column date"),
    ("customer_id,date,amount\n1,1997-01-01,ten\n", "invalid value 'ten'"),
    ("customer_id,date,amount\n1,1997-01-01,3.5\n1,1997-01-02,-2\n", "negative"),
    ("customer_id,date,amount\n1,1997-01-01,3.5\n,1997-01-02,2\n", "customer_id: 1 empty value"),
    ("customer_id,date,amount\n1,1997-01-01,3.5\n2,1997-01-05,2\n", "no customer made a repeat purchase"),
    ("customer_id,date,amount\n1,1998-01-01,3.5\n", "no purchase on or before the calibration end"),
    ('customer_id,date,amount\n1,"1997-01-01,3.5\n', "CSV"),
])
def test_bad_input_answers_a_clear_error_and_exit_code_2(
        content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = _run(capsys, "--transactions", str(path), "--calibration-end", "1997-09-30")
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("arguments", [
    ["--transactions", "missing.csv", "--calibration-end", "1997-09-30"],
    ["--transactions", "x.csv", "--calibration-end", "30/09/1997"],
    ["--transactions", "x.csv", "--calibration-end", "1997-09-30", "--time-unit", "months"],
    ["--calibration-end", "1997-09-30"],
])
def test_bad_arguments_answer_exit_code_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(arguments)
    except SystemExit as stopped:  # argparse stops on arguments it refuses
        code = stopped.code
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_holdout_end_before_the_calibration_end_is_refused(
        transactions_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--transactions", str(transactions_csv), "--calibration-end", "2024-12-31",
                        "--holdout-end", "2024-06-30")
    assert code == 2 and "holdout end must be after" in err


def test_make_clv_runs_the_command(transactions_csv: Path) -> None:
    finished = subprocess.run(["make", "-s", "clv", f"TRANSACTIONS={transactions_csv}", "CALIBRATION_END=2024-12-31",
                               "TIME_UNIT=weeks"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["customers"] == 2_000
