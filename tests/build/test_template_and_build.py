"""The template lints clean, and `sam build` (no Docker) makes arm64 / Python 3.13 artifacts within Lambda's limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cdp_local.template import REPO_ROOT, load_template, resources_of_type

pytestmark = pytest.mark.build

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, function plus all its layers
ELF_MACHINE_AARCH64 = 183
SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"  # own venv: checkov pins a boto3 older than ours


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _layers_of(function: dict, template: dict) -> list[str]:
    refs = template["Globals"]["Function"].get("Layers", []) + function["Properties"].get("Layers", [])
    return [ref["Ref"] for ref in refs]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert SAM.exists(), f"SAM CLI missing at {SAM}: run `make install`"
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = _run(SAM, "build", "--build-dir", build_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def test_cfn_lint_is_clean() -> None:
    # When
    result = _run(CFN_LINT, "template.yaml")
    # Then
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_no_unexplained_failure() -> None:
    # Given: checks that do not apply are skipped in the template, each with its reason
    assert CHECKOV.exists(), f"checkov missing at {CHECKOV}: run `make install`"
    # When
    result = _run(CHECKOV, "-f", "template.yaml", "--framework", "cloudformation", "--compact", "-o", "json")
    # Then
    report = json.loads(result.stdout)
    failed = [f"{check['check_id']} {check['resource']}" for check in report["results"]["failed_checks"]]
    skipped = report["results"]["skipped_checks"]
    unexplained = [check["check_id"] for check in skipped if not check["check_result"].get("suppress_comment")]
    assert (failed, unexplained) == ([], [])
    assert report["summary"]["passed"] > 0


def test_sam_validate_lint_is_clean() -> None:
    # When
    result = _run(SAM, "validate", "--lint")
    # Then
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_with_its_layers_fits_lambdas_unzipped_limit(built: Path) -> None:
    # Given
    template = load_template()
    # When
    sizes = {
        logical_id: _size(built / logical_id) + sum(_size(built / layer) for layer in _layers_of(function, template))
        for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items()
    }
    print({name: f"{size / 1e6:.1f} MB" for name, size in sizes.items()})
    # Then
    assert all((built / logical_id / "app.py").exists() for logical_id in sizes)
    assert max(sizes.values()) < LAMBDA_UNZIPPED_LIMIT


def test_pyarrow_is_built_for_arm64_and_only_batch_functions_carry_it(built: Path) -> None:
    # Given
    template = load_template()
    columnar = built / "ColumnarDependenciesLayer" / "python" / "pyarrow"
    # When
    libraries = list(columnar.glob("libarrow.so*"))
    machine = int.from_bytes(libraries[0].read_bytes()[18:20], "little") if libraries else None
    carriers = sorted(
        logical_id
        for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items()
        if "ColumnarDependenciesLayer" in _layers_of(function, template)
    )
    # Then
    assert machine == ELF_MACHINE_AARCH64
    assert all((columnar / name).exists() for name in ("csv.py", "compute.py", "parquet", "dataset.py"))
    assert not list(columnar.glob("libarrow_flight*"))
    assert carriers == [  # batch functions only: no HTTP or journey-step function imports pyarrow
        "ApplyProfileBatchFunction",
        "ComputeRecommendationsFunction",
        "ComputeSegmentsFunction",
        "ErasePersonalDataFunction",
        "ExportAudienceFunction",
        "FinishLargeFileFunction",
        "FinishSegmentRunFunction",
        "IngestFileFunction",
        "IngestFileRangeFunction",
        "MeasureMarketingFunction",
        "PlanFileRangesFunction",
        "RunSegmentShardFunction",
        "StartCampaignRunFunction",
    ]
    assert (built / "RuntimeDependenciesLayer" / "python" / "aws_lambda_powertools").is_dir()
    assert not (built / "RuntimeDependenciesLayer" / "python" / "boto3").exists()
    assert (built / "CoreLayer" / "python" / "cdp" / "ingest" / "pipeline.py").exists()
