#!/usr/bin/env bash
# netspec test lab: tear down the lab called NAME. Safe to run twice, and on a half-built lab.
#
#   tests/lab/down.sh NAME      stop the lab's processes (by their pid files), delete its namespaces,
#                               /etc/netns/NAME-client and /etc/netns/NAME-net, and its state dir
#                               (kept when NETSPEC_LAB_KEEP=1, for reading the logs)
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

[[ $# == 1 ]] || { echo "usage: $0 NAME" >&2; exit 2; }
NAME=$1
[[ $NAME =~ ^[a-z][a-z0-9]{0,15}$ ]] || { echo "NAME must match ^[a-z][a-z0-9]{0,15}\$" >&2; exit 2; }
ST=/tmp/netspec-lab-$NAME

# running = exists and is not a zombie (a daemon re-parented to a container's pid 1 may stay a
# zombie for a while)
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Only processes recorded in this lab's pid files, and only if they still run in this lab's
# namespace (a recycled pid belonging to something else is left alone).
pids=()
for f in "$ST"/run/*.pid; do
    [[ -f $f ]] || continue
    pid=$(tr -dc 0-9 <"$f")
    [[ -n $pid ]] && running "$pid" || continue
    if [[ $(ip netns identify "$pid" 2>/dev/null) == "$NAME-net" ]]; then
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
done
# wait for them (bounded: 30 x 0.1 s), then KILL what is left
for _ in $(seq 30); do
    alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && break
    sleep 0.1
done
for pid in "${pids[@]}"; do
    running "$pid" && [[ $(ip netns identify "$pid" 2>/dev/null) == "$NAME-net" ]] && kill -KILL "$pid" 2>/dev/null
done

# Deleting a namespace also deletes its veth end (and with it the peer) and its nftables table.
for ns in "$NAME-client" "$NAME-net"; do
    if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
        ip netns del "$ns" || echo "down.sh: could not delete netns $ns" >&2
    fi
    rm -rf -- "/etc/netns/$ns"
done

if [[ ${NETSPEC_LAB_KEEP:-0} != 1 ]]; then
    rm -rf -- "$ST"
fi
exit 0
