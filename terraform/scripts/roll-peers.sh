#!/usr/bin/env bash
# Replace the peers of a steadfast cluster ONE AT A TIME, after a change to their launch
# templates (etcd_version, AMI, instance type, node-bootstrap build, user-data).
#
#   terraform/scripts/roll-peers.sh <cluster_name> [peer_count]      (needs aws CLI v2)
#
# Why not Terraform's instance_refresh block: it would start a refresh on all nine ASGs in the
# same apply, and with one instance per ASG that is all nine peers at once (quorum lost).
#
# For each peer in order, this starts an instance refresh of that peer's ASG that terminates
# first and launches second (MinHealthyPercentage 0, MaxHealthyPercentage 100: two instances
# must never serve one peer, and the new one needs the old one's volume), skipping instances
# already on the latest launch template (SkipMatching). A refresh only succeeds once the new
# instance is InService, and an instance only becomes InService when node-bootstrap completes
# the LAUNCHING lifecycle action, i.e. when its etcd member is healthy and caught up. Before
# each peer, every peer must be InService, so at most one member is ever down. Any failure
# stops the roll; run it again to resume (finished peers are skipped).
set -euo pipefail

cluster="${1:?usage: roll-peers.sh <cluster_name> [peer_count]}"
peers="${2:-9}"
warmup="${WARMUP_SECONDS:-60}"
poll="${POLL_SECONDS:-15}"
log() { printf '%s roll-peers: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

asgs=()
for ((n = 0; n < peers; n++)); do asgs+=("$cluster-peer-$n"); done

all_in_service() {
  local states
  # shellcheck disable=SC2016 # backquotes are a JMESPath literal, not a command substitution
  states=$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "${asgs[@]}" \
    --query 'AutoScalingGroups[].[AutoScalingGroupName, length(Instances[?LifecycleState==`InService`])]' \
    --output text)
  if [[ $(wc -l <<<"$states") -ne $peers ]]; then
    log "expected $peers ASGs named $cluster-peer-N, found: $(cut -f1 <<<"$states" | tr '\n' ' ')"
    return 1
  fi
  if awk '$2 != 1 { bad = 1; print "  not InService: " $1 } END { exit bad }' <<<"$states" >&2; then
    return 0
  fi
  return 1
}

for asg in "${asgs[@]}"; do
  until all_in_service; do
    log "waiting until every peer is InService before touching $asg"
    sleep "$poll"
  done
  id=$(aws autoscaling start-instance-refresh --auto-scaling-group-name "$asg" --strategy Rolling \
    --preferences "{\"MinHealthyPercentage\":0,\"MaxHealthyPercentage\":100,\"InstanceWarmup\":$warmup,\"SkipMatching\":true}" \
    --query InstanceRefreshId --output text)
  log "$asg: instance refresh $id started"
  while :; do
    status=$(aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$asg" \
      --instance-refresh-ids "$id" --query 'InstanceRefreshes[0].Status' --output text)
    case "$status" in
      Successful) log "$asg: done"; break ;;
      Failed | Cancelled | RollbackSuccessful | RollbackFailed)
        log "$asg: refresh $status; stopping the roll (fix, then run again)"
        exit 1
        ;;
      *) sleep "$poll" ;;
    esac
  done
done
log "all $peers peers are on their latest launch template"
