//! The failure taxonomy: every probe outcome that is not a clean answer has a stable reason code
//! (`<kind>.<reason>`), a one-line meaning and a built-in hint drawn from the troubleshooting
//! guides netspec grew out of (Arc SQL connectivity, Azure Migrate private endpoints, the Data
//! Factory self-hosted integration runtime). A check's own `hint` is shown next to it.
//!
//! The table is the single source: reports look codes up here, and docs/reason-codes.md is
//! generated from it (a test fails when the document is stale).

/// One reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// Stable code, e.g. `tcp.filtered`.
    pub code: &'static str,
    /// What it means, for people.
    pub meaning: &'static str,
    /// What usually causes it and what to do.
    pub hint: &'static str,
}

/// Every reason code netspec reports, grouped by kind.
pub const REASONS: &[Reason] = &[
    Reason {
        code: "dns.nxdomain",
        meaning: "the name does not exist (NXDOMAIN)",
        hint: "a typo or a wrong region in the name; for a private endpoint, the private DNS zone has no record for it, or the zone is not linked to the virtual network the resolver serves",
    },
    Reason {
        code: "dns.private_zone_nxdomain",
        meaning: "the name aliases into a privatelink zone, which has no record for it (NXDOMAIN)",
        hint: "the private endpoint's A record is missing from the private DNS zone (re-create the private endpoint's DNS zone group), or this resolver serves another copy of the zone; the public resolver would answer, which is why it works elsewhere",
    },
    Reason {
        code: "dns.no_answer",
        meaning: "the name exists but has no records of the asked type (NOERROR, empty answer)",
        hint: "the record type is missing (an IPv6-only or IPv4-only name), or a CNAME points into a zone the resolver cannot answer for",
    },
    Reason {
        code: "dns.servfail",
        meaning: "the resolver failed to answer (SERVFAIL)",
        hint: "a conditional forwarder points at a server that is down or unreachable, or DNSSEC validation failed upstream",
    },
    Reason {
        code: "dns.refused",
        meaning: "the resolver refused the query (REFUSED)",
        hint: "this resolver does not serve this client or this zone: check its ACLs, or ask the resolver that should forward to it",
    },
    Reason {
        code: "dns.timeout",
        meaning: "no resolver answered before the deadline",
        hint: "UDP/TCP 53 to the resolver is blocked, the resolver is down, or an on-premises forwarder for the zone is missing and the query is lost upstream",
    },
    Reason {
        code: "dns.refused_port",
        meaning: "nothing listens on the resolver's DNS port (ICMP port unreachable)",
        hint: "the resolver address is wrong or its service is stopped",
    },
    Reason {
        code: "dns.network",
        meaning: "the query could not be sent or the answer read",
        hint: "no route to the resolver from this machine, or a local firewall blocks DNS",
    },
    Reason {
        code: "dns.malformed",
        meaning: "the resolver's answer could not be decoded",
        hint: "something that is not a DNS server answers on that address, or a middlebox rewrites DNS",
    },
    Reason {
        code: "dns.error",
        meaning: "the resolver answered with another error code",
        hint: "see the response code in the observation",
    },
    Reason {
        code: "dns.bad_name",
        meaning: "the name is not a valid DNS name",
        hint: "fix the name in the suite or the variable that builds it",
    },
    Reason {
        code: "dns.no_servers",
        meaning: "the resolver has no servers",
        hint: "/etc/resolv.conf lists no nameserver: configure one, or give the suite a named resolver",
    },
    Reason {
        code: "tcp.filtered",
        meaning: "no answer to the connection attempt before the deadline (filtered)",
        hint: "a firewall or network security group drops the traffic silently: open the port on the path (for Arc SQL, HTTPS 443 to the regional endpoints; for a SHIR, TCP 8060 between nodes)",
    },
    Reason {
        code: "tcp.closed",
        meaning: "the connection was refused (RST): closed",
        hint: "nothing listens on that port (service stopped, wrong port), or a firewall rejects the connection actively (Windows: TCP error 10061)",
    },
    Reason {
        code: "tcp.reset_by_middlebox",
        meaning: "the connection was reset (RST) by a device in front of the server: the RST's TTL says it came from fewer hops away than the path to the server (path diagnosis)",
        hint: "a firewall or load balancer at the hop the path names rejects the port with a TCP reset (nftables `reject with tcp reset`, a cloud firewall's deny-with-reset): allow the port there; the server may be fine",
    },
    Reason {
        code: "tcp.unreachable",
        meaning: "a router answered ICMP destination unreachable (host or network) for the connection: not silence",
        hint: "the router that answered (named by the path trace) has no route to the destination or cannot reach the host (a down VM, a missing route or peering); on IPv4 a firewall's administratively-prohibited answer reads the same without a trace",
    },
    Reason {
        code: "tcp.prohibited",
        meaning: "the connection is administratively prohibited: a firewall answered ICMP destination unreachable, code administratively prohibited (or a local firewall refused it)",
        hint: "a firewall rule at the hop the path names rejects the port with ICMP (nftables `reject with icmpx admin-prohibited`, iptables REJECT --reject-with icmp-admin-prohibited): allow the port there",
    },
    Reason {
        code: "tcp.no_route",
        meaning: "this machine has no route to the address",
        hint: "the address family or network is not routed from here (an IPv6 answer on an IPv4-only host, a missing VPN or peering route)",
    },
    Reason {
        code: "tcp.socket",
        meaning: "this machine could not create a socket (the check could not be evaluated)",
        hint: "usually the open-file limit (Too many open files): raise it with `ulimit -n`, or lower `-j`; netspec fits `-j` into the limit at start, so another process may share it",
    },
    Reason {
        code: "path.dropped_after_hop",
        meaning: "the connection got no answer, and the path trace shows where the SYN dies: after the last hop that answered",
        hint: "the device at or just after that hop drops the port silently (a firewall or network security group): open the port there; the trace's hop address names the router to look at",
    },
    Reason {
        code: "tls.untrusted",
        meaning: "the certificate chain is not trusted",
        hint: "usually a proxy inspects TLS with its own CA: install that CA in this machine's trust store or exempt the host from inspection; otherwise the server sends an incomplete chain",
    },
    Reason {
        code: "tls.intercepted",
        meaning: "the chain is not trusted and looks re-signed by a TLS-inspecting proxy or firewall (its issuer names an inspection product, or is not the issuer the check expects)",
        hint: "TLS inspection by a proxy whose CA is not trusted: give that CA with `ca_file` (or install it in this machine's trust store), or ask for the endpoint to be exempted from inspection (services that pin certificates break under it)",
    },
    Reason {
        code: "tls.version_accepted",
        meaning: "the server completed a handshake with a TLS version the check expects it to refuse",
        hint: "the old version is still enabled on the server or on a load balancer or proxy in front of it: disable it there (nginx `ssl_protocols`, the load balancer's TLS policy, Windows Schannel settings)",
    },
    Reason {
        code: "tls.expired",
        meaning: "the certificate has expired (or is not yet valid)",
        hint: "renew the certificate; if only this machine sees it expired, check its clock",
    },
    Reason {
        code: "tls.hostname_mismatch",
        meaning: "the certificate is not valid for the server name",
        hint: "the name resolves to the wrong endpoint (a stale DNS record or hosts-file override), or the server presents a default certificate because SNI was not matched",
    },
    Reason {
        code: "tls.protocol",
        meaning: "the TLS handshake failed on protocol grounds",
        hint: "no common TLS version or cipher suite (the server may only offer TLS 1.0/1.1), or something that is not TLS answers on the port",
    },
    Reason {
        code: "tls.handshake",
        meaning: "the connection broke during the TLS handshake",
        hint: "a firewall or proxy resets TLS to this host (SNI filtering)",
    },
    Reason {
        code: "tls.handshake_timeout",
        meaning: "the TLS handshake did not finish before the deadline",
        hint: "a middlebox lets TCP through but stalls TLS (deep packet inspection), or the server is overloaded",
    },
    Reason {
        code: "tls.ca_file",
        meaning: "the check's CA file could not be used",
        hint: "fix `ca_file`: a readable PEM file with at least one certificate",
    },
    Reason { code: "tls.bad_sni", meaning: "the server name is not valid for SNI", hint: "fix `sni` or the host" },
    Reason {
        code: "tls.no_roots",
        meaning: "no trust anchors are available",
        hint: "this machine has no CA certificates: install ca-certificates or give `ca_file`",
    },
    Reason {
        code: "http.status",
        meaning: "the endpoint answered with another status than expected",
        hint: "a different service answers (a wrong region or a load balancer's default backend), or the route needs authentication",
    },
    Reason {
        code: "http.timeout",
        meaning: "no complete response before the deadline",
        hint: "HTTPS is dropped on the path (firewall), or the endpoint or proxy is too slow",
    },
    Reason {
        code: "http.proxy_auth_required",
        meaning: "the proxy demands credentials (407, or 401 from the proxy itself)",
        hint: "give the proxy's username and password; note that the Arc SQL extension does not support authenticated proxies",
    },
    Reason {
        code: "http.proxy_denied",
        meaning: "the proxy refuses this destination (403)",
        hint: "the proxy's policy blocks the host: add it to the proxy's allow list (for a SHIR, the Data Factory domains)",
    },
    Reason {
        code: "http.proxy_error",
        meaning: "the proxy itself answered with an error (a 5xx page from the proxy, not from the endpoint)",
        hint: "the proxy could not reach or resolve the destination, or timed out waiting for it: check the proxy's own DNS and outbound firewall for this host; the endpoint may be fine from elsewhere",
    },
    Reason {
        code: "http.proxy_connect_failed",
        meaning: "the proxy could not open a tunnel to the destination",
        hint: "the proxy cannot resolve or reach the host (its own DNS or firewall), or it is not a CONNECT-capable proxy",
    },
    Reason {
        code: "http.too_many_redirects",
        meaning: "the redirects loop or go on for more than 10 hops",
        hint: "a redirect loop, often between http and https or a login page; check the Location headers in the observation",
    },
    Reason {
        code: "http.protocol",
        meaning: "the server's answer is not valid HTTP/1.1",
        hint: "something other than a web server listens on this port, or a middlebox answers in its place",
    },
    Reason { code: "http.connect", meaning: "the HTTP connection could not be made", hint: "see the connection error in the observation" },
    Reason {
        code: "http.reset",
        meaning: "the connection was reset during the exchange",
        hint: "a firewall or proxy resets the connection after the handshake",
    },
    Reason { code: "http.error", meaning: "the HTTP exchange failed", hint: "see the error in the observation" },
    Reason { code: "http.client", meaning: "the HTTP client could not be built", hint: "a local problem: report it with the observation" },
    Reason { code: "http.bad_proxy", meaning: "the proxy URL is invalid", hint: "write the proxy as http://host:port" },
    Reason {
        code: "sandbox.refused",
        meaning: "the destination is outside the loopback lab; nothing was sent",
        hint: "the demo or test world does not play this address",
    },
];

/// The entry for `code`, if it is a known reason.
pub fn lookup(code: &str) -> Option<&'static Reason> {
    REASONS.iter().find(|r| r.code == code)
}

/// The reason-code table as Markdown (docs/reason-codes.md).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Reason codes\n\nEvery failure carries a stable reason code: in the console summary (`reason:`), as the JUnit\n`<failure type>`, and in the JSON report (`reason_code`). A check's own `hint` is shown next to\nthe built-in one. Generated from `src/reasons.rs`; a test keeps this file current.\n\n| code | meaning | usual cause and fix |\n|---|---|---|\n",
    );
    for r in REASONS {
        out.push_str(&format!("| `{}` | {} | {} |\n", r.code, r.meaning, r.hint));
    }
    out.push_str(&format!("| `{ASSERTION}` | the probe got a clean answer, but an expectation did not hold (e.g. a public address where a private one is expected, a certificate that expires too soon) | the failure message says what was expected and what was observed; a check's own `hint` says what it means |\n"));
    out
}

/// The JUnit `<failure type>` (and console label) of a failure that has no reason code: the probe
/// got a clean answer, but an expectation did not hold.
pub const ASSERTION: &str = "assertion";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in REASONS {
            assert!(seen.insert(r.code), "duplicate {}", r.code);
            let (kind, rest) = r.code.split_once('.').expect("kind.reason");
            assert!(["dns", "tcp", "tls", "http", "path", "sandbox"].contains(&kind), "{}", r.code);
            assert!(!rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", r.code);
        }
    }

    #[test]
    fn docs_table_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reason-codes.md");
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        if stored != markdown() {
            // Regenerate with: NETSPEC_WRITE_DOCS=1 cargo test --lib reasons
            if std::env::var_os("NETSPEC_WRITE_DOCS").is_some() {
                std::fs::write(&path, markdown()).unwrap();
            } else {
                panic!("docs/reason-codes.md is stale: run `NETSPEC_WRITE_DOCS=1 cargo test --lib reasons`");
            }
        }
    }

    #[test]
    fn every_code_the_probes_emit_is_documented() {
        // Scan the probe and run sources for reason-code literals: each must be in the table.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let re = regex::Regex::new(r#""((?:dns|tcp|tls|http|path|sandbox)\.[a-z_]+)""#).unwrap();
        for f in ["probe/dns.rs", "probe/tcp.rs", "probe/tls.rs", "probe/http.rs", "run/mod.rs", "path/mod.rs"] {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            for c in re.captures_iter(&text) {
                assert!(lookup(&c[1]).is_some(), "{f} emits `{}`, which src/reasons.rs does not document", &c[1]);
            }
        }
    }
}
