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

# Only processes recorded in this lab's pid files, and only if their command line names this
# lab's state dir (every lab daemon is started with a path in it), so a recycled pid belonging to
# something else is left alone. (Not `ip netns identify`: it walks every named namespace and fails
# while another lab is being created or deleted, and the namespace may already be gone.)
ours() {
    running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$ST/"
}
pids=()
for f in "$ST"/run/*.pid; do
    [[ -f $f ]] || continue
    pid=$(tr -dc 0-9 <"$f")
    if [[ -z $pid ]] || ! ours "$pid"; then continue; fi
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
done
# The lab's daemons whose pid file is gone (a state dir removed by hand): same identity test,
# limited to the three programs up.sh starts.
for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case $(cat "$d/comm" 2>/dev/null) in dnsmasq | nginx | tinyproxy) ;; *) continue ;; esac
    [[ " ${pids[*]} " == *" $pid "* ]] && continue
    if ours "$pid"; then kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); fi
done
# wait for them (bounded: 30 x 0.1 s), then KILL what is left
for _ in $(seq 30); do
    alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && break
    sleep 0.1
done
for pid in "${pids[@]}"; do
    if ours "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
done

# Keeping the state: also keep the namespaces' IP/UDP/TCP counters, for post-mortems.
if [[ ${NETSPEC_LAB_KEEP:-0} == 1 && -d $ST/log ]]; then
    for ns in "$NAME-client" "$NAME-net"; do
        ip netns exec "$ns" cat /proc/net/snmp >"$ST/log/snmp-$ns.txt" 2>/dev/null || true
    done
fi

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
