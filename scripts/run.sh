#!/usr/bin/env bash
# Runs a node on $DATA (default ./data), as `make run` does: `appliance init` on the first run
# only (an empty or missing $DATA: 6 disk directories, listening on 127.0.0.1), then
# `appliance serve` in the foreground. Installs nothing itself: the Makefile's deps-run does.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-./data}
BIN=${BIN:-bin/appliance}
LISTEN=${LISTEN:-127.0.0.1:8443}
CLUSTER_LISTEN=${CLUSTER_LISTEN:-127.0.0.1:8444}
# The admin port (mutual TLS, for `console --url https://ADMIN_LISTEN --cert DIR`): the HTTPS
# host on port 8445 unless set.
ADMIN_LISTEN=${ADMIN_LISTEN:-${LISTEN%:*}:8445}

if [ ! -x "$BIN" ]; then
	echo "run: $BIN is missing: run \`make build\` first" >&2
	exit 1
fi

if [ ! -e "$DATA" ] || [ -z "$(ls -A "$DATA" 2>/dev/null)" ]; then
	echo "run: first run: creating a one-node cluster in $DATA"
	out=$("$BIN" init --data "$DATA" --disks 6 --listen "$LISTEN" --cluster-listen "$CLUSTER_LISTEN")
	email=$(sed -n 's/^admin-email: //p' <<<"$out")
	password=$(sed -n 's/^admin-password: //p' <<<"$out")
	fingerprint=$(sed -n 's/^ca-fingerprint: //p' <<<"$out")
	ca=$(sed -n 's/^ca-certificate: //p' <<<"$out")
	signing=$(sed -n 's/^signing-key: //p' <<<"$out")
	# Browsers and openssl show a certificate's fingerprint in colon-separated hex.
	hex=$(openssl x509 -in "$ca" -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//')
	cat <<MSG

  Valise is initialised. Write these down: the password is shown only now.

    URL                https://$LISTEN/
    admin e-mail       $email
    admin password     $password
    CA fingerprint     $fingerprint
                       ${hex:-(openssl x509 -noout -fingerprint -sha256 -in $ca shows it in hex)}
    CA certificate     $ca   (also served at https://$LISTEN/ca.pem)
    signing key        $signing   (a restore checks backups against it)

  Trust the CA in your browser, or: curl --cacert $ca https://$LISTEN/readyz

MSG
else
	echo "run: serving the existing node in $DATA"
fi

listen=$(sed -n 's/^ *listen = "\(.*\)"$/\1/p' "$DATA/valise.toml" | head -n 1)
echo "run: https://${listen:-$LISTEN}/   (status: $BIN status --data $DATA; stop: Ctrl-C)"
echo "run: console: bin/console --socket $DATA/admin.sock   (keys 1-6 switch screens, ? lists every key, q quits)"
echo "run: admin port https://$ADMIN_LISTEN   (a certificate: $BIN admin cert --data $DATA --out DIR --name NAME --role supervisor)"
exec "$BIN" serve --data "$DATA" --admin-listen "$ADMIN_LISTEN"
