# steadfast: the two commands a newcomer runs are `make sandbox` and `make test`.
# Every target installs what it needs first (scripts/deps.sh is idempotent).

SHELL      := /bin/bash
VENV       := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(VENV)/etcd:$(HOME)/.cargo/bin:$(PATH)
CARGO      ?= cargo
# One target dir for everything (the SDK crates are heavy).
export CARGO_TARGET_DIR ?= $(CURDIR)/target
LAMBDA_ZIP := $(CARGO_TARGET_DIR)/lambda/peer-dns/bootstrap.zip

.PHONY: all deps build test test-rust test-moto test-terraform tf-local lambda node-bootstrap-arm64 bench chaos soak fmt lint sandbox clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --workspace --bins

## test: the whole suite: the lints, Rust (unit, SDK mocks, moto, loop devices, cargo-lambda e2e),
## the moto launcher's tests, the Terraform checks.
test: deps lint test-rust test-moto test-terraform

## Every binary first (the same features as the tests: nothing is built twice): the suites run
## the real sandbox, node-bootstrap, peer-dns and steadfast binaries.
## Nothing a test runs may be left under /run/steadfast (scripts/host-clean.sh fails the run).
test-rust:
	$(CARGO) build --workspace --bins
	scripts/host-clean.sh $(CARGO) test --workspace --no-fail-fast -- --test-threads=2

## test-moto: the moto launcher's own tests (lifecycle hooks, faults, S3 policies)
test-moto:
	$(VENV)/bin/python -m unittest discover -s tests/sandbox/moto

## test-terraform: terraform fmt + validate (Terraform from the machine, providers from its mirror),
## checkov, the HCL structure tests (templates rendered, shellcheck, systemd-analyze verify).
test-terraform: deps
	@scripts/terraform-check.sh

## tf-local: terraform apply of the real module (terraform/examples/local) against a local moto,
## then terraform destroy. KEEP=1 leaves it up (state in $(TF_LOCAL_STATE); outputs in up.json there).
TF_LOCAL_STATE ?= $(CARGO_TARGET_DIR)/tf-local
tf-local: deps
	@scripts/tf-local.sh down $(TF_LOCAL_STATE) >/dev/null
	@scripts/tf-local.sh up $(TF_LOCAL_STATE)
ifneq ($(KEEP),1)
	@scripts/tf-local.sh down $(TF_LOCAL_STATE)
else
	@echo "left up (KEEP=1): scripts/tf-local.sh down $(TF_LOCAL_STATE)"
endif

## lambda: the deployable arm64 zip of peer-dns, at target/lambda/peer-dns/bootstrap.zip
lambda: deps
	cargo-lambda lambda build --release --arm64 --output-format zip -p peer-dns
	@ls -l $(LAMBDA_ZIP)

## node-bootstrap-arm64: the aarch64 node binary Terraform uploads, at
## target/aarch64-unknown-linux-gnu/release/node-bootstrap
node-bootstrap-arm64: deps
	cargo-lambda lambda build --release --arm64 -p node-bootstrap --bin node-bootstrap
	mkdir -p $(CARGO_TARGET_DIR)/aarch64-unknown-linux-gnu/release
	cp $(CARGO_TARGET_DIR)/lambda/node-bootstrap/bootstrap $(CARGO_TARGET_DIR)/aarch64-unknown-linux-gnu/release/node-bootstrap
	@ls -l $(CARGO_TARGET_DIR)/aarch64-unknown-linux-gnu/release/node-bootstrap

## bench: peer-dns warm/cold/RSS and node-bootstrap prepare; JSON under target/bench/
bench: deps
	$(CARGO) build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/bench all

## chaos: the chaos suite under client load, each scenario on the same fresh region, in each
## timing profile: CHAOS (default all: the 16 scenarios) and CHAOS_PROFILES (default "sandbox aws"). Reports,
## charts and index.html in target/chaos/ (sandbox) and target/chaos/aws/. Needs root. Fails
## when a scenario lost a write, saw a stale read or never healed; a missed target is printed
## as MISSED with its reason. Release binaries, as `make bench`: the targets are about the
## build users deploy (make test's chaos subset runs the debug build and judges only losses).
CHAOS          ?= all
CHAOS_PROFILES ?= sandbox aws
chaos: deps
	$(CARGO) build --release --workspace --bins
	@rc=0; for p in $(CHAOS_PROFILES); do \
	  $(CARGO_TARGET_DIR)/release/sandbox chaos $(CHAOS) --profile $$p || rc=1; \
	done; exit $$rc

## soak: a fresh region brought up and down SOAK times in each of SOAK_PROFILES, kill-one under load
## in every round (release build); soak.json per profile in target/soak/<profile>/, with the
## evidence of every round whose bring-up stalled or failed. Needs root.
SOAK          ?= 20
SOAK_PROFILES ?= sandbox aws
soak: deps
	$(CARGO) build --release --workspace --bins
	@rc=0; for p in $(SOAK_PROFILES); do \
	  $(CARGO_TARGET_DIR)/release/sandbox soak --rounds $(SOAK) --profile $$p || rc=1; \
	done; exit $$rc

fmt:
	$(CARGO) fmt --all

## lint: what the workspace promises, each failing make test: rustfmt, clippy with every warning an
## error, shellcheck of every shell script, ruff on every Python file.
SHELL_SCRIPTS  = $(shell git ls-files '*.sh')
PYTHON_FILES   = $(shell git ls-files '*.py')
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	shellcheck -x $(SHELL_SCRIPTS)
	$(VENV)/bin/ruff check $(PYTHON_FILES)

## sandbox: the local region in the foreground (Ctrl-C tears it down). Needs root.
## `--workspace --bins` resolves the same features as `cargo test --workspace` (the sandbox crate
## depends on what the tests use), so after `make test` this compiles nothing new.
sandbox: deps
	$(CARGO) build --workspace --bins
	$(CARGO_TARGET_DIR)/debug/sandbox up

clean:
	$(CARGO) clean
