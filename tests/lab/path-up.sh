#!/usr/bin/env bash
# netspec routed lab for path diagnosis (docs/path-diagnosis.md): a client, two routers and a
# server, each in its own network namespace, in a line joined by veth pairs:
#
#   NAME-pc  c0 ─ c1  NAME-r1  a1 ─ a2  NAME-r2  b2 ─ b3  NAME-srv
#   10.16.1.2     10.16.1.1    10.16.2.1  10.16.2.2  10.16.3.1  10.16.3.2
#   fd16:1::2     fd16:1::1    fd16:2::1  fd16:2::2  fd16:3::1  fd16:3::2
#
# The server (nginx) listens on 8000-8003; nftables on router 2 (forward hook) drops 8001,
# answers 8002 with `reject with tcp reset` and 8003 with ICMP administratively prohibited;
# 8004 has no listener (the server itself resets). IPv4 and IPv6 alike.
#
#   tests/lab/path-up.sh NAME       build it (tears down an older lab of the same NAME first)
#   tests/lab/path-down.sh NAME     tear it down
#
# Network safety: every veth pair is created between two of these namespaces; nothing is
# attached to the root namespace, and the routes cover 10.16.0.0/16 and fd16::/16 only.
set -Eeuo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
umask 022
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[[ $# == 1 ]] || { echo "usage: $0 NAME" >&2; exit 2; }
NAME=$1
[[ $NAME =~ ^[a-z][a-z0-9]{0,15}$ ]] || { echo "NAME must match ^[a-z][a-z0-9]{0,15}\$" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "path lab unavailable: must run as root" >&2; exit 3; }
for t in ip nft nginx; do command -v "$t" >/dev/null || { echo "path lab unavailable: '$t' not found" >&2; exit 3; }; done
trap 'echo "path-up.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

ST=/tmp/netspec-path-$NAME
PC=$NAME-pc R1=$NAME-r1 R2=$NAME-r2 SRV=$NAME-srv
"$HERE/path-down.sh" "$NAME" >/dev/null 2>&1 || true
mkdir -p "$ST"/{run,log,nginx-tmp}

for ns in "$PC" "$R1" "$R2" "$SRV"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$PC" link add c0 type veth peer name c1 netns "$R1"
ip -n "$R1" link add a1 type veth peer name a2 netns "$R2"
ip -n "$R2" link add b2 type veth peer name b3 netns "$SRV"
addr() { # ns dev v4 v6
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" addr add "$4/64" dev "$2" nodad
    ip -n "$1" link set "$2" up
}
addr "$PC" c0 10.16.1.2 fd16:1::2
addr "$R1" c1 10.16.1.1 fd16:1::1
addr "$R1" a1 10.16.2.1 fd16:2::1
addr "$R2" a2 10.16.2.2 fd16:2::2
addr "$R2" b2 10.16.3.1 fd16:3::1
addr "$SRV" b3 10.16.3.2 fd16:3::2
ip -n "$PC" route add 10.16.0.0/16 via 10.16.1.1
ip -n "$PC" -6 route add fd16::/16 via fd16:1::1
ip -n "$R1" route add 10.16.3.0/24 via 10.16.2.2
ip -n "$R1" -6 route add fd16:3::/64 via fd16:2::2
ip -n "$R2" route add 10.16.1.0/24 via 10.16.2.1
ip -n "$R2" -6 route add fd16:1::/64 via fd16:2::1
ip -n "$SRV" route add 10.16.0.0/16 via 10.16.3.1
ip -n "$SRV" -6 route add fd16::/16 via fd16:3::1
for r in "$R1" "$R2"; do
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done
for ns in "$R1" "$R2" "$SRV"; do
    # The lab's routers and server answer every probe: no ICMP rate limit (Linux allows about
    # one error per second per destination after a burst of 6 by default).
    ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000
done

cat >"$ST/nft.conf" <<'EOF'
table inet netspec_path {
    chain forward {
        type filter hook forward priority filter; policy accept;
        ip daddr 10.16.3.2 tcp dport 8001 drop
        ip6 daddr fd16:3::2 tcp dport 8001 drop
        ip daddr 10.16.3.2 tcp dport 8002 reject with tcp reset
        ip6 daddr fd16:3::2 tcp dport 8002 reject with tcp reset
        ip daddr 10.16.3.2 tcp dport 8003 reject with icmpx type admin-prohibited
        ip6 daddr fd16:3::2 tcp dport 8003 reject with icmpx type admin-prohibited
    }
}
EOF
ip netns exec "$R2" nft -f "$ST/nft.conf"

{
    echo "worker_processes 1;"
    echo "pid $ST/run/nginx.pid;"
    echo "error_log $ST/log/nginx-error.log warn;"
    echo "events { worker_connections 256; }"
    echo "http {"
    echo "    access_log off;"
    for d in client_body proxy fastcgi uwsgi scgi; do echo "    ${d}_temp_path $ST/nginx-tmp/$d;"; done
    echo "    server {"
    for p in 8000 8001 8002 8003; do echo "        listen 10.16.3.2:$p; listen [fd16:3::2]:$p;"; done
    echo "        location / { return 200 \"path lab\\n\"; }"
    echo "    }"
    echo "}"
} >"$ST/nginx.conf"
ip netns exec "$SRV" nginx -e "$ST/log/nginx-error.log" -p "$ST" -c "$ST/nginx.conf"

# Ready when the open port answers from the client, over both families (bounded: 50 x 0.1 s).
for _ in $(seq 50); do
    if ip netns exec "$PC" timeout 1 bash -c 'exec 3<>/dev/tcp/10.16.3.2/8000 && exec 4<>/dev/tcp/fd16:3::2/8000' 2>/dev/null; then
        echo "netspec path lab $NAME is up: run netspec with: ip netns exec $PC netspec ..."
        exit 0
    fi
    sleep 0.1
done
echo "netspec path lab $NAME: the server did not come up; see $ST/log" >&2
exit 1
