# The project's commands. `make demo` and `make test` are all a newcomer needs; both set themselves up.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
AUDIT_VENV := .venv-audit
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export PYTHONPATH := $(CURDIR)/layers/core/python:$(CURDIR)/local

DATA ?= build/sample_data
REPORT ?= build/report.json
PORT ?= 3000
SIZE ?= 120
TIME_UNIT ?= days

.PHONY: install demo run api migrate test lint unit bench build clean clv journeys journey-dry-run audit export-audience

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v 'is ignored: it is neither' || true
	$(PY) -c 'import moto, pyarrow, aws_lambda_powertools'
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt 2>&1 | grep -v 'is ignored: it is neither' || true
	$(SAM) --version
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt 2>&1 | grep -v 'is ignored: it is neither' || true
	$(CHECKOV_VENV)/bin/checkov --version
	touch $@

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-audit.txt 2>&1 | grep -v 'is ignored: it is neither' || true
	touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(AUDIT_VENV)/.installed

demo: $(VENV)/.installed  ## sample data of SIZE customers (make demo SIZE=3000), the whole pipeline locally, build/demo-report.json
	$(PY) -m cdp_local demo --customers $(SIZE)

export-audience: $(VENV)/.installed  ## a segment's audience as contacts and SHA-256 CSVs: make export-audience SEGMENT=high_value [DATA=build/sample_data]
	$(PY) -m cdp_local export-audience --segment $(SEGMENT) $(if $(DATA),--data $(DATA))

run: $(VENV)/.installed  ## run the pipeline on your own exports: make run DATA=dir REPORT=report.json
	$(PY) -m cdp_local run --data $(DATA) --report $(REPORT)

migrate: $(VENV)/.installed  ## move a deployed stack's items to the current key shapes (AWS credentials of the stack): make migrate TABLE=<ProfilesTable name>
	$(PY) -m cdp_local migrate --table $(TABLE)

api: $(VENV)/.installed  ## serve the HTTP API on 127.0.0.1:$(PORT)
	$(PY) -m cdp_local api --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy layers/core/python/cdp local/cdp_local
	for handler in functions/*/app.py; do $(VENV)/bin/mypy $$handler || exit 1; done

audit: install  ## the pinned dependencies against known advisories (pins it cannot check are reported, not passed)
	$(PY) -m cdp_local.audit

test: install lint audit  ## ruff, mypy, dependency advisories, then tests: cfn-lint, checkov, bandit, sam validate --lint, sam build, unit, integration, fuzz, end to end
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(VENV)/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder

bench: $(VENV)/.installed  ## write bench.json with throughput and cold-import figures (one figure: ONLY=clv or ONLY=segments; segments data scale: SCALE=0.1)
	$(PY) -m cdp_local.bench --out bench.json $(if $(ONLY),--only $(ONLY)) $(if $(SCALE),--scale $(SCALE))

clv: $(VENV)/.installed  ## fit BG/NBD + Gamma-Gamma: make clv TRANSACTIONS=f.csv CALIBRATION_END=YYYY-MM-DD [TIME_UNIT=weeks] [HOLDOUT_END=YYYY-MM-DD] [PREDICTIONS=out.csv]
	@$(PY) -m cdp_local.clv --transactions "$(TRANSACTIONS)" --calibration-end "$(CALIBRATION_END)" --time-unit "$(TIME_UNIT)" \
		$(if $(HOLDOUT_END),--holdout-end "$(HOLDOUT_END)") $(if $(PREDICTIONS),--predictions "$(PREDICTIONS)")

journeys: $(VENV)/.installed  ## compile the journey definitions: statemachines/*.asl.json, the template's state machines, docs/journeys.md diagrams
	$(PY) -m cdp_local.journeys_build

journey-dry-run: $(VENV)/.installed  ## replay history through a journey without sending: make journey-dry-run JOURNEY=abandoned_cart FROM=2026-11-01 TO=2026-12-01 [CURATED=build/curated]
	$(PY) -m cdp_local.journey_dry_run --journey "$(JOURNEY)" --from "$(FROM)" --to "$(TO)" $(if $(CURATED),--curated "$(CURATED)")

build: $(SAM_VENV)/.installed  ## sam build, without Docker
	$(SAM) build

clean:
	rm -rf build .aws-sam bench.json
