#!/usr/bin/env bash
# netspec routed path lab: tear down the lab called NAME (see path-up.sh). Safe to run twice.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
[[ $# == 1 ]] || { echo "usage: $0 NAME" >&2; exit 2; }
NAME=$1
[[ $NAME =~ ^[a-z][a-z0-9]{0,15}$ ]] || { echo "NAME must match ^[a-z][a-z0-9]{0,15}\$" >&2; exit 2; }
ST=/tmp/netspec-path-$NAME
# nginx, by its pid file, only if its command line names this lab's state dir.
if [[ -f $ST/run/nginx.pid ]]; then
    pid=$(tr -dc 0-9 <"$ST/run/nginx.pid")
    if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$ST/"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 30); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
        [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
    fi
fi
for ns in "$NAME-pc" "$NAME-r1" "$NAME-r2" "$NAME-srv"; do
    if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
        ip netns del "$ns" || echo "path-down.sh: could not delete netns $ns" >&2
    fi
done
[[ ${NETSPEC_LAB_KEEP:-0} == 1 ]] || rm -rf -- "$ST"
exit 0
