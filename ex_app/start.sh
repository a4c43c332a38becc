#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Container entrypoint, after nextcloud/app-skeleton-python's start.sh.
#
# Under HaRP, AppAPI passes HP_SHARED_KEY, HP_FRP_ADDRESS and HP_FRP_PORT. nc_py_api's
# run_app() then serves on a unix socket ($HP_EXAPP_SOCK, default /tmp/exapp.sock) instead
# of APP_HOST:APP_PORT, and the FRP client started here tunnels HaRP's port APP_PORT to it.
# Without HP_SHARED_KEY (Docker Socket Proxy, manual install) it only starts the app.
# Usage: start.sh COMMAND [ARGS...]   (the Dockerfile passes: python3 main.py)

set -e

SOCK="${HP_EXAPP_SOCK:-/tmp/exapp.sock}"

if [ -n "$HP_SHARED_KEY" ]; then
    # AppAPI copies client certificates to /certs/frp when HaRP uses TLS for FRP.
    if [ -d /certs/frp ]; then
        echo "HaRP: writing /frpc.toml with TLS certificates from /certs/frp"
        TLS='transport.tls.enable = true
transport.tls.certFile = "/certs/frp/client.crt"
transport.tls.keyFile = "/certs/frp/client.key"
transport.tls.trustedCaFile = "/certs/frp/ca.crt"
transport.tls.serverName = "harp.nc"'
    else
        echo "HaRP: writing /frpc.toml without TLS (/certs/frp not found)"
        TLS='transport.tls.enable = false'
    fi
    cat <<EOF > /frpc.toml
serverAddr = "$HP_FRP_ADDRESS"
serverPort = $HP_FRP_PORT
loginFailExit = false

$TLS

metadatas.token = "$HP_SHARED_KEY"

[[proxies]]
remotePort = $APP_PORT
type = "tcp"
name = "$APP_ID"
[proxies.plugin]
type = "unix_domain_socket"
unixPath = "$SOCK"
EOF
    echo "Starting frpc in the background..."
    frpc -c /frpc.toml &
else
    echo "HP_SHARED_KEY is not set: no FRP tunnel, the app listens on ${APP_HOST:-127.0.0.1}:${APP_PORT}"
fi

echo "Starting application: $*"
exec "$@"
