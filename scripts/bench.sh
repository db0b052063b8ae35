#!/usr/bin/env bash
# `make bench`: the metadata and byte-path benchmarks with their same-run baselines, then a
# 1 GiB selftest through a real node (blobstore + Raft), with its per-step timings, then one
# 1 GiB tus upload and one link download through HTTPS on loopback against the real binary
# (scan on; the download reads its shard files cold: evicted with `dd iflag=nocache count=0`
# after sync, never a global drop_caches on a shared machine) beside the same run's plain TLS
# discard upload and HTTPS GET of a cached file, with the ratios docs/performance.md targets.
# BENCHTIME (default 1x: each blobstore benchmark sizes its own work), RAFT_BENCHTIME (default
# 3000x commits), SELFTEST_SIZE (default 1G) and
# VALISE_BENCH_UPLOAD_SIZE (default 1G) may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/appliance}
BENCHTIME=${BENCHTIME:-1x}
SELFTEST_SIZE=${SELFTEST_SIZE:-1G}

# The metadata benchmarks time many small commits: they need a count of them, not one.
RAFT_BENCHTIME=${RAFT_BENCHTIME:-3000x}
echo "== go benchmarks: raftfsm, raftfsm/raftnet (-benchtime=$RAFT_BENCHTIME)"
go test -run '^$' -bench . -benchtime="$RAFT_BENCHTIME" -timeout 30m ./raftfsm ./raftfsm/raftnet
echo "== go benchmarks: blobstore (-benchtime=$BENCHTIME)"
go test -run '^$' -bench . -benchtime="$BENCHTIME" -timeout 30m ./blobstore
echo "== cluster benchmarks: real appliance processes on loopback (1 GiB transfer, 10 leader kills)"
go test -run '^$' -bench . -benchtime=1x -timeout 30m ./cmd/appliance/clustertest

[ -x "$BIN" ] || { echo "bench: $BIN is missing: run \`make build\` first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/valise-bench.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo
echo "== same-run baselines on $tmp (1 GiB)"
sync
start=$(date +%s.%N)
dd if=/dev/zero of="$tmp/baseline" bs=1M count=1024 conv=fsync status=none
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "  disk write + fsync     %8.1f MB/s\n", 1073.741824 / (e - s) }'
echo "  (SHA-256, AES-GCM and zstd baselines: the blobstore benchmarks above)"
rm -f "$tmp/baseline"

echo
echo "== selftest of $SELFTEST_SIZE through a node (6 disk directories, 4+2)"
"$BIN" init --data "$tmp/data" --disks 6 --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0 >/dev/null
"$BIN" serve --data "$tmp/data" 2>"$tmp/serve.log" &
pid=$!
deadline=$((SECONDS + 60))
until "$BIN" status --data "$tmp/data" 2>/dev/null | grep -q Leader; do
	if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
		echo "bench: the node did not become ready; its log:" >&2
		cat "$tmp/serve.log" >&2
		exit 1
	fi
	sleep 0.2
done
sync
"$BIN" selftest --data "$tmp/data" --size "$SELFTEST_SIZE"
kill -TERM "$pid"
wait "$pid"
pid=""

echo
echo "== one ${VALISE_BENCH_UPLOAD_SIZE:-1G} upload (tus) and download (link) through HTTPS on loopback, with same-run baselines"
sync
go test -run '^$' -bench SendHTTPS -benchtime 1x -timeout 60m ./cmd/appliance
