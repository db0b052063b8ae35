#!/usr/bin/env bash
# The suite: every package under -race, then the large-file tests without -race.
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

# `go test` starts its test binaries in the order of its arguments (and builds them in about
# that order too): the longest are named first, so that a long run that mostly waits (real
# nodes, elections, clamd) overlaps the builds and short runs of everything else instead of
# being the tail.
slow_first() {
	# $1: a space-separated list of packages (./dir) whose tests take the longest; the rest: every
	# package to test. Prints the slow ones that are among the rest first, then the others, one a
	# line.
	local slow=$1
	shift
	local p
	for p in $slow; do
		[[ " $* " == *" $p "* ]] && echo "$p"
	done
	for p in "$@"; do
		[[ " $slow " == *" $p "* ]] || echo "$p"
	done
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
	# The slowest packages first (seconds of the last cold run: httpd/web 122, clustertest 110,
	# node 87, httpd/api 51, cmd/appliance 30, rafttest 24, transfer 18, account 17, raftfsm 15),
	# then ./..., which go test dedups: a package missing from the list still runs.
	racepkgs=()
	for p in ./httpd/web ./cmd/appliance/clustertest ./node ./httpd/api ./cmd/appliance ./raftfsm/rafttest ./transfer ./account ./raftfsm; do
		compgen -G "$p/*.go" >/dev/null && racepkgs+=("$p")
	done
	# -p 4 on 2 cores: go test's -p bounds compiles and test binaries together, and the long
	# packages above mostly wait on real nodes and elections (node: 40 s of CPU in a run of
	# 87 s, clustertest: 71 s in 110 s), so with -p 2 two waiting binaries held both slots
	# while the compiles of the rest queued behind them.
	run_tests "$log" -race -p 4 -timeout 25m "${racepkgs[@]}" ./...
	summarize "$log" || true
	[ $rc = 0 ] || { echo "test: the race suite failed"; exit $rc; }
fi

# Large-file tests: several GiB of temporary files. Most of their time is one clamd scanning
# GiB-sized streams on one core (send_4g waits ~3 min for its verdict, scan's tests are clamd
# alone), so two packages run at once when the disk holds both: send_4g's ~7 GiB beside the
# next largest, the 1 GiB browser send's ~4 GiB. Otherwise one at a time, in 12 GiB.
need_gib=12
both_gib=16
free_gib=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print int($4/1048576)}')
if [ "$free_gib" -lt "$need_gib" ]; then
	echo "test: the large-file tests need ${need_gib} GiB free in ${TMPDIR:-/tmp}, only ${free_gib} GiB are: free some space or set TMPDIR to a larger disk"
	exit 1
fi
largep=2
if [ "$free_gib" -lt "$both_gib" ]; then
	largep=1
	echo "test: ${free_gib} GiB free in ${TMPDIR:-/tmp}: the large-file tests run one package at a time (two at once need ${both_gib} GiB)"
fi
echo "== large-file tests (-p $largep, no -race)"
biglog=$tmp/large.json
# Only the packages that have such tests: building every test binary a second time without
# -race would cost minutes on a cold machine. cmd/appliance (send_4g) is the longest; scan,
# then the browser's send, run beside it.
mapfile -t tagged < <(grep -rl --include='*_test.go' '^//go:build large' . | xargs -n1 dirname | sort -u)
mapfile -t largepkgs < <(slow_first "./cmd/appliance ./scan ./httpd/web ./cmd/appliance/clustertest" "${tagged[@]}")
run_tests "$biglog" -tags large -p "$largep" -run 'Large' -timeout 25m "${largepkgs[@]}"
summarize "$biglog" || true
[ $rc = 0 ] || { echo "test: the large-file tests failed"; exit $rc; }
echo "test: all passed in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
