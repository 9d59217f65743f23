#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tf-local.sh: `terraform apply` of the real module (terraform/examples/local) against a moto
# server on this machine, and `terraform destroy` of it. Offline: Terraform's provider comes
# from the local mirror (scripts/tf-env.sh), every AWS API from moto on 127.0.0.1.
#
# CONTRACT (the Rust end-to-end test and `make tf-local` rely on it; keep it stable)
#
#   scripts/tf-local.sh up <state-dir>
#     Starts the moto launcher (tests/sandbox/moto/steadfast_moto.py) on free ports of
#     127.0.0.1, copies terraform/{modules,examples/local} into <state-dir>/config (nothing is
#     written into the repository), runs `terraform init` (plugin mirror, TF_DATA_DIR and the
#     local backend's state under <state-dir>) and `terraform apply -auto-approve` against the
#     launcher's https port. On success it prints ONE JSON object on stdout (logs go to
#     stderr) and leaves the launcher running:
#       {"state_dir": "...",
#        "moto": {"pid": N, "http_endpoint": "http://127.0.0.1:P",
#                 "https_endpoint": "https://127.0.0.1:Q", "cert_file": <its certificate>, "region": "us-east-1",
#                 "access_key": "steadfast-local", "secret_key": "steadfast-local"},
#        "outputs": <`terraform output -json` of examples/local, verbatim>,
#        "seconds": {"moto": s, "init": s, "apply": s, "total": s}}
#     The same object is saved as <state-dir>/up.json. On failure it stops the launcher
#     again, leaves nothing running, and exits non-zero (its logs stay in <state-dir>).
#     <state-dir> must not hold a running launcher already (run `down` first).
#
#   scripts/tf-local.sh down <state-dir>
#     The data volumes carry prevent_destroy, so it first removes them from Terraform's state
#     (`terraform state rm module.etcd.aws_ebs_volume.peer`), runs `terraform destroy
#     -auto-approve`, then deletes those volumes through the moto API (detaching them first
#     if anything still holds them), and stops the launcher. Prints {"seconds": {...}} on
#     stdout. Safe to run after a failed or partial `up`, and twice.
#
#   scripts/tf-local.sh destroy <state-dir>
#     `down` without stopping the launcher: what Terraform made is gone, and whatever it does
#     not own (the CA secret the nodes created, objects in a kept bucket) stays in moto, as in
#     an account. Prints {"seconds": {...}}.
#
#   scripts/tf-local.sh apply <state-dir>
#     `up` against the launcher `up` started (after a `destroy`: the same name again, a new
#     deployment), with the variables `up` was given. Prints the new up.json.
#
#   Inputs (environment):
#     TF_VAR_<name>            any variable of terraform/examples/local, e.g.
#                              TF_VAR_node_bootstrap_path, TF_VAR_lambda_zip_path,
#                              TF_VAR_etcd_archive_path (the files it uploads: any existing
#                              files; small stand-ins are generated in <state-dir> when
#                              unset), TF_VAR_peer_count, TF_VAR_cluster_name,
#                              TF_VAR_lifecycle_hook_heartbeat_timeout.
#     STEADFAST_TF_PLUGIN_DIR  the provider mirror (else searched for; else the registry).
#     STEADFAST_TERRAFORM      the terraform binary (else `terraform` on PATH; >= 1.5).
#     STEADFAST_TF_MOTO_PORT, STEADFAST_TF_MOTO_SSL_PORT
#                              the launcher's http and https ports (default: free ones; the
#                              sandbox's Terraform mode puts it on its own fixed port).
#     STEADFAST_TF_MOTO_LOG    the launcher's log (default <state-dir>/moto.log).
#     VENV                     the Python venv with moto (default .venv of the repository).
#
# Measured on the 2-core machine (9 peers): see terraform/README.md, "Offline apply".
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV="${VENV:-$REPO/.venv}"
LAUNCHER="$REPO/tests/sandbox/moto/steadfast_moto.py"
export TF_LOG_NAME=tf-local
# shellcheck source=tf-env.sh
source "$REPO/scripts/tf-env.sh"
log() { tf_log "$@"; }
die() {
  log "$*"
  exit 1
}

usage() { die "usage: $0 up|down|destroy|apply <state-dir>"; }
[[ $# -eq 2 ]] || usage
CMD=$1
mkdir -p "$2"
STATE=$(cd "$2" && pwd)
CONFIG="$STATE/config/examples/local"
export TF_DATA_DIR="$STATE/tf-data"
export AWS_ACCESS_KEY_ID=steadfast-local AWS_SECRET_ACCESS_KEY=steadfast-local AWS_DEFAULT_REGION=us-east-1
# Never let anything here reach a real endpoint through a proxy or a profile.
unset AWS_PROFILE AWS_SESSION_TOKEN HTTPS_PROXY HTTP_PROXY https_proxy http_proxy
export NO_PROXY=127.0.0.1,localhost

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

launcher_pid() { # the recorded pid, only while it is still our launcher
  local pid
  [[ -f "$STATE/moto.pid" ]] || return 1
  pid=$(<"$STATE/moto.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmdline" == *steadfast_moto.py* ]] || return 1
  printf '%s\n' "$pid"
}

stop_launcher() {
  local pid i
  if pid=$(launcher_pid); then
    log "stopping the moto launcher (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "launcher $pid ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/moto.pid" "$STATE/moto.env"
}

start_launcher() {
  local pid line i
  [[ -f "$LAUNCHER" ]] || die "the moto launcher $LAUNCHER is missing"
  [[ -x "$VENV/bin/python" ]] || die "no Python venv at $VENV: run scripts/deps.sh"
  : >"$STATE/moto.out"
  # Its own session, so a Ctrl-C of the caller does not take it down half-way; `down` (or the
  # failure path of `up`) stops it by its recorded pid.
  setsid "$VENV/bin/python" "$LAUNCHER" --host 127.0.0.1 --port "${STEADFAST_TF_MOTO_PORT:-0}" \
    --ssl-port "${STEADFAST_TF_MOTO_SSL_PORT:-0}" --cert-file "$STATE/moto-cert.pem" \
    >"$STATE/moto.out" 2>"${STEADFAST_TF_MOTO_LOG:-$STATE/moto.log}" </dev/null &
  pid=$!
  echo "$pid" >"$STATE/moto.pid"
  for ((i = 0; i < 600; i++)); do
    line=$(grep -m1 '^steadfast-moto ready ' "$STATE/moto.out" || true)
    [[ -n "$line" ]] && break
    kill -0 "$pid" 2>/dev/null || die "the moto launcher exited at start (see $STATE/moto.log)"
    sleep 0.1
  done
  [[ -n "$line" ]] || die "the moto launcher did not get ready in 60 s (see $STATE/moto.log)"
  MOTO_HTTP=${line#*http=}
  MOTO_HTTP=${MOTO_HTTP%% *}
  MOTO_HTTPS=${line#*https=}
  MOTO_HTTPS=${MOTO_HTTPS%% *}
  [[ "$MOTO_HTTP" =~ ^[0-9]+$ && "$MOTO_HTTPS" =~ ^[0-9]+$ ]] || die "unexpected launcher line: $line"
  printf 'MOTO_PID=%s\nMOTO_HTTP=%s\nMOTO_HTTPS=%s\n' "$pid" "$MOTO_HTTP" "$MOTO_HTTPS" >"$STATE/moto.env"
  log "moto launcher pid $pid: http://127.0.0.1:$MOTO_HTTP https://127.0.0.1:$MOTO_HTTPS"
}

# Small stand-ins for the uploaded files when the caller gives none: moto stores them, never
# runs them.
default_artifacts() {
  local dir="$STATE/artifacts"
  mkdir -p "$dir"
  if [[ -z "${TF_VAR_node_bootstrap_path:-}" ]]; then
    printf '#!/bin/sh\necho "node-bootstrap stand-in (scripts/tf-local.sh)"\n' >"$dir/node-bootstrap"
    export TF_VAR_node_bootstrap_path="$dir/node-bootstrap"
  fi
  if [[ -z "${TF_VAR_lambda_zip_path:-}" ]]; then
    "$VENV/bin/python" - "$dir/bootstrap.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\necho peer-dns stand-in\n")
PY
    export TF_VAR_lambda_zip_path="$dir/bootstrap.zip"
  fi
  if [[ -z "${TF_VAR_etcd_archive_path:-}" ]]; then
    mkdir -p "$dir/etcd-stand-in"
    printf '#!/bin/sh\necho "etcd Version: stand-in"\n' >"$dir/etcd-stand-in/etcd"
    tar -czf "$dir/etcd.tar.gz" -C "$dir" etcd-stand-in
    export TF_VAR_etcd_archive_path="$dir/etcd.tar.gz"
  fi
}

tf() { "$TF_BIN" -chdir="$CONFIG" "$@"; }

cmd_up() {
  local t0 t1 seconds_moto
  t0=$(now)
  if launcher_pid >/dev/null; then
    die "$STATE already has a running launcher (pid $(launcher_pid)): run '$0 down $STATE' first"
  fi
  tf_find || die "cannot apply without Terraform"
  rm -rf "$STATE/config" "$STATE/up.json"
  mkdir -p "$STATE/config"
  cp -R "$REPO/terraform/modules" "$STATE/config/modules"
  mkdir -p "$STATE/config/examples"
  cp -R "$REPO/terraform/examples/local" "$CONFIG"
  rm -rf "$CONFIG/.terraform" "$CONFIG/.terraform.lock.hcl"
  default_artifacts
  # `down` needs the same variables (Terraform evaluates the configuration to destroy it).
  local name
  for name in $(compgen -e | grep '^TF_VAR_' || true); do
    printf 'export %s=%q\n' "$name" "${!name}"
  done >"$STATE/tf-vars.env"

  # From here on, any failure stops the launcher: `up` leaves nothing running unless it
  # succeeded.
  # shellcheck disable=SC2154 # rc is assigned inside the trap
  trap 'rc=$?; if ((rc != 0)); then log "up failed (exit $rc); logs in $STATE"; stop_launcher; fi' EXIT

  t1=$(now)
  start_launcher
  seconds_moto=$(since "$t1")
  apply_and_report "$t0" "$seconds_moto"
  trap - EXIT
  log "up in $(since "$t0")s; run '$0 down $STATE' to tear it down"
}

# Whether every error in the log $1 is an AWS API call that failed (`operation error ...`): what
# a second run heals, as an operator would re-run it. The one seen: under load the provider
# retried a CreateInstanceProfile whose first try had succeeded, and got EntityAlreadyExists for
# its own name_prefix'd name (the failed create is not in the state; the next run makes a new
# name). A configuration error (a precondition, a bad reference) is never retried.
api_errors_only() {
  local errors api
  errors=$(grep -c '^Error: ' "$1" || true)
  api=$(grep -c '^Error: .*operation error ' "$1" || true)
  ((errors > 0 && errors == api))
}

# terraform $1 (apply or destroy) against the running launcher, run again (at most twice more)
# when it failed on AWS API errors only; the log of a failed run is kept as $1-<n>.log.
tf_converge() {
  local what=$1 n
  for n in 1 2 3; do
    log "terraform $what against https://127.0.0.1:$MOTO_HTTPS (log: $STATE/$what.log)"
    if tf "$what" -auto-approve -input=false -no-color -var "moto_endpoint=https://127.0.0.1:$MOTO_HTTPS" \
      >"$STATE/$what.log" 2>&1; then
      return 0
    fi
    tail -n 40 "$STATE/$what.log" >&2
    if ((n == 3)) || ! api_errors_only "$STATE/$what.log"; then
      die "terraform $what failed: see $STATE/$what.log"
    fi
    cp "$STATE/$what.log" "$STATE/$what-$n.log"
    log "!!! terraform $what failed on AWS API errors only (kept: $STATE/$what-$n.log); running it again !!!"
  done
}

# init and apply against the running launcher ($MOTO_HTTP, $MOTO_HTTPS); up.json on stdout.
apply_and_report() { # T0 SECONDS_MOTO
  local t0=$1 seconds_moto=$2 t1 seconds_init seconds_apply
  t1=$(now)
  log "terraform init (examples/local, state under $STATE)"
  tf_init "$CONFIG" -backend-config="path=$STATE/terraform.tfstate" >"$STATE/init.log" 2>&1 ||
    die "terraform init failed: see $STATE/init.log"
  seconds_init=$(since "$t1")

  t1=$(now)
  tf_converge apply
  seconds_apply=$(since "$t1")
  log "applied in ${seconds_apply}s"

  tf output -json >"$STATE/outputs.json"
  "$VENV/bin/python" - "$STATE" "$MOTO_HTTP" "$MOTO_HTTPS" "$(<"$STATE/moto.pid")" \
    "$seconds_moto" "$seconds_init" "$seconds_apply" "$(since "$t0")" <<'PY' >"$STATE/up.json"
import json, sys
state, http, https, pid, s_moto, s_init, s_apply, s_total = sys.argv[1:]
with open(f"{state}/outputs.json", encoding="utf-8") as fh:
    outputs = json.load(fh)
print(json.dumps({
    "state_dir": state,
    "moto": {
        "pid": int(pid),
        "http_endpoint": f"http://127.0.0.1:{http}",
        "https_endpoint": f"https://127.0.0.1:{https}",
        # The https endpoint's self-signed certificate (a client trusts it as its only root).
        "cert_file": f"{state}/moto-cert.pem",
        "region": "us-east-1",
        "access_key": "steadfast-local",
        "secret_key": "steadfast-local",
    },
    "outputs": outputs,
    "seconds": {"moto": float(s_moto), "init": float(s_init), "apply": float(s_apply), "total": float(s_total)},
}, indent=2))
PY
  cat "$STATE/up.json"
}

# `up` again, against the launcher `up` started and with its variables.
cmd_apply() {
  local t0
  t0=$(now)
  launcher_pid >/dev/null || die "no running launcher in $STATE: run '$0 up $STATE'"
  [[ -f "$STATE/tf-vars.env" ]] || die "$STATE has no tf-vars.env: run '$0 up $STATE'"
  tf_find || die "cannot apply without Terraform"
  # shellcheck disable=SC1091
  source "$STATE/moto.env"
  # shellcheck disable=SC1091
  source "$STATE/tf-vars.env"
  rm -f "$STATE/up.json"
  apply_and_report "$t0" 0
  log "applied again in $(since "$t0")s"
}

# DeleteVolume through the moto API, detaching first whatever still holds a volume.
delete_volumes() { # VOLUME_ID...
  "$VENV/bin/python" - "http://127.0.0.1:$MOTO_HTTP" "$@" <<'PY'
import sys, time
import boto3
endpoint, volumes = sys.argv[1], sys.argv[2:]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="steadfast-local", aws_secret_access_key="steadfast-local")
for vol in volumes:
    try:
        desc = ec2.describe_volumes(VolumeIds=[vol])["Volumes"]
    except ec2.exceptions.ClientError as exc:
        print(f"tf-local: {vol}: {exc}", file=sys.stderr)
        continue
    for att in (desc[0].get("Attachments") or []) if desc else []:
        ec2.detach_volume(VolumeId=vol, InstanceId=att["InstanceId"], Force=True)
    for _ in range(50):
        state = ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"]
        if state == "available":
            break
        time.sleep(0.1)
    ec2.delete_volume(VolumeId=vol)
    print(f"tf-local: deleted {vol} through the moto API", file=sys.stderr)
PY
}

cmd_down() {
  destroy_all stop
}

cmd_destroy() {
  launcher_pid >/dev/null || die "no running launcher in $STATE: nothing to destroy"
  destroy_all keep
}

# terraform destroy of what `up` or `apply` made; $1: `stop` the launcher afterwards, or `keep` it.
destroy_all() {
  local launcher=$1 t0 t1 seconds_destroy=0 volumes=()
  t0=$(now)
  if ! launcher_pid >/dev/null; then
    log "no running launcher in $STATE: nothing to destroy (moto's state went with it)"
    stop_launcher
    printf '{"seconds": {"destroy": 0, "total": %s}}\n' "$(since "$t0")"
    return 0
  fi
  # shellcheck disable=SC1091
  source "$STATE/moto.env"
  if [[ -f "$STATE/tf-vars.env" ]]; then
    # shellcheck disable=SC1091
    source "$STATE/tf-vars.env"
  fi
  # A file given to `up` may be gone by now (a rebuilt binary); destroying only needs some file.
  local var
  for var in TF_VAR_node_bootstrap_path TF_VAR_lambda_zip_path TF_VAR_etcd_archive_path; do
    if [[ -n "${!var:-}" && ! -e "${!var}" ]]; then
      log "${!var} is gone: destroying with a stand-in for ${var#TF_VAR_}"
      unset "$var"
    fi
  done
  default_artifacts
  tf_find || die "cannot destroy without Terraform (the launcher is left running: pid $(launcher_pid))"
  if [[ "$launcher" == stop ]]; then
    trap 'stop_launcher' EXIT
  fi
  if [[ -d "$CONFIG" && -f "$STATE/terraform.tfstate" ]]; then
    t1=$(now)
    # The data volumes are prevent_destroy (a real cluster's data): forget them first, destroy
    # the rest, then delete them through the moto API below.
    mapfile -t volumes < <(tf output -json volume_ids 2>/dev/null |
      "$VENV/bin/python" -c 'import json,sys; [print(v) for v in json.load(sys.stdin).values()]' 2>/dev/null || true)
    # (No `terraform state list | grep -q`: under pipefail, grep -q's early exit can fail the
    # pipeline with SIGPIPE.)
    local addresses
    addresses=$(tf state list 2>/dev/null || true)
    if [[ "$addresses" == *"module.etcd.aws_ebs_volume.peer["* ]]; then
      if ((${#volumes[@]} == 0)); then
        local addr
        while read -r addr; do
          [[ "$addr" == "module.etcd.aws_ebs_volume.peer["* ]] || continue
          volumes+=("$(tf state show -no-color "$addr" | sed -n 's/^ *id *= *"\(vol-[^"]*\)".*/\1/p')")
        done <<<"$addresses"
      fi
      log "terraform state rm module.etcd.aws_ebs_volume.peer (prevent_destroy; ${#volumes[@]} volumes deleted through moto afterwards)"
      tf state rm -no-color 'module.etcd.aws_ebs_volume.peer' >"$STATE/state-rm.log" 2>&1
    fi
    tf_converge destroy
    if ((${#volumes[@]})); then
      delete_volumes "${volumes[@]}"
    fi
    seconds_destroy=$(since "$t1")
    log "destroyed in ${seconds_destroy}s"
  fi
  if [[ "$launcher" == stop ]]; then
    trap - EXIT
    stop_launcher
  fi
  printf '{"seconds": {"destroy": %s, "total": %s}}\n' "$seconds_destroy" "$(since "$t0")"
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  apply) cmd_apply ;;
  destroy) cmd_destroy ;;
  *) usage ;;
esac
