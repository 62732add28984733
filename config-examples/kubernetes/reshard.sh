#!/bin/sh
# Re-shard entra-source's state from OLD to NEW shards: every tenant whose shard changes
# (rendezvous hashing moves only those) takes its checkpoints from its old shard's store to its
# new one's, so it resumes where it stopped: nothing lost, nothing emitted twice.
#
# Run it with every shard stopped (kubectl scale statefulset entra-source --replicas=0) and every
# shard's state volume mounted (reshard-job.yaml does both):
#   CONFIG=/etc/entra-source/entra-source.toml STATE_PATTERN=/shards/%d/state.bin reshard.sh 3 4
# STATE_PATTERN is a shard's state file with %d for its index; ENTRA_SOURCE names the binary.
# Safe to run again after a failure: a hand-off file is deleted only once imported, and an
# existing one is imported rather than exported again.
set -eu
old=$1
new=$2
bin=${ENTRA_SOURCE:-entra-source}
state() { printf "$STATE_PATTERN" "$1"; }
inbox() { dirname "$(state "$1")"; }

# 1. Each old store hands the tenants it holds that another shard now polls to that shard: the
#    file is written beside the receiving store and is durable before they leave this one.
i=0
while [ "$i" -lt "$old" ]; do
  j=0
  while [ "$j" -lt "$new" ]; do
    f="$(inbox "$j")/import-from-shard-$i.json"
    if [ "$j" -ne "$i" ] && [ ! -e "$f" ]; then
      mkdir -p "$(inbox "$j")"
      "$bin" state export --config "$CONFIG" --state "$(state "$i")" \
        --shard "$j/$new" --out "$f" --remove
    fi
    j=$((j + 1))
  done
  i=$((i + 1))
done

# 2. Each new store takes what was handed to it (refused, and kept, if a tenant is not its own).
j=0
while [ "$j" -lt "$new" ]; do
  for f in "$(inbox "$j")"/import-from-shard-*.json; do
    [ -e "$f" ] || continue
    "$bin" state import --config "$CONFIG" --state "$(state "$j")" --shard "$j/$new" "$f"
    rm -- "$f"
  done
  j=$((j + 1))
done
echo "re-shard $old -> $new done: set replicas: $new in statefulset.yaml and kubectl apply -k (the shard count follows replicas)" >&2
