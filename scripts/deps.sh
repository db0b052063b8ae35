#!/usr/bin/env bash
# Installs what the node (run) or the test suite (test) needs, idempotently.
# For the tests, the Go side (the module downloads, then staticcheck built from source: a minute
# and a half of CPU on two cores) runs beside apt, which mostly waits on the network and dpkg.
set -euo pipefail
what=${1:-test}
cd "$(dirname "$0")/.."

gopid=""
finish() {
	# apt failed: let the Go side end rather than leave it running behind the caller.
	if [ -n "$gopid" ]; then wait "$gopid" 2>/dev/null || true; fi
}
trap finish EXIT
if [ "$what" = test ]; then
	(
		go mod download
		gobin=$(go env GOPATH)/bin
		if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "(0.8.2)"; then
			echo "deps: installing staticcheck v0.8.2"
			go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
		fi
	) &
	gopid=$!
fi

pkgs=(clamav-daemon clamdscan)
if [ "$what" = test ]; then
	pkgs+=(nftables chromium tmux)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -n "$gopid" ]; then
	pid=$gopid
	gopid=""
	wait "$pid" || { echo "deps: the Go module downloads or the staticcheck install failed" >&2; exit 1; }
fi
