#!/usr/bin/env bash
# Runs scylla-cdc-go's own tests, unmodified from the module cache, against
# freshly started cmd/scyllaemu instances (its package tests, TestTypes
# included, against one; examples/replicator's TestReplicator and
# TestReplicatorWithTablets from one to another), then the emulator's
# crash-recovery test (SIGKILL mid-load, restart on the same data
# directory). Any argument is passed to the scylla-cdc-go `go test` runs.
set -euo pipefail
cd "$(dirname "$0")/.."

tests='^(TestConsumerCallsEmptyCallback|TestConsumerHonorsTableTTL|TestConsumerResumesWithTableBackedProgressReporter|TestTypes)$'
tmp=$(mktemp -d)
bin=$tmp/scyllaemu
go build -o "$bin" ./cmd/scyllaemu
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# start_emu NAME: starts an emulator logging to $tmp/NAME.log and sets $addr.
start_emu() {
  local log=$tmp/$1.log
  "$bin" --listen 127.0.0.1:0 >"$log" 2>&1 &
  pids+=($!)
  addr=
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/^scyllaemu listening on \([^ ]*\).*/\1/p' "$log")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "conformance: scyllaemu did not start:" >&2
  cat "$log" >&2
  exit 1
}

start_emu src
src=$addr
echo "conformance: scylla-cdc-go tests against scyllaemu at $src"
SCYLLA_SRC_URI=$src go test -count=1 -run "$tests" "$@" github.com/scylladb/scylla-cdc-go 2>&1 \
  | grep -v 'stream_batch.go\|reader.go\|topology.go'
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

start_emu dst
dst=$addr
echo "conformance: scylla-cdc-go's examples/replicator from scyllaemu at $src to scyllaemu at $dst"
SCYLLA_SRC_URI=$src SCYLLA_DST_URI=$dst go test -count=1 -run '^(TestReplicator|TestReplicatorWithTablets)$' "$@" \
  github.com/scylladb/scylla-cdc-go/examples/replicator 2>&1 \
  | grep -v 'stream_batch.go\|reader.go\|topology.go\|utils.go\|saw no changes\|processed [0-9]* changes'
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

echo "conformance: emulator crash recovery (SIGKILL mid-load, restart on the data directory)"
go test -count=1 -run '^(TestCrashRecovery|TestDataDirKeepsEverything)$' ./scyllaemu
