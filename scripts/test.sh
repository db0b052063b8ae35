#!/usr/bin/env bash
# The suite: every package under -race, then the large-file tests serially without -race.
# Prints the slowest tests at the end. VALISE_REQUIRE_ALL=1 turns a missing real part into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export VALISE_REQUIRE_ALL=${VALISE_REQUIRE_ALL:-1}
log=$(mktemp -d)/test.json
mode=${1:-all}

summarize() {
	# $1: a go test -json log. Prints the slowest tests and a closing count line.
	go run ./internal/testreport "$1"
}

if [ "$mode" != large ]; then
	echo "== go test -race ./... (VALISE_REQUIRE_ALL=$VALISE_REQUIRE_ALL)"
	set +e
	go test -race -timeout 25m -json ./... >"$log" 2>&1
	rc=$?
	set -e
	summarize "$log" || true
	[ $rc = 0 ] || { echo "test: the race suite failed"; exit $rc; }
fi

# Large-file tests: several GiB of temporary files, run one package at a time.
need_gib=12
free_gib=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print int($4/1048576)}')
if [ "$free_gib" -lt "$need_gib" ]; then
	echo "test: the large-file tests need ${need_gib} GiB free in ${TMPDIR:-/tmp}, only ${free_gib} GiB are: free some space or set TMPDIR to a larger disk"
	exit 1
fi
echo "== large-file tests (serial, no -race)"
biglog=$(mktemp -d)/large.json
set +e
go test -tags large -p 1 -run 'Large' -timeout 25m -json ./... >"$biglog" 2>&1
rc=$?
set -e
summarize "$biglog" || true
[ $rc = 0 ] || { echo "test: the large-file tests failed"; exit $rc; }
