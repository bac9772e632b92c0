#!/usr/bin/env bash
# netspec test lab: bring up a lab called NAME (see README.md for the topology and planted faults).
#
#   tests/lab/up.sh NAME        build the lab (tears down an older lab of the same NAME first)
#   tests/lab/up.sh --check     exit 0 if this machine can host a lab, else print why and exit 3
#
# Network safety: all traffic stays inside two network namespaces that this script creates,
# NAME-client and NAME-net, joined by one veth pair created directly between them. Nothing is
# attached to the root namespace and no namespace has a default route.
set -Eeuo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=(ip nft dnsmasq nginx tinyproxy openssl timeout)

check_env() {
    if [[ $(id -u) != 0 ]]; then echo "lab unavailable: must run as root (uid $(id -u))"; return 3; fi
    local t
    for t in "${TOOLS[@]}"; do
        command -v "$t" >/dev/null 2>&1 || { echo "lab unavailable: '$t' not found in PATH"; return 3; }
    done
    local probe="nslprobe$$"
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "lab unavailable: cannot create network namespaces (ip netns add failed)"; return 3
    fi
    if ! ip netns exec "$probe" nft -f - 2>/dev/null <<'EOF'
table inet probe {
    chain input {
        type filter hook input priority filter; policy accept;
        tcp dport 9 reject with tcp reset
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 192.0.2.1 tcp dport 9 dnat ip to 127.0.0.1:9
    }
}
EOF
    then
        ip netns del "$probe"; echo "lab unavailable: nftables (filter and NAT) does not work inside a network namespace"; return 3
    fi
    ip netns del "$probe"
    return 0
}

if [[ ${1:-} == --check ]]; then check_env; exit $?; fi
[[ $# == 1 ]] || { echo "usage: $0 NAME | --check" >&2; exit 2; }
NAME=$1
[[ $NAME =~ ^[a-z][a-z0-9]{0,15}$ ]] || { echo "NAME must match ^[a-z][a-z0-9]{0,15}\$" >&2; exit 2; }
check_env || exit 3
trap 'echo "up.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

ST=/tmp/netspec-lab-$NAME
C=$NAME-client
N=$NAME-net
P=$ST/pki
"$HERE/down.sh" "$NAME" >/dev/null 2>&1 || true
mkdir -p "$ST"/{pki,run,log,nginx-tmp} "/etc/netns/$C" "/etc/netns/$N"

# ---------------------------------------------------------------------------------------------
# Data: the 26 regions of suites/arc-sql.yaml (in its order) and the planted faults
# ---------------------------------------------------------------------------------------------
REGIONS=(australiaeast brazilsouth canadacentral canadaeast centralindia centralus eastus
         eastus2 francecentral japaneast koreacentral northcentralus northeurope norwayeast
         southafricanorth southcentralus southeastasia swedencentral switzerlandnorth uaenorth
         uksouth ukwest westcentralus westeurope westus2 westus3)
ARC=arcdataservices.com
R_TELEMETRY_200=eastus2       # telemetry answers 200 instead of 401
R_DPS_DROP=southeastasia      # DPS 443 dropped            -> filtered
R_DPS_RESET=uksouth           # DPS 443 reset              -> closed
R_NXDOMAIN=japaneast          # no records at all          -> NXDOMAIN
R_DPS_UNTRUSTED=australiaeast # DPS cert from another CA   -> untrusted (TLS inspection)
R_DPS_EXPIRED=centralus       # DPS cert expired           -> untrusted (expired)
R_TEL_EXPIRING=westus2        # telemetry cert valid 3 days-> expires_in fails, still trusted
R_DPS_PRIVATE=northeurope     # corp view answers a private address for the DPS
BLACKHOLE=20.150.254.4        # every *.blackhole.arcdataservices.com name; 443 dropped

LAB_PREFIXES=(10.2.4.0/24 10.12.4.0/24 10.150.0.0/16 20.150.0.0/16 40.74.0.0/16 52.160.0.0/16)

PROXY_ADDR=10.0.0.8
CORP_DNS=10.0.0.53
PUBLIC_DNS=10.0.0.54
# tests/lab/faults.yaml: middleboxes and broken resolvers
FILTER_PROXY_ADDR=10.0.0.9    # tinyproxy without auth whose filter blocks blocked.clouddatahub.net (403 page)
DEAD_DNS=10.0.0.55            # udp/tcp 53 dropped                        -> dns.timeout
SERVFAIL_DNS=10.0.0.56        # validating dnsmasq, every answer BOGUS    -> SERVFAIL
INSPECT_ADDR=10.0.0.60        # TLS-inspecting middlebox (nginx :8443), reached by DNAT
INSPECTED=40.74.2.10          # eu.frontend.clouddatahub.net: its 443 is DNAT-ed to $INSPECT_ADDR:8443
TLS13_ONLY=40.74.4.10         # tls13.clouddatahub.net: nginx speaks TLS 1.3 only
FILES_HTTP=40.74.3.10         # files.clouddatahub.net: plain HTTP 80 (allowed by the filter proxy)
BLOCKED_HTTP=40.74.3.11       # blocked.clouddatahub.net: plain HTTP 80 and 443 (blocked by the filter proxy)
PROXY_USER=lab
PROXY_PASSWORD=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

# server addresses (put on lo of NAME-net) and DNS records, filled below
ADDRS=()
CORP_REC=()     # dnsmasq lines for the corp view only
PUBLIC_REC=()   # dnsmasq lines for the public view only
BOTH_REC=()     # dnsmasq lines for both views
DROP_443=("$BLACKHOLE")
BLACKHOLE_REC=()
RESET_443=()

i=0
for r in "${REGIONS[@]}"; do
    i=$((i + 1))
    dps=20.150.$i.4 tel=20.150.$i.5
    BLACKHOLE_REC+=("host-record=dataprocessingservice.$r.blackhole.$ARC,$BLACKHOLE"
                    "host-record=telemetry.$r.blackhole.$ARC,$BLACKHOLE")
    [[ $r == "$R_NXDOMAIN" ]] && continue
    ADDRS+=("$dps" "$tel")
    BOTH_REC+=("host-record=telemetry.$r.$ARC,$tel")
    if [[ $r == "$R_DPS_PRIVATE" ]]; then
        ADDRS+=("10.150.$i.4")
        CORP_REC+=("host-record=dataprocessingservice.$r.$ARC,10.150.$i.4")
        PUBLIC_REC+=("host-record=dataprocessingservice.$r.$ARC,$dps")
    else
        BOTH_REC+=("host-record=dataprocessingservice.$r.$ARC,$dps")
    fi
    [[ $r == "$R_DPS_DROP" ]] && DROP_443+=("$dps")
    [[ $r == "$R_DPS_RESET" ]] && RESET_443+=("$dps")
done
ADDRS+=("$BLACKHOLE")
# host-record, not address=/blackhole.../: dnsmasq answers AAAA for an address= domain with NXDOMAIN
BOTH_REC+=("${BLACKHOLE_REC[@]}")

# Azure Migrate private endpoints. Corp view: privatelink zone linked (private answers);
# public view: the same chain ends at public addresses.
KV=contoso-migrate-kv SA=contosomigratesa DISC=04b8c9c73f3d477e966c8d00f352889c-agent.cus.disc
KV_BAD=fabrikam-migrate-kv SA_BAD=fabrikammigratesa
ADDRS+=(10.12.4.20 10.12.4.21 10.12.4.23 10.12.4.51 52.160.10.20 52.160.10.21 52.160.10.23 52.160.10.40
        52.160.20.10 52.160.20.11 52.160.20.12 40.74.1.10)
BOTH_REC+=(
    "cname=$KV.vault.azure.net,$KV.privatelink.vaultcore.azure.net"
    "cname=$SA.blob.core.windows.net,$SA.privatelink.blob.core.windows.net"
    "cname=$DISC.prod.migration.windowsazure.com,$DISC.privatelink.prod.migration.windowsazure.com"
    "cname=$KV_BAD.vault.azure.net,$KV_BAD.privatelink.vaultcore.azure.net"
    "cname=$SA_BAD.blob.core.windows.net,$SA_BAD.privatelink.blob.core.windows.net"
    # fault: the corp DNS has no privatelink.vaultcore.azure.net zone for this vault: public chain
    "cname=$KV_BAD.privatelink.vaultcore.azure.net,data-prod-eus.vaultcore.azure.net"
    "host-record=data-prod-eus.vaultcore.azure.net,52.160.10.40"
    # public URLs the appliance still needs
    "host-record=portal.azure.com,52.160.20.10"
    "host-record=login.microsoftonline.com,52.160.20.11"
    "host-record=management.azure.com,52.160.20.12"
    # Data Factory service URL
    "host-record=wu2.frontend.clouddatahub.net,40.74.1.10"
    # tests/lab/faults.yaml
    "host-record=eu.frontend.clouddatahub.net,$INSPECTED"
    "host-record=tls13.clouddatahub.net,$TLS13_ONLY"
    "host-record=files.clouddatahub.net,$FILES_HTTP"
    "host-record=blocked.clouddatahub.net,$BLOCKED_HTTP"
)
ADDRS+=("$INSPECTED" "$TLS13_ONLY" "$FILES_HTTP" "$BLOCKED_HTTP")
CORP_REC+=(
    "host-record=$KV.privatelink.vaultcore.azure.net,10.12.4.20"
    "host-record=$SA.privatelink.blob.core.windows.net,10.12.4.21"
    "host-record=$DISC.privatelink.prod.migration.windowsazure.com,10.12.4.23"
    # fault: the private endpoint was re-created; DNS and the DNS settings file (10.12.4.41) disagree
    "host-record=$SA_BAD.privatelink.blob.core.windows.net,10.12.4.51"
    # corp-only names
    "host-record=proxy.corp.example,$PROXY_ADDR"
    "host-record=filter.corp.example,$FILTER_PROXY_ADDR"
    "host-record=shir-node1.corp.example,10.2.4.11"
    "host-record=shir-node2.corp.example,10.2.4.12"
    "host-record=shir-node3.corp.example,10.2.4.13"
)
PUBLIC_REC+=(
    "cname=$KV.privatelink.vaultcore.azure.net,data-prod-cus.vaultcore.azure.net"
    "host-record=data-prod-cus.vaultcore.azure.net,52.160.10.20"
    "cname=$SA.privatelink.blob.core.windows.net,blob.cus.store.core.windows.net"
    "host-record=blob.cus.store.core.windows.net,52.160.10.21"
    "cname=$DISC.privatelink.prod.migration.windowsazure.com,prod.cus.discoverysrv.windowsazure.com"
    "host-record=prod.cus.discoverysrv.windowsazure.com,52.160.10.23"
    "cname=$SA_BAD.privatelink.blob.core.windows.net,blob.eus.store.core.windows.net"
    "host-record=blob.eus.store.core.windows.net,52.160.10.21"
)
ADDRS+=(10.2.4.11 10.2.4.12 10.2.4.13)
DROP_8060=(10.2.4.13)
RESET_8060=(10.2.4.12)

# ---------------------------------------------------------------------------------------------
# Namespaces, veth, addresses, routes (lab prefixes only, no default route)
# ---------------------------------------------------------------------------------------------
ip netns add "$C"
ip netns add "$N"
ip -n "$C" link set lo up
ip -n "$N" link set lo up
ip -n "$C" link add vc type veth peer name vn netns "$N"
ip -n "$C" addr add 10.0.0.10/24 dev vc
for a in 10.0.0.1 $PROXY_ADDR $CORP_DNS $PUBLIC_DNS $FILTER_PROXY_ADDR $DEAD_DNS $SERVFAIL_DNS $INSPECT_ADDR; do
    ip -n "$N" addr add "$a/24" dev vn
done
ip -n "$C" link set vc up
ip -n "$N" link set vn up
{
    for a in "${ADDRS[@]}"; do echo "addr add $a/32 dev lo"; done
} | ip -n "$N" -batch -
for p in "${LAB_PREFIXES[@]}"; do ip -n "$C" route add "$p" via 10.0.0.1 dev vc; done

printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$CORP_DNS" >"/etc/netns/$C/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"/etc/netns/$C/hosts"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$PUBLIC_DNS" >"/etc/netns/$N/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"/etc/netns/$N/hosts"

# ---------------------------------------------------------------------------------------------
# nftables in NAME-net: planted drops (-> filtered) and resets (-> closed)
# ---------------------------------------------------------------------------------------------
join() { local IFS=,; echo "$*"; }
cat >"$ST/nft.conf" <<EOF
table inet netspec_lab {
    chain input {
        type filter hook input priority filter; policy accept;
        ip daddr { $(join "${DROP_443[@]}") } tcp dport 443 drop
        ip daddr { $(join "${RESET_443[@]}") } tcp dport 443 reject with tcp reset
        ip daddr { $(join "${DROP_8060[@]}") } tcp dport 8060 drop
        ip daddr { $(join "${RESET_8060[@]}") } tcp dport 8060 reject with tcp reset
        # a resolver that never answers (not even ICMP port unreachable)
        ip daddr $DEAD_DNS meta l4proto { tcp, udp } th dport 53 drop
    }
    # transparent TLS inspection, as a corporate firewall does it: 443 of $INSPECTED goes to the
    # middlebox, which presents a certificate for the real name from the Contoso inspection CA
    # and forwards to the real server (its own connections use the output hook: not redirected)
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $INSPECTED tcp dport 443 dnat ip to $INSPECT_ADDR:8443
    }
}
EOF
ip netns exec "$N" nft -f "$ST/nft.conf"

# ---------------------------------------------------------------------------------------------
# PKI: lab CA (trusted via SSL_CERT_FILE), an untrusted "TLS inspection" CA, leaves (EC P-256)
# ---------------------------------------------------------------------------------------------
cat >"$P/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ca ]
default_ca = expired_ca
[ expired_ca ]
database = $P/index.txt
new_certs_dir = $P
serial = $P/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
EOF
: >"$P/index.txt"
echo 1000 >"$P/serial"

mkca() { # file subject
    openssl req -x509 -config "$P/openssl.cnf" -extensions v3_ca -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" -out "$P/$1.pem" \
        -days 3650 -subj "$2" 2>/dev/null
}
leafext() { # names...
    local san
    san=$(printf 'DNS:%s,' "$@")
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
    printf 'extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
    printf 'subjectAltName=%s\n' "${san%,}"
}
mkleaf() { # file ca days names...
    local f=$1 ca=$2 days=$3
    shift 3
    leafext "$@" >"$P/$f.ext"
    openssl req -new -config "$P/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$P/$f.key" -out "$P/$f.csr" -subj "/CN=$1" 2>/dev/null
    openssl x509 -req -in "$P/$f.csr" -CA "$P/$ca.pem" -CAkey "$P/$ca.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
        -days "$days" -extfile "$P/$f.ext" -out "$P/$f.pem" 2>/dev/null
}

mkca ca "/O=netspec lab/CN=netspec lab root CA"
mkca untrusted-ca "/O=Contoso/CN=Contoso TLS Inspection CA"
arc_names=()
for r in "${REGIONS[@]}"; do arc_names+=("*.$r.$ARC" "*.$r.blackhole.$ARC"); done
mkleaf arc ca 90 "${arc_names[@]}"
mkleaf public ca 90 portal.azure.com login.microsoftonline.com management.azure.com \
    '*.vault.azure.net' '*.vaultcore.azure.net' '*.privatelink.vaultcore.azure.net' '*.blob.core.windows.net' \
    '*.privatelink.blob.core.windows.net' wu2.frontend.clouddatahub.net '*.frontend.clouddatahub.net' '*.clouddatahub.net'
mkleaf default ca 90 lab.invalid
mkleaf untrusted untrusted-ca 90 "dataprocessingservice.$R_DPS_UNTRUSTED.$ARC"
mkleaf inspected untrusted-ca 90 eu.frontend.clouddatahub.net
mkleaf expiring ca 3 "telemetry.$R_TEL_EXPIRING.$ARC"
# expired: openssl 3.0's `x509 -req` cannot backdate, `openssl ca` can (-startdate/-enddate)
leafext "dataprocessingservice.$R_DPS_EXPIRED.$ARC" >"$P/expired.ext"
openssl req -new -config "$P/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$P/expired.key" -out "$P/expired.csr" -subj "/CN=dataprocessingservice.$R_DPS_EXPIRED.$ARC" 2>/dev/null
openssl ca -batch -config "$P/openssl.cnf" -cert "$P/ca.pem" -keyfile "$P/ca.key" -notext \
    -startdate 20230101000000Z -enddate 20240101000000Z -extfile "$P/expired.ext" \
    -in "$P/expired.csr" -out "$P/expired.pem" 2>/dev/null
cp "$P/ca.pem" "$ST/ca.pem"
cp "$P/untrusted-ca.pem" "$ST/untrusted-ca.pem"

# ---------------------------------------------------------------------------------------------
# dnsmasq: corp view (10.0.0.53) and public view (10.0.0.54)
# ---------------------------------------------------------------------------------------------
LOCAL_ZONES=(arcdataservices.com azure.net azure.com windows.net windowsazure.com microsoftonline.com
             clouddatahub.net corp.example)
dnsconf() { # view addr extra-records...
    local view=$1 addr=$2 z
    shift 2
    {
        echo "# netspec lab $NAME: $view view"
        echo "no-resolv"
        echo "no-hosts"
        echo "bind-interfaces"
        echo "listen-address=$addr"
        echo "port=53"
        echo "user=root"
        echo "pid-file=$ST/run/dns-$view.pid"
        echo "log-facility=$ST/log/dns-$view.log"
        echo "log-queries"
        echo "local-ttl=60"
        for z in "${LOCAL_ZONES[@]}"; do echo "local=/$z/"; done
        printf '%s\n' "${BOTH_REC[@]}" "$@"
    } >"$ST/dns-$view.conf"
}
dnsconf corp "$CORP_DNS" "${CORP_REC[@]}"
dnsconf public "$PUBLIC_DNS" "${PUBLIC_REC[@]}"
ip netns exec "$N" dnsmasq --conf-file="$ST/dns-corp.conf"
ip netns exec "$N" dnsmasq --conf-file="$ST/dns-public.conf"
# A validating resolver that forwards to the public view. It trusts the real root key (KSK-2017,
# RFC 7958 trust anchor), but the lab's "internet" is unsigned: every answer is BOGUS, so it
# answers SERVFAIL, as a resolver does when DNSSEC validation fails upstream.
cat >"$ST/dns-servfail.conf" <<EOF
# netspec lab $NAME: validating resolver, answers SERVFAIL
no-resolv
no-hosts
bind-interfaces
listen-address=$SERVFAIL_DNS
port=53
user=root
pid-file=$ST/run/dns-servfail.pid
log-facility=$ST/log/dns-servfail.log
log-queries
dnssec
trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
server=$PUBLIC_DNS
EOF
ip netns exec "$N" dnsmasq --conf-file="$ST/dns-servfail.conf"

# ---------------------------------------------------------------------------------------------
# nginx: TLS vhosts on every lab address (SNI picks the vhost) and the SHIR node listener
# ---------------------------------------------------------------------------------------------
vhost() { # server_name cert status [body]
    cat <<EOF
    server {
        listen 443 ssl;
        server_name $1;
        ssl_certificate $P/$2.pem;
        ssl_certificate_key $P/$2.key;
        return $3 '$4\n';
    }
EOF
}
arcre="[a-z0-9]+\.(blackhole\.)?arcdataservices\.com"
{
    cat <<EOF
# netspec lab $NAME
daemon on;
user root;
worker_processes 2;
worker_rlimit_nofile 16384;
pid $ST/run/nginx.pid;
error_log $ST/log/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log $ST/log/nginx-access.log;
    client_body_temp_path $ST/nginx-tmp/body;
    proxy_temp_path $ST/nginx-tmp/proxy;
    fastcgi_temp_path $ST/nginx-tmp/fastcgi;
    uwsgi_temp_path $ST/nginx-tmp/uwsgi;
    scgi_temp_path $ST/nginx-tmp/scgi;
    default_type text/plain;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
    server_names_hash_bucket_size 128;
    server {
        listen 443 ssl default_server;
        server_name _;
        ssl_certificate $P/default.pem;
        ssl_certificate_key $P/default.key;
        return 421 "misdirected request\n";
    }
    server {
        listen 10.2.4.11:8060;
        return 200 "shir-node1 worker manager\n";
    }
EOF
    vhost "~^dataprocessingservice\.$arcre\$" arc 200 '{"status":"ok"}'
    vhost "~^telemetry\.$arcre\$" arc 401 '{"error":"unauthorized"}'
    vhost "telemetry.$R_TELEMETRY_200.$ARC" arc 200 'not the telemetry service'
    vhost "dataprocessingservice.$R_DPS_UNTRUSTED.$ARC" untrusted 200 '{"status":"ok"}'
    vhost "dataprocessingservice.$R_DPS_EXPIRED.$ARC" expired 200 '{"status":"ok"}'
    vhost "telemetry.$R_TEL_EXPIRING.$ARC" expiring 401 '{"error":"unauthorized"}'
    vhost portal.azure.com public 200 'Microsoft Azure'
    vhost login.microsoftonline.com public 302 ''
    vhost management.azure.com public 401 '{"error":{"code":"AuthenticationFailed"}}'
    vhost '.vault.azure.net .vaultcore.azure.net' public 401 '{"error":{"code":"Unauthorized"}}'
    vhost '.blob.core.windows.net' public 400 'InvalidQueryParameterValue'
    vhost wu2.frontend.clouddatahub.net public 200 'Data Factory service'
    vhost eu.frontend.clouddatahub.net public 200 'Data Factory service'
    vhost blocked.clouddatahub.net public 200 'a site the proxy policy blocks'
    cat <<EOF
    # the TLS-inspecting middlebox: re-signs with the Contoso inspection CA, forwards to the real server
    server {
        listen $INSPECT_ADDR:8443 ssl;
        ssl_certificate $P/inspected.pem;
        ssl_certificate_key $P/inspected.key;
        location / {
            proxy_pass https://$INSPECTED;
            proxy_ssl_server_name on;
            proxy_ssl_name eu.frontend.clouddatahub.net;
            proxy_set_header Host eu.frontend.clouddatahub.net;
            proxy_connect_timeout 2s;
        }
    }
    # TLS 1.3 only (the default server of its own address, so the protocol applies to the handshake)
    server {
        listen $TLS13_ONLY:443 ssl default_server;
        server_name tls13.clouddatahub.net;
        ssl_protocols TLSv1.3;
        ssl_certificate $P/public.pem;
        ssl_certificate_key $P/public.key;
        return 200 "TLS 1.3 only\n";
    }
    # plain HTTP
    server {
        listen $FILES_HTTP:80;
        return 200 "files\n";
    }
    server {
        listen $BLOCKED_HTTP:80;
        return 200 "a site the proxy policy blocks\n";
    }
EOF
    echo "}"
} >"$ST/nginx.conf"
ip netns exec "$N" nginx -e "$ST/log/nginx-error.log" -p "$ST" -c "$ST/nginx.conf"

# ---------------------------------------------------------------------------------------------
# tinyproxy: Basic auth, CONNECT to 443 only
# ---------------------------------------------------------------------------------------------
echo -n "$PROXY_PASSWORD" >"$ST/proxy-password"
chmod 600 "$ST/proxy-password"
cat >"$ST/tinyproxy.conf" <<EOF
Port 3128
Listen $PROXY_ADDR
Timeout 15
PidFile "$ST/run/tinyproxy.pid"
LogFile "$ST/log/tinyproxy.log"
LogLevel Info
MaxClients 100
Allow 10.0.0.0/24
BasicAuth $PROXY_USER $PROXY_PASSWORD
ConnectPort 443
DisableViaHeader Yes
EOF
chmod 600 "$ST/tinyproxy.conf"
ip netns exec "$N" tinyproxy -c "$ST/tinyproxy.conf"
# the filtering proxy: no credentials; its policy (filter) blocks blocked.clouddatahub.net with
# tinyproxy's own 403 page, for plain HTTP and for CONNECT alike
echo '^blocked\.clouddatahub\.net$' >"$ST/tinyproxy-filter.txt"
cat >"$ST/tinyproxy-filter.conf" <<EOF
Port 3128
Listen $FILTER_PROXY_ADDR
Timeout 15
PidFile "$ST/run/tinyproxy-filter.pid"
LogFile "$ST/log/tinyproxy-filter.log"
LogLevel Info
MaxClients 100
Allow 10.0.0.0/24
Filter "$ST/tinyproxy-filter.txt"
FilterType ere
FilterDefaultDeny No
ConnectPort 443
DisableViaHeader Yes
EOF
ip netns exec "$N" tinyproxy -c "$ST/tinyproxy-filter.conf"

# ---------------------------------------------------------------------------------------------
# Files for netspec: DNS settings, vars files, env
# ---------------------------------------------------------------------------------------------
cat >"$ST/dns-settings.txt" <<EOF
# Azure Migrate > Properties > Download DNS settings (netspec lab $NAME)
10.12.4.20 $KV.vault.azure.net $KV.privatelink.vaultcore.azure.net
10.12.4.21 $SA.blob.core.windows.net $SA.privatelink.blob.core.windows.net
10.12.4.23 $DISC.prod.migration.windowsazure.com $DISC.privatelink.prod.migration.windowsazure.com
10.12.4.40 $KV_BAD.vault.azure.net $KV_BAD.privatelink.vaultcore.azure.net
10.12.4.41 $SA_BAD.blob.core.windows.net $SA_BAD.privatelink.blob.core.windows.net
EOF
cat >"$ST/arc-sql.vars.yaml" <<EOF
resolver: corp
corp_dns: $CORP_DNS
cloud_suffix: $ARC
EOF
cat >"$ST/arc-sql-blackhole.vars.yaml" <<EOF
# every DPS/telemetry name of every region resolves to $BLACKHOLE, whose 443 is dropped
resolver: corp
corp_dns: $CORP_DNS
cloud_suffix: blackhole.$ARC
EOF
cat >"$ST/migrate.vars.yaml" <<EOF
resolver: system
corp_dns: $CORP_DNS
dns_settings: $ST/dns-settings.txt
key_vault: $KV
storage_account: $SA
discovery_host: $DISC.prod.migration.windowsazure.com
EOF
cat >"$ST/migrate-faults.vars.yaml" <<EOF
# key vault: corp answer leaks the public address; storage: DNS disagrees with the DNS settings file
resolver: system
corp_dns: $CORP_DNS
dns_settings: $ST/dns-settings.txt
key_vault: $KV_BAD
storage_account: $SA_BAD
discovery_host: $DISC.prod.migration.windowsazure.com
EOF
cat >"$ST/adf.vars.yaml" <<EOF
resolver: system
corp_dns: $CORP_DNS
service_host: wu2.frontend.clouddatahub.net
proxy_url: "http://proxy.corp.example:3128"
proxy_user: $PROXY_USER
nodes:
  - shir-node1.corp.example   # 8060 open
  - shir-node2.corp.example   # 8060 reset  -> closed
  - shir-node3.corp.example   # 8060 dropped -> filtered
  - shir-node4.corp.example   # no DNS record -> NXDOMAIN
EOF
cat >"$ST/lab.env" <<EOF
NETSPEC_LAB_NAME=$NAME
NETSPEC_LAB_CLIENT_NS=$C
NETSPEC_LAB_NET_NS=$N
NETSPEC_LAB_STATE=$ST
SSL_CERT_FILE=$ST/ca.pem
NETSPEC_PROXY_PASSWORD=$PROXY_PASSWORD
EOF
chmod 600 "$ST/lab.env"
cat >"$ST/faults.vars.yaml" <<EOF
# tests/lab/faults.yaml in lab $NAME
corp_dns: $CORP_DNS
dead_dns: $DEAD_DNS
servfail_dns: $SERVFAIL_DNS
filter_proxy: "http://filter.corp.example:3128"
inspection_ca: $ST/untrusted-ca.pem
EOF

# ---------------------------------------------------------------------------------------------
# Readiness: every service answers from the client namespace (bounded: 50 x 0.1 s)
# ---------------------------------------------------------------------------------------------
ready() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    ip netns exec "$C" timeout 1 bash -c \
        'for t in 10.0.0.53/53 10.0.0.54/53 10.0.0.56/53 10.0.0.8/3128 10.0.0.9/3128 40.74.1.10/443 40.74.2.10/443 40.74.3.10/80 10.2.4.11/8060; do
             exec 3<>"/dev/tcp/${t%/*}/${t#*/}" || exit 1; exec 3>&-; done' 2>/dev/null
}
for _ in $(seq 50); do
    if ready; then
        echo "netspec lab $NAME is up: state $ST, run netspec with: ip netns exec $C env SSL_CERT_FILE=$ST/ca.pem netspec ..."
        exit 0
    fi
    sleep 0.1
done
echo "netspec lab $NAME: services did not come up; see $ST/log" >&2
exit 1
