//! What an HTTP exchange observed: status, headers, body's start, proxy, redirects, TLS, timings.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Resolution;
use super::tls::Handshake;
use crate::model::Failure;

/// Per-phase wall times of the probe in milliseconds, summed over every hop of a redirect chain.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct HttpTimings {
    /// Resolving the URL's host (absent for IP literals, `connect_to`, and through a proxy, which
    /// resolves it), ms.
    pub dns_ms: Option<f64>,
    /// TCP connect to the server or the proxy, including the proxy's `CONNECT` answer, ms.
    pub connect_ms: Option<f64>,
    /// TLS handshake, ms.
    pub tls_ms: Option<f64>,
    /// From the request sent to the response head received (server and proxy think time), ms.
    pub first_byte_ms: Option<f64>,
    /// The whole probe, body included, ms.
    pub total_ms: f64,
}

/// What an HTTP check observed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HttpObservation {
    /// Method and URL.
    pub request: String,
    /// How the URL's host became addresses; `None` when a proxy resolves it.
    pub resolution: Option<Resolution>,
    /// The proxy used, by name.
    pub proxy: Option<String>,
    /// Response status (the endpoint's; `None` when the proxy answered instead, see `failure`).
    pub status: Option<u16>,
    /// Response headers, names lower case, in order (at most 100).
    pub headers: Vec<(String, String)>,
    /// The body's first bytes (lossy UTF-8), at most the run's body cap.
    pub body: String,
    /// Whether the body was cut at the cap.
    pub body_truncated: bool,
    /// The address connected for the last hop (the proxy's, through a proxy).
    pub remote_address: Option<SocketAddr>,
    /// The answer (an error or block page, or a refused `CONNECT`) came from the proxy itself.
    pub from_proxy: bool,
    /// Redirect targets followed, in order.
    pub redirects: Vec<String>,
    /// TLS of the last hop: version and cipher suite; when the certificate was refused, the
    /// presented chain and the verifier's reason from a second, recording handshake.
    pub tls: Option<Box<Handshake>>,
    /// Time per phase.
    pub timings: HttpTimings,
    /// Why there is no response.
    pub failure: Option<Failure>,
    /// Wall time.
    #[serde(with = "crate::model::millis")]
    #[schemars(with = "crate::model::Millis")]
    pub elapsed: Duration,
}

impl HttpObservation {
    /// Values of header `name` (case-insensitive), joined with ", ".
    pub fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<&str> = self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        if vals.is_empty() { None } else { Some(vals.join(", ")) }
    }

    /// Lines for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.resolution {
            out.push(r.describe());
        }
        let via = self.proxy.as_ref().map(|p| format!(" via proxy {p}")).unwrap_or_default();
        for r in &self.redirects {
            out.push(format!("  redirected to {r}"));
        }
        match (&self.status, &self.failure) {
            (Some(s), _) => {
                let from = self.remote_address.map(|a| format!(" from {a}")).unwrap_or_default();
                out.push(format!("{}{via}: HTTP {s}{from} in {:.1} ms", self.request, self.elapsed.as_secs_f64() * 1000.0));
                for (k, v) in self.headers.iter().take(12) {
                    out.push(format!("  {k}: {v}"));
                }
                if !self.body.is_empty() {
                    let snippet: String = self.body.chars().take(200).collect();
                    out.push(format!("  body: {}", snippet.replace('\n', " ")));
                }
            }
            (None, Some(f)) => out.push(format!("{}{via}: no response: {} [{}]", self.request, f.message, f.reason)),
            (None, None) => {}
        }
        if let Some(h) = &self.tls {
            if let Some(e) = &h.trust_error {
                out.push(format!("  TLS {} {}: untrusted: {e}", h.version, h.cipher_suite));
            }
            for (i, c) in h.chain.iter().enumerate() {
                out.push(format!("    [{i}] subject: {}; issuer: {}", c.subject, c.issuer));
                out.push(format!("        SANs: {}; valid {} .. {}", c.sans.join(", "), c.not_before, c.not_after));
            }
        }
        let t = &self.timings;
        let phase = |n: &str, v: Option<f64>| v.map(|v| format!(" {n} {v:.1}"));
        let phases: String = [
            phase("dns", t.dns_ms),
            phase("connect", t.connect_ms),
            phase("tls", t.tls_ms),
            phase("first byte", t.first_byte_ms),
            phase("total", Some(t.total_ms)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",");
        out.push(format!("  timings (ms):{phases}"));
        out
    }
}
