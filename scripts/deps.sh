#!/usr/bin/env bash
# Installs what the node (run) or the test suite (test) needs, idempotently.
set -euo pipefail
what=${1:-test}

pkgs=(clamav-daemon clamdscan)
if [ "$what" = test ]; then
	pkgs+=(nftables chromium)
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

if [ "$what" = test ]; then
	gobin=$(go env GOPATH)/bin
	if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "(0.8.2)"; then
		echo "deps: installing staticcheck v0.8.2"
		go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	fi
fi
