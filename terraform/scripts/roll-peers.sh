#!/usr/bin/env bash
# Replace the peers of a steadfast cluster ONE AT A TIME, after a change to their launch
# templates (etcd_version, AMI, instance type, node-bootstrap build, user-data).
#
#   terraform/scripts/roll-peers.sh <cluster_name> <client_target_group_arn> [peer_count]
#                                                                    (needs aws CLI v2)
#
# Why not Terraform's instance_refresh block: it would start a refresh on all nine ASGs in the
# same apply, and with one instance per ASG that is all nine peers at once (quorum lost).
#
# For each peer in order, this starts an instance refresh of that peer's ASG that terminates
# first and launches second (MinHealthyPercentage 0, MaxHealthyPercentage 100: two instances
# must never serve one peer, and the new one needs the old one's volume), skipping instances
# already on the latest launch template (SkipMatching).
#
# InService is not health: with the hook's default result (CONTINUE) an instance whose node
# refused, or whose etcd never became healthy, is InService too, and a bad change would roll
# through every peer. So each step is gated on the member itself, as the load balancer sees it
# (its health check is etcd's own /health on :2381): before each peer, every peer's instance
# must be InService AND a healthy target of the client target group (the module's output
# client_target_group_arn); after its refresh, the new instance must become a healthy target
# within HEALTHY_TIMEOUT_SECONDS, or the roll stops with that one peer affected. Run it again to
# resume (finished peers are skipped).
set -euo pipefail

usage="usage: roll-peers.sh <cluster_name> <client_target_group_arn> [peer_count]"
cluster="${1:?$usage}"
tg="${2:?$usage}"
peers="${3:-9}"
warmup="${WARMUP_SECONDS:-60}"
poll="${POLL_SECONDS:-15}"
healthy_timeout="${HEALTHY_TIMEOUT_SECONDS:-900}"
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

# The instance ids the client target group calls healthy, one per line.
healthy_targets() {
  # shellcheck disable=SC2016 # backquotes are a JMESPath literal, not a command substitution
  aws elbv2 describe-target-health --target-group-arn "$tg" \
    --query 'TargetHealthDescriptions[?TargetHealth.State==`healthy`].Target.Id' --output text | tr '\t' '\n' | grep -v '^$' || true
}

all_healthy() {
  local n
  all_in_service || return 1
  n=$(healthy_targets | wc -l)
  if [[ $n -lt $peers ]]; then
    log "  $n of $peers members are healthy targets of the client load balancer"
    return 1
  fi
}

# The instance the group holds now.
instance_of() {
  aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$1" \
    --query 'AutoScalingGroups[0].Instances[0].InstanceId' --output text
}

for asg in "${asgs[@]}"; do
  until all_healthy; do
    log "waiting until every peer is InService and healthy before touching $asg"
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
      Successful) break ;;
      Failed | Cancelled | RollbackSuccessful | RollbackFailed)
        log "$asg: refresh $status; stopping the roll (fix, then run again)"
        exit 1
        ;;
      *) sleep "$poll" ;;
    esac
  done
  # InService is not enough (see above): the new member must be a healthy target.
  new=$(instance_of "$asg")
  deadline=$((SECONDS + healthy_timeout))
  until [[ " $(healthy_targets | tr '\n' ' ') " == *" $new "* ]]; do
    if ((SECONDS > deadline)); then
      log "$asg: $new is not a healthy target after ${healthy_timeout}s; stopping the roll with this one peer affected (read its node's journal: journalctl -u node-bootstrap -u etcd-member -u node-ready)"
      exit 1
    fi
    log "$asg: waiting for $new to be a healthy target"
    sleep "$poll"
  done
  log "$asg: done ($new healthy)"
done
log "all $peers peers are on their latest launch template, each healthy"
