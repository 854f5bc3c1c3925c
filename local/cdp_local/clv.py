"""Command line of `make clv`: fit BG/NBD and Gamma-Gamma on a transactions CSV and print the parameters as JSON.

    python -m cdp_local.clv --transactions FILE.csv --calibration-end YYYY-MM-DD [--time-unit days|weeks]
                            [--holdout-end YYYY-MM-DD] [--predictions OUT.csv]

The CSV has a header with customer_id, date (ISO) and amount (other columns are ignored). Bad input or data the
models cannot be fitted on answers `error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from cdp.predict.clv import fit_models, holdout_report
from cdp.predict.contract import FitFailed, PredictionSettings
from cdp.predict.summary import InvalidTransactions, Transactions

INPUT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(INPUT_ERROR)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def read_transactions(path: Path) -> Transactions:
    """The transactions of a CSV file, checked (InvalidTransactions names what is wrong)."""
    if not path.is_file():
        raise InvalidTransactions(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InvalidTransactions(f"{path}: empty file")
    options = pacsv.ConvertOptions(column_types={"customer_id": pa.string(), "date": pa.string(),
                                                 "amount": pa.float64()}, strings_can_be_null=True)
    try:
        table = pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as error:
        raise InvalidTransactions(f"{path}: {error}") from None
    return Transactions.from_table(table)


def main(arguments: list[str] | None = None) -> int:
    parser = _Parser(prog="make clv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=Path, required=True)
    parser.add_argument("--calibration-end", type=_iso_date, required=True)
    parser.add_argument("--time-unit", choices=("days", "weeks"), default="days")
    parser.add_argument("--holdout-end", type=_iso_date)
    parser.add_argument("--predictions", type=Path, help="write one row of predictions per customer to this CSV")
    options = parser.parse_args(arguments)
    try:
        transactions = read_transactions(options.transactions)
        models = fit_models(transactions, options.calibration_end, options.time_unit)
        report = models.report()
        if options.holdout_end:
            report["holdout"] = holdout_report(models, transactions, options.holdout_end)
        if options.predictions:
            pacsv.write_csv(models.predictions(PredictionSettings()), options.predictions)
    except (InvalidTransactions, FitFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return INPUT_ERROR
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
