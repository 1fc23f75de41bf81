# emergence-ops: `make generate` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPECS := $(wildcard specs/*.yaml)

.DEFAULT_GOAL := help
.PHONY: help generate check test golden bench lint tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

generate: $(STAMP) ## Generate out/ from specs/*.yaml
	$(BIN)/emergence generate $(SPECS) -o out

check: $(STAMP) tools ## Fail when out/ is stale or promtool rejects it
	$(BIN)/emergence check $(SPECS) -o out

tools: ## Install Prometheus, amtool, node (Debian) and tools/grafana-schema (npm) if missing
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null || \
		! command -v prometheus >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends prometheus prometheus-alertmanager; \
	fi
	@if ! command -v npm >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends nodejs npm; \
	fi
	@# npm ci writes node_modules/.package-lock.json, so a newer lock file means a stale install.
	@if [ ! -f tools/grafana-schema/node_modules/.package-lock.json ] || \
		[ tools/grafana-schema/package-lock.json -nt tools/grafana-schema/node_modules/.package-lock.json ]; then \
		npm ci --prefix tools/grafana-schema --no-audit --no-fund --loglevel=error >/dev/null; \
	fi

test: $(STAMP) tools ## Run every test, with the real promtool
	$(BIN)/pytest

lint: $(STAMP) ## Check formatting and lint rules with ruff
	$(BIN)/ruff format --check generator tests
	$(BIN)/ruff check generator tests

bench: $(STAMP) ## Measure generation time and memory on large synthetic specs
	$(BIN)/python scripts/bench.py

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build dist
