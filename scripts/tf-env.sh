# shellcheck shell=bash
# Sourced by scripts/terraform-check.sh and scripts/tf-local.sh: finds a Terraform >= 1.5 and
# the hashicorp/aws provider on this machine, so `terraform init` never needs a registry.
#
#   tf_find      sets TF_BIN (Terraform >= 1.5: $STEADFAST_TERRAFORM, else the first `terraform`
#                on PATH that is new enough)
#                and TF_PLUGIN_DIR (a directory holding registry.terraform.io/hashicorp/aws/...:
#                $STEADFAST_TF_PLUGIN_DIR, else searched for at run time, else empty = plain
#                `terraform init` from the registry). Returns 1, having said why, when no
#                usable Terraform exists.
#   tf_init DIR [ARGS...]   terraform init in DIR from the plugin dir when there is one.
#
# Never hard-codes where the mirror lives: machine images differ.

tf_log() { printf '\033[1m%s:\033[0m %s\n' "${TF_LOG_NAME:-tf}" "$*" >&2; }

# A missing CLI configuration file named by TF_CLI_CONFIG_FILE only produces a warning on
# every command; Terraform's defaults are what we want then.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi
export CHECKPOINT_DISABLE=1 # no version check against checkpoint-api.hashicorp.com
export TF_IN_AUTOMATION=1

tf_version_ok() { # BIN: prints the version, succeeds for >= 1.5
  local v
  v=$("$1" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p') || return 1
  [[ -n "$v" ]] || return 1
  printf '%s\n' "$v"
  local major minor
  IFS=. read -r major minor _ <<<"$v"
  ((major > 1 || (major == 1 && minor >= 5)))
}

tf_find_plugin_dir() {
  if [[ -n "${STEADFAST_TF_PLUGIN_DIR:-}" ]]; then
    if [[ -d "$STEADFAST_TF_PLUGIN_DIR/registry.terraform.io/hashicorp/aws" ]]; then
      printf '%s\n' "$STEADFAST_TF_PLUGIN_DIR"
      return 0
    fi
    tf_log "STEADFAST_TF_PLUGIN_DIR=$STEADFAST_TF_PLUGIN_DIR holds no registry.terraform.io/hashicorp/aws"
    return 1
  fi
  # Where filesystem mirrors and plugin dirs usually live; pruned so a search stays fast.
  local roots=() r found
  for r in "$HOME/.terraform.d" /opt /usr/local/share /usr/share /usr/local/lib /var/lib /srv; do
    [[ -d "$r" ]] && roots+=("$r")
  done
  ((${#roots[@]})) || return 1
  found=$(find "${roots[@]}" -maxdepth 8 \( -name node_modules -o -name target -o -name .git -o -name proc \) -prune \
    -o -type f -name 'terraform-provider-aws_*' -path '*/registry.terraform.io/hashicorp/aws/*' -print 2>/dev/null |
    sort -V | tail -n 1) || true
  [[ -n "$found" ]] || return 1
  # <dir>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_...
  printf '%s\n' "${found%/registry.terraform.io/hashicorp/aws/*}"
}

tf_find() {
  local cand v
  TF_BIN=
  local candidates=()
  mapfile -t candidates < <(type -a -p terraform 2>/dev/null || true)
  for cand in "${STEADFAST_TERRAFORM:-}" "${candidates[@]}"; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    if v=$(tf_version_ok "$cand"); then
      TF_BIN=$cand
      break
    fi
    tf_log "ignoring $cand: Terraform ${v:-of unknown version} is older than 1.5"
  done
  if [[ -z "$TF_BIN" ]]; then
    tf_log "NO TERRAFORM >= 1.5 FOUND (set STEADFAST_TERRAFORM or put terraform on PATH)"
    return 1
  fi
  TF_PLUGIN_DIR=$(tf_find_plugin_dir) || TF_PLUGIN_DIR=
  if [[ -n "$TF_PLUGIN_DIR" ]]; then
    tf_log "terraform $v ($TF_BIN), providers from $TF_PLUGIN_DIR"
  else
    tf_log "terraform $v ($TF_BIN); NO LOCAL PROVIDER MIRROR FOUND: terraform init will use the registry"
  fi
  export TF_BIN TF_PLUGIN_DIR
}

tf_init() { # DIR [ARGS...]
  local dir=$1
  shift
  if [[ -n "$TF_PLUGIN_DIR" ]]; then
    "$TF_BIN" -chdir="$dir" init -input=false -no-color -plugin-dir="$TF_PLUGIN_DIR" "$@"
  else
    "$TF_BIN" -chdir="$dir" init -input=false -no-color "$@"
  fi
}
