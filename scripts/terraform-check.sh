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

moto_env() {
  local port=$1
  shift
  env AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=steadfast-check \
    AWS_SECRET_ACCESS_KEY=steadfast-check AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "$@"
}

# terraform plan of examples/complete against the moto on $1, AMI $2, more arguments after.
plan_with() {
  local port=$1 ami=$2 d="$SCRATCH/terraform/examples/complete"
  shift 2
  moto_env "$port" "$TF_BIN" -chdir="$d" plan -input=false -no-color -lock=false \
    -var "node_bootstrap_path=$SCRATCH/node-bootstrap" -var "lambda_zip_path=$SCRATCH/bootstrap.zip" \
    -var "etcd_archive_path=$SCRATCH/etcd.tar.gz" -var "ami_id=$ami" \
    -var "etcd_sha256=$(sha256sum <"$SCRATCH/etcd.tar.gz" | cut -c1-64)" "$@"
}

# A plan that must fail: $3 says what, $4 is what its error must say, the rest are arguments.
refused() {
  local port=$1 ami=$2 what=$3 says=$4
  shift 4
  if plan_with "$port" "$ami" "$@" >"$SCRATCH/refused.log" 2>&1; then
    log "terraform plan of examples/complete accepted $what"
    exit 1
  fi
  # (Terraform wraps its messages in a box: the frame and line breaks go before matching.)
  local said
  said=$(sed 's/│//g' "$SCRATCH/refused.log" | tr -s ' \n' ' ')
  if [[ "$said" != *"$says"* ]]; then
    cat "$SCRATCH/refused.log" >&2
    log "terraform plan refused $what, but without saying \"$says\""
    exit 1
  fi
  log "    preflight refused $what"
}

plan_complete() {
  local launcher=tests/sandbox/moto/steadfast_moto.py port line i
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
  # The example pins its AMI: moto's Amazon Linux 2023 arm64 one, found as a user would.
  local ami
  ami=$(moto_env "$port" "$VENV/bin/python" -c 'import boto3; print(boto3.client("ssm").get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")["Parameter"]["Value"])')
  export TF_DATA_DIR="$SCRATCH/data/examples_complete"
  if ! plan_with "$port" "$ami" >"$SCRATCH/plan.log" 2>&1; then
    cat "$SCRATCH/plan.log" >&2
    log "terraform plan of examples/complete failed"
    exit 1
  fi
  grep '^Plan:' "$SCRATCH/plan.log" >&2
  # The preflight refuses, at plan, what a fresh account cannot run: each must fail, naming it.
  refused "$port" "$ami" "the instance type not offered in a zone (us-east-1e has no m7g)" \
    'is not offered in us-east-1e' -var 'availability_zones=["us-east-1a","us-east-1b","us-east-1e"]'
  curl -fsS -X POST -d '{"ec2_vcpu_quota": 8}' "http://127.0.0.1:$port/_steadfast/config" >/dev/null
  refused "$port" "$ami" "a vCPU quota below 9 x 2" 'need 18 vCPUs, more than'
  unset TF_DATA_DIR
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
