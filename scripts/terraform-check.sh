#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Offline checks of the Terraform: formatting, validation, security policy, structure.
#
#   1. terraform fmt -check (Terraform >= 1.5: the same binary as everything else)
#   2. terraform validate of the module and of every example (init from the local provider
#      mirror, in a scratch copy: nothing is written into the repository), and terraform plan
#      of examples/complete against a local moto server (tests/sandbox/moto)
#   3. checkov --skip-download: zero failed checks (skips are inline, with their reason)
#   4. terraform/tests/test_structure.py: HCL structure, the module's own formulas evaluated,
#      templates rendered by Terraform and checked with bash -n, shellcheck and
#      systemd-analyze verify, the install script run against stubs
#   5. shellcheck of the repository's own Terraform scripts
#
# The apply/destroy against moto is scripts/tf-local.sh (`make tf-local`; the Rust end-to-end
# test runs it too). Never talks to AWS. Without a usable Terraform (>= 1.5 plus the AWS
# provider from the mirror or a reachable registry) steps 1-2 are skipped LOUDLY, and the
# script fails when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV="${VENV:-.venv}"
export TF_LOG_NAME=terraform-check
# shellcheck source=tf-env.sh
source scripts/tf-env.sh
log() { tf_log "$@"; }
# CI is true or 1 (any case), as in the Rust and Python checks.
ci() { local c="${CI:-}"; [[ "${c,,}" == true || "$c" == 1 ]]; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
missing_terraform() {
  log "!!! $* !!!"
  if ci; then
    log "failing: CI=true"
    exit 1
  fi
}

MOTO_PID=
stop_moto() {
  if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill -TERM "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  MOTO_PID=
}
cleanup() {
  stop_moto
  if [[ -n "${SCRATCH:-}" ]]; then rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT

plan_complete() {
  local launcher=tests/sandbox/moto/steadfast_moto.py port line i d="$SCRATCH/terraform/examples/complete"
  if [[ ! -f "$launcher" ]]; then
    missing_terraform "$launcher is missing: the plan of examples/complete DID NOT RUN"
    return 0
  fi
  "$VENV/bin/python" "$launcher" --host 127.0.0.1 --port 0 >"$SCRATCH/moto.out" 2>"$SCRATCH/moto.log" </dev/null &
  MOTO_PID=$!
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 '^steadfast-moto ready ' "$SCRATCH/moto.out" || true)
    [[ -n "$line" ]] && break
    sleep 0.1
  done
  [[ -n "$line" ]] || {
    cat "$SCRATCH/moto.log" >&2
    log "the moto launcher did not start"
    exit 1
  }
  port=${line#*http=}
  port=${port%% *}
  printf 'node-bootstrap stand-in\n' >"$SCRATCH/node-bootstrap"
  printf 'peer-dns stand-in\n' >"$SCRATCH/bootstrap.zip"
  printf 'etcd stand-in\n' >"$SCRATCH/etcd.tar.gz"
  export TF_DATA_DIR="$SCRATCH/data/examples_complete"
  if ! env AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=steadfast-check \
    AWS_SECRET_ACCESS_KEY=steadfast-check AWS_EC2_METADATA_DISABLED=true \
    "$TF_BIN" -chdir="$d" plan -input=false -no-color -lock=false \
    -var "node_bootstrap_path=$SCRATCH/node-bootstrap" -var "lambda_zip_path=$SCRATCH/bootstrap.zip" \
    -var "etcd_archive_path=$SCRATCH/etcd.tar.gz" \
    -var "etcd_sha256=$(sha256sum <"$SCRATCH/etcd.tar.gz" | cut -c1-64)" >"$SCRATCH/plan.log" 2>&1; then
    cat "$SCRATCH/plan.log" >&2
    log "terraform plan of examples/complete failed"
    exit 1
  fi
  unset TF_DATA_DIR
  grep '^Plan:' "$SCRATCH/plan.log" >&2
  stop_moto
}

for tool in "$VENV/bin/checkov" "$VENV/bin/python"; do
  [[ -x "$tool" ]] || {
    log "missing $tool: run scripts/deps.sh"
    exit 1
  }
done

T0=$(now)
have_tf=true
tf_find || {
  have_tf=false
  missing_terraform "NO TERRAFORM >= 1.5: terraform fmt and terraform validate DID NOT RUN"
}

if $have_tf; then
  t=$(now)
  log "1/5 terraform fmt -check -recursive terraform"
  if ! "$TF_BIN" fmt -check -recursive -diff terraform; then
    log "formatting differs: run terraform fmt -recursive terraform"
    exit 1
  fi
  log "    fmt: $(since "$t")s"

  t=$(now)
  SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/steadfast-tf-validate.XXXXXX")
  cp -R terraform "$SCRATCH/terraform"
  find "$SCRATCH/terraform" \( -name .terraform -o -name .terraform.lock.hcl -o -name '*.tfstate*' \) -prune -exec rm -rf {} +
  dirs=(modules/etcd-cluster)
  for d in terraform/examples/*/; do
    dirs+=("examples/$(basename "$d")")
  done
  log "2/5 terraform validate: ${dirs[*]}"
  for d in "${dirs[@]}"; do
    export TF_DATA_DIR="$SCRATCH/data/${d//\//_}"
    if ! tf_init "$SCRATCH/terraform/$d" -backend=false >"$SCRATCH/init.log" 2>&1; then
      cat "$SCRATCH/init.log" >&2
      if [[ -z "$TF_PLUGIN_DIR" ]]; then
        missing_terraform "terraform init of $d failed and no local provider mirror exists: validate DID NOT RUN"
        break
      fi
      exit 1
    fi
    "$TF_BIN" -chdir="$SCRATCH/terraform/$d" validate -no-color >&2
  done
  unset TF_DATA_DIR
  log "    validate: $(since "$t")s"

  # terraform plan of examples/complete, its provider pointed at a local moto through
  # AWS_ENDPOINT_URL: the data sources resolve and everything plans, including the client rules
  # built from a security group and an address that only exist after apply (review item e).
  t=$(now)
  log "2b/5 terraform plan of examples/complete against a local moto"
  plan_complete
  log "    plan: $(since "$t")s"
fi

# Zero failed checks; every skip is an inline #checkov:skip=<id>:<reason> next to its resource.
# Offline: --skip-download (no policy download), no PyPI update check, no platform mapping.
t=$(now)
log "3/5 checkov -d terraform --skip-download ($("$VENV/bin/checkov" --version))"
CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
  "$VENV/bin/checkov" -d terraform --skip-download --quiet --compact
log "    checkov: $(since "$t")s"

t=$(now)
log "4/5 structural assertions (terraform/tests/test_structure.py)"
if $have_tf; then export STEADFAST_TERRAFORM="$TF_BIN"; fi
"$VENV/bin/python" terraform/tests/test_structure.py
log "    structure: $(since "$t")s"

t=$(now)
log "5/5 shellcheck of the Terraform scripts"
if command -v shellcheck >/dev/null; then
  shellcheck -x scripts/terraform-check.sh scripts/tf-local.sh scripts/tf-env.sh terraform/scripts/*.sh
else
  log "!!! shellcheck NOT FOUND: scripts not checked (scripts/deps.sh installs it) !!!"
  if ci; then exit 1; fi
fi
log "    shellcheck: $(since "$t")s"

log "ok in $(since "$T0")s (repository: $REPO)"
