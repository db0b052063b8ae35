#!/usr/bin/env bash
# The suite: every package under -race, then the large-file tests serially without -race.
# Prints the slowest tests at the end. VALISE_REQUIRE_ALL=1 turns a missing real part into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export VALISE_REQUIRE_ALL=${VALISE_REQUIRE_ALL:-1}
tmp=$(mktemp -d)
log=$tmp/test.json
mode=${1:-all}
start=$(date +%s)

go build -o "$tmp/testreport" ./internal/testreport

summarize() {
	# $1: a go test -json log. Prints the failures, the slowest tests and a closing count line.
	"$tmp/testreport" "$1"
}

run_tests() {
	# $1: the log; the rest: go test's arguments. One line per finished package as it goes.
	local out=$1
	shift
	set +e
	go test -json "$@" 2>&1 | "$tmp/testreport" -progress "$out"
	rc=${PIPESTATUS[0]}
	set -e
}

if [ "$mode" != large ]; then
	echo "== go test -race ./... (VALISE_REQUIRE_ALL=$VALISE_REQUIRE_ALL)"
	run_tests "$log" -race -timeout 25m ./...
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
biglog=$tmp/large.json
# Only the packages that have such tests: building every test binary a second time without
# -race would cost minutes on a cold machine.
mapfile -t largepkgs < <(grep -rl --include='*_test.go' '^//go:build large' . | xargs -n1 dirname | sort -u)
run_tests "$biglog" -tags large -p 1 -run 'Large' -timeout 25m "${largepkgs[@]}"
summarize "$biglog" || true
[ $rc = 0 ] || { echo "test: the large-file tests failed"; exit $rc; }
echo "test: all passed in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
