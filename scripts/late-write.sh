#!/bin/bash
# Shows etcd's contract for a request that timed out: it may still be applied, later.
#
# Three local etcd members (127.0.9.1-3, loopback only). The leader is frozen (SIGSTOP); a put
# of k=OLD is sent to a follower, which forwards it to the frozen leader, and times out at the
# client (0.5 s). The two others elect a new leader and k=NEW is acknowledged. Then the old
# leader resumes: it becomes a follower of the new leader and forwards the buffered proposal on,
# so k ends as OLD, at a newer revision than NEW. This is what the chaos suite's freeze-zone
# reads as a "late write" (not a stale read): see tests/sandbox/src/chaos/traffic.rs.
#
# Usage: PATH=.venv/etcd:$PATH scripts/late-write.sh   (etcd and etcdctl on PATH; no root)
set -euo pipefail
for b in etcd etcdctl python3; do
  command -v "$b" >/dev/null || { echo "late-write: $b not on PATH (make deps installs etcd in .venv/etcd)" >&2; exit 2; }
done
D=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
CL="a=http://127.0.9.1:2380,b=http://127.0.9.2:2380,c=http://127.0.9.3:2380"
i=1
for n in a b c; do
  etcd --name $n --data-dir "$D/$n" --listen-peer-urls http://127.0.9.$i:2380 \
    --initial-advertise-peer-urls http://127.0.9.$i:2380 --listen-client-urls http://127.0.9.$i:2379 \
    --advertise-client-urls http://127.0.9.$i:2379 --initial-cluster $CL --initial-cluster-state new \
    --heartbeat-interval 100 --election-timeout 1000 >"$D/$n.log" 2>&1 &
  pids+=($!)
  i=$((i + 1))
done
EP=http://127.0.9.1:2379,http://127.0.9.2:2379,http://127.0.9.3:2379
for _ in $(seq 50); do etcdctl --endpoints $EP put k v0 >/dev/null 2>&1 && break; sleep 0.2; done
leader=$(etcdctl --endpoints $EP endpoint status -w json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print([x["Endpoint"] for x in s if x["Status"]["leader"] == x["Status"]["header"]["member_id"]][0][15])')
others=()
for i in 1 2 3; do [ "$i" != "$leader" ] && others+=("$i"); done
kill -STOP "${pids[$((leader - 1))]}"
echo "leader 127.0.9.$leader frozen"
echo -n "put k=OLD at follower 127.0.9.${others[0]} (0.5 s timeout): "
etcdctl --endpoints "http://127.0.9.${others[0]}:2379" --command-timeout=500ms put k OLD 2>&1 || true
sleep 3
echo -n "put k=NEW at 127.0.9.${others[1]}: "
etcdctl --endpoints "http://127.0.9.${others[1]}:2379" --command-timeout=5s put k NEW -w json |
  python3 -c 'import json, sys; print("acknowledged at revision", json.load(sys.stdin)["header"]["revision"])'
kill -CONT "${pids[$((leader - 1))]}"
echo "leader resumed"
sleep 2
etcdctl --endpoints "http://127.0.9.${others[1]}:2379" get k -w json | python3 -c '
import base64, json, sys
kv = json.load(sys.stdin)["kvs"][0]
v = base64.b64decode(kv["value"]).decode()
print("k =", v, "written at revision", kv["mod_revision"])
print("the timed-out put was applied late" if v == "OLD" else "the timed-out put was not applied")'
