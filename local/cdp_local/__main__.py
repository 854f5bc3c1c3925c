"""Command line: `python -m cdp_local demo|run|api|migrate` (the Makefile's demo, run, api and migrate targets;
migrate moves a deployed stack's items to the current key shapes, docs/deploy.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from cdp_local.template import REPO_ROOT


def _write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _run(data_dir: Path, report_path: Path, log_level: str) -> int:
    from cdp_local.runner import run_pipeline, summary, write_report_page

    if not data_dir.is_dir():
        print(f"error: {data_dir} is not a folder of export files", file=sys.stderr)
        return 2
    report = run_pipeline(data_dir, report_path.with_suffix(".function-logs.jsonl"), log_level=log_level)
    report["report_html"] = str(write_report_page(report, report_path.with_suffix(".html")))
    _write_report(report, report_path)
    print(summary(report))
    print(f"full report: {report_path}")
    print(f"marketing report (open in a browser): {report['report_html']}")
    return 1 if report["async_failures"] or report["dead_letters"] else 0


def _demo(out_dir: Path, report_path: Path, customers: int, log_level: str) -> int:
    from cdp_local.sample_data import generate

    as_of = datetime.now(UTC).date()
    counts = generate(out_dir, as_of=as_of, customers=customers)
    print(f"sample data for {as_of}: {counts}", file=sys.stderr)
    return _run(out_dir, report_path, log_level)


def _api(host: str, port: int) -> int:
    from cdp_local.http_api import serve
    from cdp_local.runner import create_local_source, http_api, register_demo_shop
    from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack

    with LocalStack() as stack:
        write_key = create_local_source(stack)
        shop, shop_secret = register_demo_shop(stack)
        print(
            f"HTTP API on http://{host}:{port}  (write key: {write_key}; IAM routes: SigV4 with "
            f"{LOCAL_CREDENTIALS[0]}/{LOCAL_CREDENTIALS[1]} in {stack.region}; "
            f"Shopify webhooks: shop {shop}, secret {shop_secret})",
            flush=True,
        )
        serve(http_api(stack), host=host, port=port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdp_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="generate the sample data and run the whole pipeline on it")
    demo.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "sample_data")
    demo.add_argument("--report", type=Path, default=REPO_ROOT / "build" / "demo-report.json")
    demo.add_argument("--customers", type=int, default=120, help="customers in the sample data (default: 120)")
    run = commands.add_parser("run", help="run the whole pipeline on your own folder of exports")
    run.add_argument("--data", type=Path, required=True)
    run.add_argument("--report", type=Path, required=True)
    audience = commands.add_parser("export-audience", help="run the pipeline on a folder, then export one segment")
    audience.add_argument("--segment", required=True)
    audience.add_argument("--data", type=Path, default=REPO_ROOT / "build" / "sample_data")
    audience.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "audiences")
    api = commands.add_parser("api", help="serve the template's HTTP API on localhost")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=3000)
    migrate = commands.add_parser("migrate", help="move a deployed stack's items to the current key shapes (idempotent)")
    migrate.add_argument("--table", required=True, help="the stack's ProfilesTable (its physical name)")
    for command in (demo, run):
        command.add_argument(
            "--log-level",
            default="WARNING",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="the template's LogLevel parameter for the functions (default: WARNING)",
        )
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        return _demo(arguments.out, arguments.report, arguments.customers, arguments.log_level)
    if arguments.command == "run":
        return _run(arguments.data, arguments.report, arguments.log_level)
    if arguments.command == "export-audience":
        return _export_audience(arguments.data, arguments.segment, arguments.out)
    if arguments.command == "migrate":
        return _migrate(arguments.table)
    return _api(arguments.host, arguments.port)


def _migrate(table: str) -> int:
    """Uses the AWS credentials and region of the environment (AWS_PROFILE, AWS_REGION), as the AWS CLI does."""
    from cdp.adapters.key_migrations import migrate_key_shapes

    print(json.dumps(migrate_key_shapes(table), indent=2))
    return 0


def _export_audience(data_dir: Path, segment: str, out_dir: Path) -> int:
    from cdp_local.runner import export_audience

    if not data_dir.is_dir():
        print(f"error: {data_dir} is not a folder of export files (make demo writes build/sample_data)", file=sys.stderr)
        return 2
    answer = export_audience(data_dir, segment, out_dir)
    print(json.dumps(answer, indent=2))
    return 0 if answer["status"] == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
