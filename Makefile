# Thin wrappers over cargo and scripts. `make help` lists the targets.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help build test lint fmt fmt-check migrate services bench bench-ingress bench-orders bench-tracking demo run

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

demo: ## Sandbox + all services + scripted traffic; prints what reached Engage, then stops
	@scripts/demo.sh demo

run: ## Same setup as demo without traffic; keeps running (URLs printed) until Ctrl-C
	@scripts/demo.sh run

build: ## Build every binary (debug)
	$(CARGO) build --locked --workspace

test: services ## Run every test against the local RabbitMQ and PostgreSQL
	$(CARGO) test --locked --workspace --no-fail-fast

lint: ## Formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

migrate: services ## Apply database migrations to the configured database
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'connector'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE connector"
	$(CARGO) run --locked -q -p connectorctl -- migrate

services: ## Make sure RabbitMQ and PostgreSQL are up (starts them when possible)
	@scripts/services.sh

bench: bench-ingress bench-orders bench-tracking ## Run every benchmark

bench-ingress: services ## Signed webhooks against a release ingress, beside the broker's raw rate
	@scripts/ensure-wrk.sh
	$(CARGO) build --locked --release -p ingress --bin ingress --example bench_ingress
	target/release/examples/bench_ingress target/release/ingress

bench-orders: services ## New orders through ingress -> order-processor -> sandbox Engage, then under a BigCommerce quota
	$(CARGO) build --locked --release -p e2e --example bench_pipeline
	target/release/examples/bench_pipeline orders $(or $(N),2000)

bench-tracking: services ## Product-view beacons through ingress -> tracking-forwarder -> sandbox Engage, warm cache
	$(CARGO) build --locked --release -p e2e --example bench_pipeline
	target/release/examples/bench_pipeline tracking $(or $(N),20000)
