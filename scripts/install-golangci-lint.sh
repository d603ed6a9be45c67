#!/usr/bin/env bash
# Installs golangci-lint, pinned to one version, into the repository's bin/
# (git- and docker-ignored), where `make lint` runs it from. The version is
# pinned here only; bumping it is a one-line change that the next `make lint`
# picks up.
#
# Built with `go install` from the module proxy, with the Go toolchain that
# builds the project: golangci-lint refuses to lint code whose go directive is
# newer than the Go it was built with, so a toolchain upgrade reinstalls it
# too. Idempotent and quiet when the right build is already there.
set -euo pipefail

version=v2.15.0

cd "$(dirname "$0")/.."
bin="$PWD/bin"
tool="$bin/golangci-lint"
gover=$(go env GOVERSION)

# `golangci-lint version` prints "... has version 2.15.0 built with go1.26.8 from ...".
if [ -x "$tool" ] && "$tool" version 2>/dev/null | grep -q "version ${version#v} built with $gover "; then
  exit 0
fi

echo "install-golangci-lint: building golangci-lint $version with $gover into bin/ (takes a minute or two)" >&2
GOBIN="$bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
