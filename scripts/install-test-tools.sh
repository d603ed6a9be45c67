#!/usr/bin/env bash
# Installs the tools that deploy/deploy_test.go uses to validate the
# deployment files, from Debian's packages:
#
#   promtool        (package prometheus)      promtool check config|rules, promtool test rules
#   docker-compose  (package docker-compose)  docker-compose config -q
#
# Idempotent and quiet: does nothing when both tools are already on PATH.
# Safe in CI: never prompts, never starts the packaged daemons (a temporary
# policy-rc.d forbids it), and when it cannot install (not root, or no apt)
# it says so and exits 0, so that the tests skip with their own message.
# A real install failure exits non-zero with apt's log, so that a broken
# install is not mistaken for a skipped test.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: cannot install ${need[*]} (needs root and apt-get); the deploy tests that use them will skip" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
policy=/usr/sbin/policy-rc.d
own_policy=
cleanup() {
  [ -n "$own_policy" ] && rm -f "$policy"
  rm -f "$log"
}
trap cleanup EXIT

# Keep postinst scripts from starting prometheus (or anything else) as a
# service: exit code 101 means "action forbidden" to invoke-rc.d.
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=1
fi

fail() {
  echo "install-test-tools: $1 failed:" >&2
  cat "$log" >&2
  exit 1
}

apt-get update -qq >"$log" 2>&1 || fail "apt-get update"
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${need[@]}" >"$log" 2>&1 || fail "apt-get install ${need[*]}"

for tool in promtool docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-test-tools: $tool still missing after install" >&2; exit 1; }
done
echo "install-test-tools: installed ${need[*]}"
