//! The serde model of a suite file, exactly as written (format v1, docs/suite-format.md).
//!
//! Boundary: this module only describes shapes. Strings may still hold `{{ var }}` templates; they
//! are rendered and checked by [`crate::plan`]. Values whose syntax does not depend on
//! templating (durations, record types, rcodes, port numbers, status codes) are parsed here, so the
//! YAML library reports their errors with file, line and column.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

pub use super::check::{Check, CheckKind, UseSpec};
pub use crate::model::target::{Protocol, RecordType, TlsVersion};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A value with the line and column (1-based, characters) where the YAML wrote it.
///
/// Wraps `serde_saphyr::Spanned` so the schema generator sees the inner type only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc<T> {
    /// The parsed value.
    pub value: T,
    /// 1-based line of the value in its file (0 when synthesized, e.g. from the command line).
    pub line: u32,
    /// 1-based column of the value in its file (0 when synthesized).
    pub column: u32,
}

impl<T> Loc<T> {
    /// A value that did not come from a file (command line, defaults).
    pub fn synthetic(value: T) -> Self {
        Loc { value, line: 0, column: 0 }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Loc<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Loc { value: s.value, line: s.referenced.line() as u32, column: s.referenced.column() as u32 })
    }
}

impl<T: Serialize> Serialize for Loc<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for Loc<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// A templatable string with its location: `{{ var }}` is rendered at plan time.
pub type Text = Loc<String>;

/// A suite file (`netspec: 1`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Format version; must be 1.
    pub netspec: u32,
    /// Suite name: the JUnit `<testsuites name>` and the first part of every check id.
    pub name: Text,
    /// One line saying what the suite proves.
    #[serde(default)]
    pub description: Option<String>,
    /// Variable defaults (lowest precedence): strings, numbers, booleans or lists of strings.
    #[serde(default)]
    pub vars: IndexMap<String, serde_json::Value>,
    /// Matrix axes: every combination of the axes a scenario's name uses expands that scenario.
    #[serde(default)]
    pub matrix: IndexMap<String, Axis>,
    /// Settings applied to every check unless the check overrides them.
    #[serde(default)]
    pub defaults: Defaults,
    /// Named resolvers; `system` (resolv.conf + hosts file) is built in.
    #[serde(default)]
    pub resolvers: IndexMap<String, ResolverDef>,
    /// Named HTTP proxies, used by `http.proxy`.
    #[serde(default)]
    pub proxies: IndexMap<String, ProxyDef>,
    /// Reusable checks with parameters, used by `use:` entries in scenarios.
    #[serde(default)]
    pub templates: IndexMap<String, CheckTemplate>,
    /// Library files (relative to this file) whose vars, resolvers, proxies and templates this
    /// suite uses; this file's own definitions win over included ones, later includes over earlier.
    #[serde(default)]
    pub include: Vec<Text>,
    /// The scenarios, in report order.
    pub scenarios: Vec<Scenario>,
}

/// A library file pulled in by `include:`: shared definitions, no scenarios.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Library {
    /// Format version; must be 1.
    pub netspec: u32,
    /// What the library holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Variable defaults (below the including suite's own `vars`).
    #[serde(default)]
    pub vars: IndexMap<String, serde_json::Value>,
    /// Named resolvers.
    #[serde(default)]
    pub resolvers: IndexMap<String, ResolverDef>,
    /// Named proxies.
    #[serde(default)]
    pub proxies: IndexMap<String, ProxyDef>,
    /// Check templates.
    #[serde(default)]
    pub templates: IndexMap<String, CheckTemplate>,
    /// Further libraries (cycles are an error).
    #[serde(default)]
    pub include: Vec<Text>,
}

/// A reusable group of checks: `params` become variables inside `checks` when a scenario says
/// `- { name: NAME, use: TEMPLATE, with: { param: value } }`. Expanded check names are
/// `NAME: <template check name>`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckTemplate {
    /// What the template checks.
    #[serde(default)]
    pub description: Option<String>,
    /// Parameter names; every one must be given in `with` unless it has a default here.
    #[serde(default)]
    pub params: Vec<String>,
    /// Defaults for parameters.
    #[serde(default)]
    pub defaults: IndexMap<String, serde_json::Value>,
    /// The checks (templated with the parameters and the scenario's variables).
    pub checks: Vec<Check>,
}

/// The values of one matrix axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// An inline list: `region: [eastus, westus2]`.
    List(Vec<String>),
    /// `{ var: nodes }`: the variable's value, a list or a comma-separated string.
    Var(String),
    /// `{ file: regions.txt }`: one value a line (blank lines and `#` comments skipped), relative to the suite file.
    File(String),
}

impl<'de> Deserialize<'de> for Axis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Axis;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of values, `{ var: NAME }` or `{ file: PATH }`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Axis, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Scalar>()? {
                    out.push(v.0);
                }
                Ok(Axis::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Axis, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    let v: String = map.next_value()?;
                    if out.is_some() {
                        return Err(de::Error::custom("an axis takes one of `var` or `file`"));
                    }
                    out = Some(match k.as_str() {
                        "var" => Axis::Var(v),
                        "file" => Axis::File(v),
                        other => return Err(de::Error::unknown_field(other, &["var", "file"])),
                    });
                }
                out.ok_or_else(|| de::Error::custom("an axis mapping needs `var` or `file`"))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Axis {
    fn schema_name() -> Cow<'static, str> {
        "Axis".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Matrix axis values: a list, `{ var: NAME }` (a list variable) or `{ file: PATH }` (one value a line).",
            "oneOf": [
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } },
                { "type": "object", "properties": { "var": { "type": "string" } }, "required": ["var"], "additionalProperties": false },
                { "type": "object", "properties": { "file": { "type": "string" } }, "required": ["file"], "additionalProperties": false }
            ]
        })
    }
}

/// A YAML scalar (string, number or boolean) taken as its text.
#[derive(Debug, Clone)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Suite-wide defaults for checks.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Deadline of one attempt, covering resolution, connect, handshake and response (default 5s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Attempts and the delay between them (default: one attempt).
    #[serde(default)]
    pub retry: Option<Retry>,
}

/// How often a failing check is tried.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Pause before the second attempt (default 1s).
    #[serde(default = "Dur::one_second")]
    pub delay: Dur,
    /// Factor applied to the pause after each attempt (default 1: constant), capped at 60s.
    /// A finite number from 1.0 to 10.0 ([`MIN_BACKOFF`]–[`MAX_BACKOFF`]); anything else is a
    /// located error at validate time.
    #[serde(default = "one", deserialize_with = "backoff")]
    pub backoff: f64,
}

fn one() -> f64 {
    1.0
}

/// Smallest `retry.backoff` (a constant pause).
pub const MIN_BACKOFF: f64 = 1.0;
/// Largest `retry.backoff`: ten times longer after each attempt already reaches the 60 s cap
/// on the third pause.
pub const MAX_BACKOFF: f64 = 10.0;

fn backoff<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    // Checked inside the visitor, so the parser locates the error at the value.
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a number from {MIN_BACKOFF} to {MAX_BACKOFF}")
        }
        fn visit_f64<E: de::Error>(self, b: f64) -> Result<f64, E> {
            if b.is_finite() && (MIN_BACKOFF..=MAX_BACKOFF).contains(&b) {
                Ok(b)
            } else {
                let shown = if b.is_finite() && b.abs() < 1e6 { b.to_string() } else { format!("{b:e}") };
                Err(E::custom(format!("backoff {shown} is not a number from {MIN_BACKOFF} to {MAX_BACKOFF} (e.g. 1.5)")))
            }
        }
        fn visit_i64<E: de::Error>(self, b: i64) -> Result<f64, E> {
            self.visit_f64(b as f64)
        }
        fn visit_u64<E: de::Error>(self, b: u64) -> Result<f64, E> {
            self.visit_f64(b as f64)
        }
    }
    d.deserialize_f64(V)
}

/// A humantime duration such as `500ms`, `5s`, `2m`, `14d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    fn one_second() -> Dur {
        Dur(Duration::from_secs(1))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(Dur)
            .map_err(|_| de::Error::invalid_value(de::Unexpected::Str(&s), &"a duration such as 500ms, 5s, 2m or 14d"))
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. 500ms, 5s, 2m, 14d.",
            "pattern": "^\\s*[0-9]+\\s*(ns|us|ms|s|sec|m|min|h|hr|d|days?|w)(\\s*[0-9]+\\s*(ns|us|ms|s|sec|m|min|h|hr|d|days?|w))*\\s*$"
        })
    }
}

/// A named resolver: DNS servers asked in order.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolverDef {
    /// Servers as `IP` (port 53) or `IP:PORT` (`[v6]:PORT` for IPv6); templatable.
    pub servers: Vec<Text>,
    /// `udp` (default, TCP fallback on truncation) or `tcp`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// A named HTTP proxy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyDef {
    /// `http://host:port` (HTTPS targets go through CONNECT).
    pub url: Text,
    /// Basic-auth user name; empty means none.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password; take it from the environment: `{{ env.PROXY_PASSWORD }}`.
    #[serde(default)]
    pub password: Option<String>,
}

/// A scenario: a named group of checks; becomes one JUnit `<testsuite>` per matrix instance.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Instance name (templated); the matrix axes it uses are the ones it expands over.
    pub name: Text,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags for `--tag` filtering, added to every check's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default resolver of the scenario's checks (`system` when absent); templatable.
    #[serde(default)]
    pub resolver: Option<Text>,
    /// `false`: never trace the path of this scenario's connections (`--path`,
    /// docs/path-diagnosis.md); a check's own `path` wins.
    #[serde(default)]
    pub path: Option<bool>,
    /// The checks, in report order.
    pub checks: Vec<Check>,
}

/// `dns:` — ask one resolver one question.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// The name to query; taken as fully qualified (no search domains are appended).
    pub name: Text,
    /// Record type (default A).
    #[serde(default, rename = "type")]
    pub record_type: RecordType,
    /// Resolver name (default: the scenario's, else `system`).
    #[serde(default)]
    pub resolver: Option<Text>,
    /// Other resolvers asked the same question at the same time, for `agree` (split horizon).
    #[serde(default)]
    pub compare: Vec<Text>,
}

/// `tcp:` — open a TCP connection to every address of a host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Host name or IP literal (an IP literal skips resolution).
    pub host: Text,
    /// Port, 1–65535; templatable (`"{{ port }}"`).
    pub port: Tpl<Port>,
    /// Resolver name.
    #[serde(default)]
    pub resolver: Option<Text>,
    /// Local address to bind before connecting.
    #[serde(default)]
    pub source: Option<Text>,
}

/// `tls:` — a TLS handshake to every address of a host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// Host name or IP literal.
    pub host: Text,
    /// Port (default 443); templatable (`"{{ port }}"`).
    #[serde(default = "Port::https")]
    pub port: Tpl<Port>,
    /// Server name sent in SNI and verified against the certificate (default: host).
    #[serde(default)]
    pub sni: Option<Text>,
    /// PEM file of trust anchors to use instead of the system store.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Resolver name.
    #[serde(default)]
    pub resolver: Option<Text>,
}

/// `http:` — one HTTP request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Absolute `http://` or `https://` URL.
    pub url: Text,
    /// Method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Proxy name from `proxies`, or `none` (the default: the environment's proxy variables are ignored).
    #[serde(default)]
    pub proxy: Option<Text>,
    /// Follow redirects (up to 10); default false, so a 3xx is observed as such.
    #[serde(default)]
    pub follow_redirects: bool,
    /// PEM file of trust anchors to use instead of the system store.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Skip certificate verification (flagged in reports).
    #[serde(default)]
    pub insecure: bool,
    /// Resolver name for the URL's host.
    #[serde(default)]
    pub resolver: Option<Text>,
    /// Connect to this IP instead of resolving the host; Host header and SNI stay the URL's.
    #[serde(default)]
    pub connect_to: Option<Text>,
}

/// A TCP port number 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Port(#[schemars(range(min = 1, max = 65535))] pub u16);

impl Port {
    fn https() -> Tpl<Port> {
        Tpl::Value(Port(443))
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        match u16::try_from(v) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(de::Error::invalid_value(de::Unexpected::Unsigned(v), &"a port number from 1 to 65535 (out of range)")),
        }
    }
}

/// DNS response codes (RFC 1035 4.1.1, RFC 6895).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rcode {
    /// No error.
    NoError,
    /// Format error.
    FormErr,
    /// Server failure.
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// Not implemented.
    NotImp,
    /// Refused.
    Refused,
}

impl Rcode {
    /// The rcode's name as RFC 1035 4.1.1 and the IANA DNS RCODE registry write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Expected TCP outcome, in nmap's port-state terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateExpect {
    /// The handshake completed.
    Open,
    /// Actively refused (RST).
    Closed,
    /// No answer before the deadline (or ICMP unreachable).
    Filtered,
    /// Must not connect: closed or filtered.
    Blocked,
}

/// Everything a check can expect; which keys apply depends on the check's kind.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// dns: the response code.
    #[serde(default)]
    pub rcode: Option<Rcode>,
    /// dns: whether the answer holds records of the queried type (after following CNAMEs).
    #[serde(default)]
    pub resolves: Option<bool>,
    /// dns: the addresses in the answer.
    #[serde(default)]
    pub addresses: Option<Box<AddressMatcher>>,
    /// dns: matched against every name of the CNAME chain; holds when one of them matches.
    #[serde(default)]
    pub cname: Option<Box<StringMatcher>>,
    /// dns: bounds on every answer record's TTL.
    #[serde(default)]
    pub ttl: Option<DurRange>,
    /// dns with `compare`: `true`: every resolver gives the same answer (rcode and address set);
    /// `false`: at least one differs (split horizon).
    #[serde(default)]
    pub agree: Option<bool>,
    /// dns: `true`: the name is a private endpoint: its chain goes through the service's
    /// `privatelink.` zone (from the Azure private-link zone table) to private addresses;
    /// `false`: it resolves publicly (no privatelink alias, public addresses).
    #[serde(default)]
    pub private_endpoint: Option<bool>,
    /// tcp: the port state on every address.
    #[serde(default)]
    pub state: Option<StateExpect>,
    /// tls: whether the presented chain verifies for the server name.
    #[serde(default)]
    pub trusted: Option<bool>,
    /// tls: lowest acceptable negotiated version, "1.2" or "1.3".
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// tls: time left before the leaf certificate's not_after.
    #[serde(default)]
    pub expires_in: Option<DurRange>,
    /// tls: one of the leaf's subject alternative names matches.
    #[serde(default)]
    pub san: Option<Box<StringMatcher>>,
    /// tls: the leaf's issuer (distinguished name) matches.
    #[serde(default)]
    pub issuer: Option<Box<StringMatcher>>,
    /// tls: versions the server must refuse, e.g. `[tls1.2]`: one extra handshake per version and
    /// address offers only that version and must fail. netspec (rustls) speaks TLS 1.2 and 1.3
    /// only, so TLS 1.0 and 1.1 cannot be tested (rejected by `netspec validate`).
    #[serde(default)]
    pub refuses_versions: Option<Vec<Loc<ProtocolVersion>>>,
    /// http: status code, class (`2xx`) or a list of them.
    #[serde(default)]
    pub status: Option<StatusSet>,
    /// http: response headers by (case-insensitive) name.
    #[serde(default)]
    pub headers: IndexMap<String, StringMatcher>,
    /// http: the response body (first 64 KiB).
    #[serde(default)]
    pub body: Option<Box<StringMatcher>>,
    /// http: the address actually connected to.
    #[serde(default)]
    pub remote_address: Option<Box<AddressMatcher>>,
    /// any: bounds on the attempt's elapsed time.
    #[serde(default)]
    pub time: Option<DurRange>,
}

/// `{ min: DUR, max: DUR }`, either bound optional.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DurRange {
    /// Lower bound, inclusive.
    #[serde(default)]
    pub min: Option<Dur>,
    /// Upper bound, inclusive.
    #[serde(default)]
    pub max: Option<Dur>,
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        match s.trim().trim_start_matches("TLS").trim_start_matches("tls").trim() {
            "1.2" => Ok(TlsVersion::V1_2),
            "1.3" => Ok(TlsVersion::V1_3),
            _ => Err(de::Error::invalid_value(de::Unexpected::Str(&s), &"a TLS version: \"1.2\" or \"1.3\"")),
        }
    }
}

/// A TLS protocol version as named in `refuses_versions`: `1.0` to `1.3`, also written `tls1.2`,
/// `TLSv1.2` or `TLS 1.2`. Only 1.2 and 1.3 can be tested ([`ProtocolVersion::testable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ProtocolVersion {
    /// TLS 1.0 (RFC 2246); cannot be tested.
    #[serde(rename = "1.0")]
    V1_0,
    /// TLS 1.1 (RFC 4346); cannot be tested.
    #[serde(rename = "1.1")]
    V1_1,
    /// TLS 1.2 (RFC 5246).
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3 (RFC 8446).
    #[serde(rename = "1.3")]
    V1_3,
}

impl ProtocolVersion {
    /// The version netspec can offer on its own, `None` for 1.0 and 1.1 (rustls does not
    /// implement them).
    pub fn testable(self) -> Option<TlsVersion> {
        match self {
            ProtocolVersion::V1_2 => Some(TlsVersion::V1_2),
            ProtocolVersion::V1_3 => Some(TlsVersion::V1_3),
            ProtocolVersion::V1_0 | ProtocolVersion::V1_1 => None,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V1_0 => "TLS 1.0",
            ProtocolVersion::V1_1 => "TLS 1.1",
            ProtocolVersion::V1_2 => "TLS 1.2",
            ProtocolVersion::V1_3 => "TLS 1.3",
        })
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        let lower = s.trim().to_ascii_lowercase();
        let v = lower.strip_prefix("tls").unwrap_or(&lower).trim_start_matches('v').trim();
        match v {
            // an unquoted YAML `1.0` arrives as the number 1
            "1.0" | "1" => Ok(ProtocolVersion::V1_0),
            "1.1" => Ok(ProtocolVersion::V1_1),
            "1.2" => Ok(ProtocolVersion::V1_2),
            "1.3" => Ok(ProtocolVersion::V1_3),
            _ => Err(de::Error::invalid_value(de::Unexpected::Str(&s), &"a TLS version: \"1.2\" or \"1.3\" (also written tls1.2)")),
        }
    }
}

impl JsonSchema for ProtocolVersion {
    fn schema_name() -> Cow<'static, str> {
        "ProtocolVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A TLS version the server must refuse. netspec speaks TLS 1.2 and 1.3 only: 1.0 and 1.1 cannot be tested.",
            "enum": ["1.2", "1.3", "tls1.2", "tls1.3", "TLSv1.2", "TLSv1.3", 1.2, 1.3]
        })
    }
}

/// Address matcher. Every given key must hold. Terms are class names (`private`, `public`,
/// `loopback`, `link_local`), CIDRs (`10.12.0.0/16`) or single IPs; templatable.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressMatcher {
    /// Every address is in one of the terms (and there is at least one address).
    #[serde(default)]
    pub all: Option<Terms>,
    /// At least one address is in one of the terms.
    #[serde(default)]
    pub any: Option<Terms>,
    /// No address is in any of the terms.
    #[serde(default)]
    pub none: Option<Terms>,
    /// Every listed IP is among the addresses.
    #[serde(default)]
    pub contains: Option<Terms>,
    /// The set of addresses equals the listed IPs.
    #[serde(default)]
    pub equals: Option<Terms>,
    /// The addresses equal the IPs a hosts-format file lists for the queried name or any name of
    /// its CNAME chain (path relative to the suite file).
    #[serde(default)]
    pub from_hosts_file: Option<String>,
}

/// One term or a list of terms (strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Terms(pub Vec<String>);

impl<'de> Deserialize<'de> for Terms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Terms;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Terms, E> {
                Ok(Terms(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Terms, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Scalar>()? {
                    out.push(v.0);
                }
                Ok(Terms(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Terms {
    fn schema_name() -> Cow<'static, str> {
        "Terms".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A term or a list of terms: private, public, loopback, link_local, a CIDR or an IP.",
            "oneOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ]
        })
    }
}

/// String matcher: a plain string means equality; a mapping combines operators (all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StringMatcher {
    /// Equal to.
    pub equals: Option<String>,
    /// Contains.
    pub contains: Option<String>,
    /// Does not contain.
    pub not_contains: Option<String>,
    /// Starts with.
    pub starts_with: Option<String>,
    /// Ends with.
    pub ends_with: Option<String>,
    /// Matches the regular expression (Rust `regex` syntax, unanchored).
    pub matches: Option<String>,
    /// Matches the glob (`*`, `?`, `[...]`).
    pub glob: Option<String>,
}

const STRING_OPS: &[&str] = &["equals", "contains", "not_contains", "starts_with", "ends_with", "matches", "glob"];

impl<'de> Deserialize<'de> for StringMatcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMatcher;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or a mapping of equals/contains/not_contains/starts_with/ends_with/matches/glob")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringMatcher, E> {
                Ok(StringMatcher { equals: Some(v.to_owned()), ..Default::default() })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringMatcher, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringMatcher, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMatcher, A::Error> {
                let mut m = StringMatcher::default();
                while let Some(k) = map.next_key::<String>()? {
                    let v = map.next_value::<Scalar>()?.0;
                    let slot = match k.as_str() {
                        "equals" => &mut m.equals,
                        "contains" => &mut m.contains,
                        "not_contains" => &mut m.not_contains,
                        "starts_with" => &mut m.starts_with,
                        "ends_with" => &mut m.ends_with,
                        "matches" => &mut m.matches,
                        "glob" => &mut m.glob,
                        other => return Err(de::Error::unknown_field(other, STRING_OPS)),
                    };
                    if slot.replace(v).is_some() {
                        return Err(de::Error::custom(format!("duplicate operator `{k}`")));
                    }
                }
                if m == StringMatcher::default() {
                    return Err(de::Error::custom("an empty string matcher matches nothing; give an operator"));
                }
                Ok(m)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StringMatcher {
    fn schema_name() -> Cow<'static, str> {
        "StringMatcher".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let props: serde_json::Map<String, serde_json::Value> =
            STRING_OPS.iter().map(|k| (k.to_string(), serde_json::json!({ "type": "string" }))).collect();
        json_schema!({
            "description": "A plain string (equality) or a mapping of operators that must all hold.",
            "oneOf": [
                { "type": ["string", "number"] },
                { "type": "object", "properties": props, "additionalProperties": false, "minProperties": 1 }
            ]
        })
    }
}

/// Expected HTTP status: a code (`200`), a class (`2xx`) or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusSet(pub Vec<StatusTerm>);

/// One accepted status: an exact code or a class (the hundreds digit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatusTerm {
    /// An exact code, 100–599.
    Code(u16),
    /// A class: `2` for `2xx`.
    Class(u8),
}

impl fmt::Display for StatusTerm {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            StatusTerm::Code(c) => write!(f, "{c}"),
            StatusTerm::Class(c) => write!(f, "{c}xx"),
        }
    }
}

fn status_term<E: de::Error>(s: &str) -> Result<StatusTerm, E> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(d) = t.strip_suffix("xx")
        && let Ok(c @ 1..=5) = d.parse::<u8>()
    {
        return Ok(StatusTerm::Class(c));
    }
    match t.parse::<u16>() {
        Ok(c @ 100..=599) => Ok(StatusTerm::Code(c)),
        _ => Err(E::invalid_value(de::Unexpected::Str(s), &"an HTTP status: a code 100-599 or a class such as 2xx")),
    }
}

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (200), a class (2xx) or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusSet, E> {
                Ok(StatusSet(vec![status_term(&v.to_string())?]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusSet, E> {
                Ok(StatusSet(vec![status_term(&v.to_string())?]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusSet, E> {
                Ok(StatusSet(vec![status_term(v)?]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSet, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Scalar>()? {
                    out.push(status_term(&v.0)?);
                }
                if out.is_empty() {
                    return Err(de::Error::custom("an empty status list matches nothing"));
                }
                Ok(StatusSet(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StatusSet {
    fn schema_name() -> Cow<'static, str> {
        "StatusSet".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status code (200), a class (\"2xx\") or a list of them.",
            "oneOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^([1-5]xx|[1-5][0-9][0-9])$" },
                { "type": "array", "minItems": 1, "items": { "type": ["integer", "string"] } }
            ]
        })
    }
}

/// Whether a YAML value holds template syntax (`{{` or `{%`) in any of its strings.
pub fn holds_template(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => crate::suite::template::is_template(s),
        serde_json::Value::Array(a) => a.iter().any(holds_template),
        serde_json::Value::Object(m) => m.values().any(holds_template),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => false,
    }
}

/// A typed value (a port, a duration, a status, a boolean) that may instead be written as a
/// template, `port: "{{ port }}"`: the template is rendered per check at plan time and the
/// rendered text is then read as a YAML scalar of the field's type (`"443"` is the number 443,
/// `"true"` a boolean), with a located error when it is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum Tpl<T> {
    /// Written as a value of the type: parsed (and checked) when the file is read.
    Value(T),
    /// Holds `{{ … }}` somewhere: the value as written, with its position.
    Template(Loc<serde_json::Value>),
    /// Not a value of the type: the message (`expected …, found …`) at the value's position,
    /// reported by planning (the YAML library cannot locate errors of values read this way).
    Invalid(Loc<String>),
}

/// serde's "invalid value: integer `70000`, expected a port …" as "expected a port …, found
/// `70000`", the form the YAML library's own messages take.
fn expected_found(msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("invalid value: ").or_else(|| msg.strip_prefix("invalid type: ")) else {
        return msg.to_owned();
    };
    match rest.split_once(", expected ") {
        Some((found, expected)) => {
            let found = found.split_once(' ').map_or(found, |(_, v)| v).trim_matches('"');
            let found = found.trim_matches('`');
            let expected = match expected {
                "u64" | "u32" | "u16" => "a whole number (0 or more)",
                other => other,
            };
            format!("expected {expected}, found `{found}`")
        }
        None => msg.to_owned(),
    }
}

/// What a [`Tpl`] reads inside `Spanned` (which supplies the position): a scalar is handed to
/// `T` while the parser still stands on it, so `T`'s errors keep their line and column.
enum TplInner<T> {
    Value(T),
    Template(serde_json::Value),
    Invalid(String),
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for TplInner<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        struct V<T>(std::marker::PhantomData<T>);
        fn value<T: serde::de::DeserializeOwned, E: de::Error>(r: Result<T, de::value::Error>) -> Result<TplInner<T>, E> {
            Ok(r.map_or_else(|e| TplInner::Invalid(expected_found(&e.to_string())), TplInner::Value))
        }
        impl<T: serde::de::DeserializeOwned> V<T> {
            /// A number: the field's value when it reads as one; else it is read as its text
            /// (`timeout: 5` where a duration is expected), so the field says what it accepts;
            /// a number of the right type but out of range keeps that message.
            fn number<'x, N, E>(self, v: N) -> Result<TplInner<T>, E>
            where
                N: IntoDeserializer<'x, de::value::Error> + ToString + Copy,
                E: de::Error,
            {
                match T::deserialize(IntoDeserializer::<de::value::Error>::into_deserializer(v)) {
                    Ok(x) => Ok(TplInner::Value(x)),
                    Err(e) => match self.visit_str(&v.to_string()) {
                        // A number where a number is read but out of range: that message.
                        Ok(TplInner::Invalid(_)) if !e.to_string().starts_with("invalid type") => {
                            Ok(TplInner::Invalid(expected_found(&e.to_string())))
                        }
                        other => other,
                    },
                }
            }
        }
        impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for V<T> {
            type Value = TplInner<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a `{{ template }}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TplInner<T>, E> {
                if crate::suite::template::is_template(v) {
                    return Ok(TplInner::Template(serde_json::Value::String(v.to_owned())));
                }
                value(T::deserialize(IntoDeserializer::<de::value::Error>::into_deserializer(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TplInner<T>, E> {
                value(T::deserialize(IntoDeserializer::<de::value::Error>::into_deserializer(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TplInner<T>, E> {
                self.number(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TplInner<T>, E> {
                self.number(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TplInner<T>, E> {
                self.number(v)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TplInner<T>, A::Error> {
                // A mapping (`{ min: 30d }`) is read whole first: a template may be inside it.
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if holds_template(&v) {
                    return Ok(TplInner::Template(v));
                }
                Ok(T::deserialize(v).map_or_else(|e| TplInner::Invalid(expected_found(&e.to_string())), TplInner::Value))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TplInner<T>, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                if holds_template(&v) {
                    return Ok(TplInner::Template(v));
                }
                Ok(T::deserialize(v).map_or_else(|e| TplInner::Invalid(expected_found(&e.to_string())), TplInner::Value))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Tpl<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Loc::<TplInner<T>>::deserialize(d)?;
        Ok(match s.value {
            TplInner::Value(v) => Tpl::Value(v),
            TplInner::Template(t) => Tpl::Template(Loc { value: t, line: s.line, column: s.column }),
            TplInner::Invalid(m) => Tpl::Invalid(Loc { value: m, line: s.line, column: s.column }),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Tpl<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Templatable{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [
                inner,
                { "type": "string", "pattern": "\\{[{%]", "description": "A template rendered per check, then read as this field's type." }
            ]
        })
    }
}

/// `expect:` as written: the expectations whose values are known when the file is read, and
/// those written with templates (`status: "{{ code }}"`, `expires_in: { min: "{{ days }}d" }`),
/// rendered per check at plan time ([`crate::suite::plan`]) and then checked as the key's type.
#[derive(Debug, Clone, Default)]
pub struct ExpectSpec {
    /// Every key without a template.
    pub typed: Expect,
    /// Keys of typed values (not string matchers, which are rendered in place) written with a
    /// template, in file order: the key and its value as written, with its position.
    pub templated: Vec<(ExpectKey, Loc<serde_json::Value>)>,
    /// Typed values that are not of their key's type: the message at the value's position.
    pub invalid: Vec<(ExpectKey, Loc<String>)>,
}

/// The keys of `expect:` whose values are not strings (string matchers and address lists are
/// templated in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKey {
    /// `rcode`.
    Rcode,
    /// `resolves`.
    Resolves,
    /// `ttl`.
    Ttl,
    /// `agree`.
    Agree,
    /// `private_endpoint`.
    PrivateEndpoint,
    /// `state`.
    State,
    /// `trusted`.
    Trusted,
    /// `min_version`.
    MinVersion,
    /// `expires_in`.
    ExpiresIn,
    /// `status`.
    Status,
    /// `time`.
    Time,
}

impl ExpectKey {
    /// The key as written.
    pub fn name(self) -> &'static str {
        match self {
            ExpectKey::Rcode => "rcode",
            ExpectKey::Resolves => "resolves",
            ExpectKey::Ttl => "ttl",
            ExpectKey::Agree => "agree",
            ExpectKey::PrivateEndpoint => "private_endpoint",
            ExpectKey::State => "state",
            ExpectKey::Trusted => "trusted",
            ExpectKey::MinVersion => "min_version",
            ExpectKey::ExpiresIn => "expires_in",
            ExpectKey::Status => "status",
            ExpectKey::Time => "time",
        }
    }

    /// What the key accepts, for error messages.
    pub fn accepts(self) -> &'static str {
        match self {
            ExpectKey::Rcode => "an rcode: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR or NOTIMP",
            ExpectKey::Resolves | ExpectKey::Agree | ExpectKey::PrivateEndpoint | ExpectKey::Trusted => "true or false",
            ExpectKey::Ttl | ExpectKey::ExpiresIn | ExpectKey::Time => "{ min: DUR, max: DUR } with durations such as 500ms, 5s, 2m or 14d",
            ExpectKey::State => "open, closed, filtered or blocked",
            ExpectKey::MinVersion => "a TLS version: \"1.2\" or \"1.3\"",
            ExpectKey::Status => "an HTTP status: a code 100-599, a class such as 2xx, or a list of them",
        }
    }

    fn of(key: &str) -> Option<ExpectKey> {
        [
            ExpectKey::Rcode,
            ExpectKey::Resolves,
            ExpectKey::Ttl,
            ExpectKey::Agree,
            ExpectKey::PrivateEndpoint,
            ExpectKey::State,
            ExpectKey::Trusted,
            ExpectKey::MinVersion,
            ExpectKey::ExpiresIn,
            ExpectKey::Status,
            ExpectKey::Time,
        ]
        .into_iter()
        .find(|k| k.name() == key)
    }

    /// Sets this key of `e` from a (rendered) value.
    ///
    /// Errors: the value is not of the key's type (serde's message).
    pub fn set(self, e: &mut Expect, v: serde_json::Value) -> Result<(), serde_json::Error> {
        use serde_json::from_value as f;
        match self {
            ExpectKey::Rcode => e.rcode = Some(f(v)?),
            ExpectKey::Resolves => e.resolves = Some(f(v)?),
            ExpectKey::Ttl => e.ttl = Some(f(v)?),
            ExpectKey::Agree => e.agree = Some(f(v)?),
            ExpectKey::PrivateEndpoint => e.private_endpoint = Some(f(v)?),
            ExpectKey::State => e.state = Some(f(v)?),
            ExpectKey::Trusted => e.trusted = Some(f(v)?),
            ExpectKey::MinVersion => e.min_version = Some(f(v)?),
            ExpectKey::ExpiresIn => e.expires_in = Some(f(v)?),
            ExpectKey::Status => e.status = Some(f(v)?),
            ExpectKey::Time => e.time = Some(f(v)?),
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ExpectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of expectations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExpectSpec, A::Error> {
                // Keys of typed values are read as values first, so that a template among them is
                // kept for plan time; every other key is read as its own type directly.
                let mut out = ExpectSpec::default();
                let mut e = Expect::default();
                // The keys read so far, as their entries in EXPECT_KEYS (no copy of the text).
                let mut seen: Vec<&'static str> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let Some(known) = EXPECT_KEYS.iter().copied().find(|k| *k == key) else {
                        return Err(de::Error::unknown_field(&key, EXPECT_KEYS));
                    };
                    if seen.contains(&known) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    seen.push(known);
                    if let Some(k) = ExpectKey::of(&key) {
                        fn take<'de, T: serde::de::DeserializeOwned, A: MapAccess<'de>>(
                            map: &mut A,
                            k: ExpectKey,
                            slot: &mut Option<T>,
                            out: &mut ExpectSpec,
                        ) -> Result<(), A::Error> {
                            match map.next_value::<Tpl<T>>()? {
                                Tpl::Value(v) => *slot = Some(v),
                                Tpl::Template(t) => out.templated.push((k, t)),
                                Tpl::Invalid(m) => out.invalid.push((k, m)),
                            }
                            Ok(())
                        }
                        let t = &mut out;
                        match k {
                            ExpectKey::Rcode => take(&mut map, k, &mut e.rcode, t)?,
                            ExpectKey::Resolves => take(&mut map, k, &mut e.resolves, t)?,
                            ExpectKey::Ttl => take(&mut map, k, &mut e.ttl, t)?,
                            ExpectKey::Agree => take(&mut map, k, &mut e.agree, t)?,
                            ExpectKey::PrivateEndpoint => take(&mut map, k, &mut e.private_endpoint, t)?,
                            ExpectKey::State => take(&mut map, k, &mut e.state, t)?,
                            ExpectKey::Trusted => take(&mut map, k, &mut e.trusted, t)?,
                            ExpectKey::MinVersion => take(&mut map, k, &mut e.min_version, t)?,
                            ExpectKey::ExpiresIn => take(&mut map, k, &mut e.expires_in, t)?,
                            ExpectKey::Status => take(&mut map, k, &mut e.status, t)?,
                            ExpectKey::Time => take(&mut map, k, &mut e.time, t)?,
                        }
                        continue;
                    }
                    match key.as_str() {
                        "addresses" => e.addresses = Some(map.next_value()?),
                        "cname" => e.cname = Some(map.next_value()?),
                        "san" => e.san = Some(map.next_value()?),
                        "issuer" => e.issuer = Some(map.next_value()?),
                        "refuses_versions" => e.refuses_versions = Some(map.next_value()?),
                        "headers" => e.headers = map.next_value()?,
                        "body" => e.body = Some(map.next_value()?),
                        "remote_address" => e.remote_address = Some(map.next_value()?),
                        other => return Err(de::Error::unknown_field(other, EXPECT_KEYS)),
                    }
                }
                // Every field is named here: a new expectation must be read above too.
                let Expect {
                    rcode,
                    resolves,
                    addresses,
                    cname,
                    ttl,
                    agree,
                    private_endpoint,
                    state,
                    trusted,
                    min_version,
                    expires_in,
                    san,
                    issuer,
                    refuses_versions,
                    status,
                    headers,
                    body,
                    remote_address,
                    time,
                } = e;
                out.typed = Expect {
                    rcode,
                    resolves,
                    addresses,
                    cname,
                    ttl,
                    agree,
                    private_endpoint,
                    state,
                    trusted,
                    min_version,
                    expires_in,
                    san,
                    issuer,
                    refuses_versions,
                    status,
                    headers,
                    body,
                    remote_address,
                    time,
                };
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Every key of `expect:`.
const EXPECT_KEYS: &[&str] = &[
    "rcode",
    "resolves",
    "addresses",
    "cname",
    "ttl",
    "agree",
    "private_endpoint",
    "state",
    "trusted",
    "min_version",
    "expires_in",
    "san",
    "issuer",
    "refuses_versions",
    "status",
    "headers",
    "body",
    "remote_address",
    "time",
];

impl JsonSchema for ExpectSpec {
    fn schema_name() -> Cow<'static, str> {
        Expect::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Expect::json_schema(generator)
    }
    fn inline_schema() -> bool {
        Expect::inline_schema()
    }
}
