#!/usr/bin/env bash
# gofmt, go vet and staticcheck: all three must be silent.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files -co --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
# The large tag only adds files (the large-file tests), so one run with it covers both builds;
# a file built only without the tag would need its own run.
go vet -tags large ./...
if grep -rlq --include='*.go' '^//go:build.*!large' .; then go vet ./...; fi
"$(go env GOPATH)/bin/staticcheck" -tags large ./...
echo "lint: clean"
