#!/usr/bin/env bash
# gofmt, go vet and staticcheck: all three must be silent.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files -co --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go vet -tags large ./...
"$(go env GOPATH)/bin/staticcheck" ./...
echo "lint: clean"
