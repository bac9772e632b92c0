//! What a check probes, as planned: the target of each kind, the resolver and proxy it goes
//! through, and the small vocabulary shared with the suite format (record types, DNS transport,
//! TLS versions).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Kind;

/// Request headers whose values are credentials, redacted in every report.
pub const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-functions-key", "ocp-apim-subscription-key"];

/// Transport of a named resolver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// UDP, falling back to TCP when the answer is truncated (TC bit, RFC 1035 4.2.1).
    #[default]
    Udp,
    /// TCP only (RFC 1035 4.2.2, RFC 7766).
    Tcp,
}

/// DNS record types netspec queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum RecordType {
    /// IPv4 address (RFC 1035).
    #[default]
    A,
    /// IPv6 address (RFC 3596).
    AAAA,
    /// Canonical name (RFC 1035).
    CNAME,
    /// Text (RFC 1035).
    TXT,
    /// Service locator (RFC 2782).
    SRV,
    /// Mail exchange (RFC 1035).
    MX,
    /// Pointer, reverse lookups (RFC 1035).
    PTR,
    /// Name server (RFC 1035).
    NS,
    /// Start of authority (RFC 1035).
    SOA,
    /// Certification authority authorization (RFC 8659).
    CAA,
}

impl RecordType {
    /// The type's mnemonic (RFC 1035 3.2.2 and the RFCs of each type), e.g. `AAAA`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
            RecordType::TXT => "TXT",
            RecordType::SRV => "SRV",
            RecordType::MX => "MX",
            RecordType::PTR => "PTR",
            RecordType::NS => "NS",
            RecordType::SOA => "SOA",
            RecordType::CAA => "CAA",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLS protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246).
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3 (RFC 8446).
    #[serde(rename = "1.3")]
    V1_3,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::V1_2 => "TLS 1.2",
            TlsVersion::V1_3 => "TLS 1.3",
        })
    }
}

/// A resolver as probes use it.
#[derive(Debug, Clone, Serialize)]
pub struct ResolverSpec {
    /// Its name (`system` or a suite's).
    pub name: String,
    /// Servers in order; `None` for `system` (resolv.conf and the hosts file).
    pub servers: Option<Vec<SocketAddr>>,
    /// Transport.
    pub protocol: Protocol,
}

impl ResolverSpec {
    /// The built-in `system` resolver.
    pub fn system() -> Self {
        ResolverSpec { name: "system".into(), servers: None, protocol: Protocol::Udp }
    }
}

/// A proxy as probes use it.
#[derive(Debug, Clone)]
pub struct ProxySpec {
    /// Its name in the suite.
    pub name: String,
    /// `http://host:port`.
    pub url: url::Url,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password (a secret).
    pub password: Option<String>,
}

/// An HTTP request to make.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// Absolute URL.
    pub url: url::Url,
    /// Method.
    pub method: http::Method,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<String>,
    /// Proxy, or direct.
    pub proxy: Option<Arc<ProxySpec>>,
    /// Follow up to 10 redirects.
    pub follow_redirects: bool,
    /// Trust anchors instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Pinned IP.
    pub connect_to: Option<IpAddr>,
}

/// What a check probes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A DNS question.
    Dns {
        /// Name.
        name: String,
        /// Type.
        record_type: RecordType,
        /// Other resolvers asked the same question (`compare`).
        compare: Vec<Arc<ResolverSpec>>,
    },
    /// TCP connects.
    Tcp {
        /// Host or IP literal.
        host: String,
        /// Port.
        port: u16,
        /// Local bind address.
        source: Option<IpAddr>,
    },
    /// TLS handshakes.
    Tls {
        /// Host or IP literal.
        host: String,
        /// Port.
        port: u16,
        /// SNI / verified name.
        sni: String,
        /// Trust anchors file.
        ca_file: Option<PathBuf>,
        /// Versions to offer alone in extra handshakes (from `refuses_versions`), sorted.
        refuse_versions: Vec<TlsVersion>,
    },
    /// An HTTP request.
    Http(Box<HttpTarget>),
}

impl Target {
    /// The check's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Target::Dns { .. } => Kind::Dns,
            Target::Tcp { .. } => Kind::Tcp,
            Target::Tls { .. } => Kind::Tls,
            Target::Http(_) => Kind::Http,
        }
    }

    /// One-line description: `dns A name`, `tcp host:443`, `GET https://…`.
    pub fn describe(&self) -> String {
        match self {
            // The two kinds of large generated suites: written without `core::fmt` (planning
            // describes every check).
            Target::Dns { name, record_type, compare } => {
                let mut out = String::with_capacity(8 + name.len());
                out.push_str("dns ");
                out.push_str(record_type.as_str());
                out.push(' ');
                out.push_str(name);
                for (i, r) in compare.iter().enumerate() {
                    out.push_str(if i == 0 { " compared with " } else { ", " });
                    out.push_str(&r.name);
                }
                out
            }
            Target::Tcp { host, port, .. } => {
                let mut out = String::with_capacity(10 + host.len());
                out.push_str("tcp ");
                out.push_str(host);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*port));
                out
            }
            Target::Tls { host, port, sni, .. } => {
                if sni == host {
                    format!("tls {host}:{port}")
                } else {
                    format!("tls {host}:{port} sni={sni}")
                }
            }
            Target::Http(h) => {
                let via = h.proxy.as_ref().map(|p| format!(" via proxy {}", p.name)).unwrap_or_default();
                format!("{} {}{via}", h.method, h.url)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_read_as_formatted() {
        let r = |n: &str| Arc::new(ResolverSpec { name: n.into(), servers: None, protocol: Protocol::Udp });
        for compare in [vec![], vec![r("corp")], vec![r("corp"), r("public")]] {
            let names: Vec<&str> = compare.iter().map(|r| r.name.as_str()).collect();
            let want = if names.is_empty() {
                "dns AAAA a.example".to_owned()
            } else {
                format!("dns AAAA a.example compared with {}", names.join(", "))
            };
            let t = Target::Dns { name: "a.example".into(), record_type: RecordType::AAAA, compare };
            assert_eq!(t.describe(), want);
        }
        for (host, port) in [("10.0.0.1", 1u16), ("db.example", 65535), ("::1", 443)] {
            let t = Target::Tcp { host: host.into(), port, source: None };
            assert_eq!(t.describe(), format!("tcp {host}:{port}"));
        }
    }
}
