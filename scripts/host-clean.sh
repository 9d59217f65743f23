#!/usr/bin/env bash
# Runs a command (make test's cargo test) and fails when it leaves anything new under
# /run/steadfast, node-bootstrap's default home on a node (its env file, TLS files): a test must
# give every node a directory of its own. A sandbox's own state folder (/run/steadfast/<name>,
# named by STEADFAST_SANDBOX_NAME) is its teardown's business and is not counted here.
set -uo pipefail
list() {
  find /run/steadfast -mindepth 1 2>/dev/null | grep -v -E '^/run/steadfast/steadfast-[^/]+(/|$)' | sort
}
before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
list >"$before"
"$@"
rc=$?
list >"$after"
new=$(comm -13 "$before" "$after")
if [[ -n "$new" ]]; then
  echo "host-clean: the run left these under /run/steadfast (give the test's node a directory of its own):" >&2
  echo "$new" | head -20 >&2
  [[ $rc -eq 0 ]] && rc=1
fi
exit $rc
