#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Docker HEALTHCHECK. AppAPI waits for the container to turn "healthy" before its own
# /heartbeat check, so this answers "is the app up": nc_py_api's /heartbeat needs no auth.

if [ -n "$HP_SHARED_KEY" ]; then
    # HaRP: the FRP client must run, and the app serves on a unix socket (see start.sh).
    pgrep -x frpc > /dev/null || exit 1
    exec curl -fsS -m 2 -o /dev/null \
        --unix-socket "${HP_EXAPP_SOCK:-/tmp/exapp.sock}" http://localhost/heartbeat
fi

# Otherwise the app listens on APP_HOST:APP_PORT; reach a wildcard address via loopback.
HOST="${APP_HOST:-127.0.0.1}"
case "$HOST" in
    0.0.0.0) HOST=127.0.0.1 ;;
    ::) HOST='[::1]' ;;
    *:*) HOST="[$HOST]" ;;
esac
exec curl -fsS -m 2 -o /dev/null "http://${HOST}:${APP_PORT}/heartbeat"
