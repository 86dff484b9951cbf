# Thin wrappers: each target is a line or two. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test check lint types bench screenshots audit reconcile orders browser clean css css-check typecheck lighthouse

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock && touch $@

.env:
	cp sample.env .env

run: $(STAMP) .env ## Serve the shop on http://127.0.0.1:5000 (starts the local Stripe sandbox when no keys are set)
	$(BIN)/python -m bookshop

test: $(STAMP) browser ## Run the whole test suite
	$(BIN)/pytest -q

browser: ## Install Debian's Chromium for the browser tests if missing (needs root)
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "Could not install chromium: browser tests will be skipped (apt-get install chromium)"

bench: $(STAMP) ## Benchmark the shop under load against a slow (250 ms) sandbox; see docs/performance.md
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

screenshots: $(STAMP) browser ## Save screenshots of the shop, checkout, decline and receipt to docs/
	$(BIN)/python -m tests.e2e.screenshots

orders: $(STAMP) ## Print recent orders, paid ones to ship first
	$(BIN)/quart --app bookshop orders

reconcile: $(STAMP) ## Repair the orders ledger from Stripe's PaymentIntents (SINCE=2026-11-01 to go back further)
	$(BIN)/quart --app bookshop reconcile $(if $(SINCE),--since $(SINCE))

audit: $(STAMP) ## Check the locked dependencies for known vulnerabilities
	$(BIN)/pip-audit --strict --require-hashes --disable-pip -r requirements.lock

lint: $(STAMP) ## Ruff
	$(BIN)/ruff check bookshop tests && $(BIN)/ruff format --check bookshop tests

types: $(STAMP) ## Mypy, strict
	$(BIN)/mypy

check: lint types test ## Lint, types and tests

tools/%/node_modules: tools/%/package.json tools/%/package-lock.json
	cd tools/$* && npm ci --no-audit --no-fund --ignore-scripts --silent && touch node_modules

css: tools/css/node_modules ## Cut Bootstrap down to the classes the templates use (PurgeCSS)
	node tools/css/build.mjs

css-check: tools/css/node_modules ## Fail if the Bootstrap subset differs from what `make css` makes
	node tools/css/build.mjs --check

typecheck: tools/typecheck/node_modules ## Type-check static/js/checkout.js against Stripe.js's own types (TypeScript)
	node tools/typecheck/node_modules/typescript/bin/tsc -p tools/typecheck

lighthouse: $(STAMP) browser tools/lighthouse/node_modules ## Lighthouse (mobile) on the shop, a book, the cart and checkout; writes docs/lighthouse.md
	$(BIN)/python -m tests.perf.lighthouse $(LIGHTHOUSE_ARGS)

clean: ## Remove the environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/*/node_modules
