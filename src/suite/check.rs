//! One check of a suite as written: its name, its kind — exactly one of `dns`, `tcp`, `tls`,
//! `http` or `use` (+ `with`), a type ([`CheckKind`]) rather than four optional fields — and the
//! settings common to every kind.
//!
//! The kind's keys stay at the check's level (`- { name: c, dns: { name: a.example } }`,
//! docs/suite-format.md). serde's `flatten` cannot combine with `deny_unknown_fields`, so
//! [`Check`] is read by a visitor over the mapping that hands each value to its typed spec and
//! locates its own errors (none or two kinds, `with` without `use`, an expectation on a `use`)
//! at the key that shows them, with a hint naming the keys. The JSON Schema says the same with
//! `oneOf` and `dependentRequired`, so editors flag it while typing.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::model::{DnsSpec, Dur, ExpectSpec, HttpSpec, Loc, Retry, TcpSpec, Text, TlsSpec, Tpl};
use super::yaml::At;

/// One check: its kind, what to expect and how to run it.
// The kinds and the expectations are boxed: a suite written out holds 10,000s of checks, each of
// one kind (unboxed, a check took 2 KiB and 10,000 of them 33 MiB while parsing).
#[derive(Debug, Clone)]
pub struct Check {
    /// Check name, unique in its scenario; the last part of the check id.
    pub name: Text,
    /// What the check probes, or the template it expands.
    pub kind: CheckKind,
    /// What must hold; when absent, the kind's default (dns: NOERROR with answers; tcp: open;
    /// tls: trusted; http: a 2xx or 3xx status). Always `None` on a [`CheckKind::Use`] (an
    /// error when reading).
    pub expect: Option<Loc<Box<ExpectSpec>>>,
    /// Troubleshooting hint printed with a failure (templated). `None` on a `use`.
    pub hint: Option<String>,
    /// Tags for `--tag` filtering; on a `use`, added to every check of the template.
    pub tags: Vec<String>,
    /// Deadline of one attempt (overrides `defaults.timeout`); templatable. `None` on a `use`.
    pub timeout: Option<Tpl<Dur>>,
    /// Retry policy (overrides `defaults.retry`). `None` on a `use`.
    pub retry: Option<Retry>,
    /// `false`: never trace the path of this check's connection when it fails (`--path`,
    /// docs/path-diagnosis.md); on a `use`, applies to every check of the template.
    pub path: Option<bool>,
}

/// The kind of a check: the one key among `dns`, `tcp`, `tls`, `http` and `use` it has.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// `dns:` — a DNS query.
    Dns(Box<DnsSpec>),
    /// `tcp:` — a TCP connect.
    Tcp(Box<TcpSpec>),
    /// `tls:` — a TLS handshake.
    Tls(Box<TlsSpec>),
    /// `http:` — an HTTP request.
    Http(Box<HttpSpec>),
    /// `use:` (+ `with:`) — the checks of a template, expanded here.
    Use(Box<UseSpec>),
}

impl CheckKind {
    /// The key that gives this kind, as written.
    pub fn key(&self) -> &'static str {
        match self {
            CheckKind::Dns(_) => "dns",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Tls(_) => "tls",
            CheckKind::Http(_) => "http",
            CheckKind::Use(_) => "use",
        }
    }

    /// The `resolver` the kind names, if any (a `use` names none itself).
    pub fn resolver(&self) -> Option<&Text> {
        match self {
            CheckKind::Dns(d) => d.resolver.as_ref(),
            CheckKind::Tcp(t) => t.resolver.as_ref(),
            CheckKind::Tls(t) => t.resolver.as_ref(),
            CheckKind::Http(h) => h.resolver.as_ref(),
            CheckKind::Use(_) => None,
        }
    }
}

/// `use: TEMPLATE` with `with: { param: value }`: a template's checks, named `NAME: <check>`.
#[derive(Debug, Clone)]
pub struct UseSpec {
    /// The template's name (templatable), located at the value of `use`.
    pub template: Text,
    /// The template's parameters; string values are templated in the scenario's scope.
    pub with: IndexMap<String, serde_json::Value>,
}

/// Every key of a check, in the order the schema lists them.
pub const CHECK_KEYS: &[&str] = &["name", "use", "with", "dns", "tcp", "tls", "http", "expect", "hint", "tags", "timeout", "retry", "path"];

/// The keys that give a check its kind.
const KIND_KEYS: &str = "`dns`, `tcp`, `tls`, `http` or `use`";

/// Keys a `use` entry does not take: they belong to the template's checks.
const NOT_ON_USE: &[&str] = &["expect", "hint", "timeout", "retry"];

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a check: a mapping with `name` and one of `dns`, `tcp`, `tls`, `http` or `use`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let mut name: Option<Text> = None;
        // Each kind key read, with where its key is written.
        let mut kinds: Vec<(Loc<&'static str>, CheckKind)> = Vec::new();
        // `with`'s parameters, and where its key is written.
        let mut with: Option<((u32, u32), IndexMap<String, serde_json::Value>)> = None;
        let mut expect = None;
        let mut hint = None;
        let mut tags = None;
        let mut timeout = None;
        let mut retry = None;
        let mut path = None;
        // Keys that a `use` entry does not take, where written.
        let mut probe_only: Vec<Loc<&'static str>> = Vec::new();
        // (A key written twice is the YAML reader's error, located at the second.)
        while let Some(key) = map.next_key::<Loc<CheckKey>>()? {
            let k = key.value.0;
            let at = Loc { value: k, line: key.line, column: key.column };
            match k {
                "name" => name = Some(map.next_value::<Text>()?),
                "use" => {
                    let template = map.next_value::<Text>()?;
                    kinds.push((at, CheckKind::Use(Box::new(UseSpec { template, with: IndexMap::new() }))));
                }
                "with" => with = Some(((key.line, key.column), map.next_value()?)),
                "dns" => kinds.push((at, CheckKind::Dns(map.next_value()?))),
                "tcp" => kinds.push((at, CheckKind::Tcp(map.next_value()?))),
                "tls" => kinds.push((at, CheckKind::Tls(map.next_value()?))),
                "http" => kinds.push((at, CheckKind::Http(map.next_value()?))),
                "expect" => {
                    expect = map.next_value()?;
                    probe_only.push(at);
                }
                "hint" => {
                    hint = map.next_value()?;
                    probe_only.push(at);
                }
                "tags" => tags = Some(map.next_value()?),
                "timeout" => {
                    timeout = map.next_value()?;
                    probe_only.push(at);
                }
                "retry" => {
                    retry = map.next_value()?;
                    probe_only.push(at);
                }
                "path" => path = map.next_value()?,
                // CHECK_KEYS holds no other key; one added there without a branch here fails
                // loudly rather than being dropped.
                other => return Err(de::Error::unknown_field(other, CHECK_KEYS)),
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        // Only an error names the check: a valid one allocates no text for it.
        let who = || format!("check `{}`", name.value);
        let mut kinds = kinds.into_iter();
        let mut kind = match (kinds.next(), kinds.next()) {
            (None, _) => {
                if let Some(((line, column), _)) = with {
                    return Err(no_use(line, column, &who()));
                }
                return Err(At::new(name.line, name.column, format!("{}: a check needs one of {KIND_KEYS}", who()))
                    .hint("add one of `dns:`, `tcp:`, `tls:` or `http:`, or `use:` a template")
                    .error());
            }
            (Some((first, _)), Some((second, _))) => {
                let hint = if first.value == "use" || second.value == "use" {
                    "a `use` entry takes its checks from the template: make the other kind a check of its own"
                } else {
                    "split it into one check per kind"
                };
                return Err(At::new(
                    second.line,
                    second.column,
                    format!(
                        "{}: a check takes exactly one of {KIND_KEYS}, found `{}` (line {}) and `{}`",
                        who(),
                        first.value,
                        first.line,
                        second.value
                    ),
                )
                .hint(hint)
                .error());
            }
            (Some((_, kind)), None) => kind,
        };
        match (&mut kind, with) {
            (CheckKind::Use(u), Some((_, w))) => u.with = w,
            (CheckKind::Use(_), None) => {}
            (CheckKind::Dns(_) | CheckKind::Tcp(_) | CheckKind::Tls(_) | CheckKind::Http(_), None) => {}
            (CheckKind::Dns(_) | CheckKind::Tcp(_) | CheckKind::Tls(_) | CheckKind::Http(_), Some(((line, column), _))) => {
                return Err(no_use(line, column, &who()));
            }
        }
        if let (CheckKind::Use(_), Some(at)) = (&kind, probe_only.first()) {
            return Err(At::new(at.line, at.column, format!("{}: `{}` does not apply to a `use` entry", who(), at.value))
                .hint(format!("a `use` entry takes `name`, `use`, `with`, `tags` and `path`; put `{}` in the template's checks", at.value))
                .error());
        }
        Ok(Check { name, kind, expect, hint, tags: tags.unwrap_or_default(), timeout, retry, path })
    }
}

/// A key of a check, read as its entry in [`CHECK_KEYS`] (no copy of its text); any other key
/// is serde's `unknown field` error, which lists the accepted keys.
struct CheckKey(&'static str);

impl<'de> Deserialize<'de> for CheckKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CheckKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a check key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CheckKey, E> {
                match CHECK_KEYS.iter().copied().find(|k| *k == v) {
                    Some(k) => Ok(CheckKey(k)),
                    None => Err(E::unknown_field(v, CHECK_KEYS)),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// `with` written without `use`, at the `with` key.
fn no_use<E: de::Error>(line: u32, column: u32, who: &str) -> E {
    At::new(line, column, format!("{who}: `with` gives a template's parameters, but the check has no `use`"))
        .hint("add `use: TEMPLATE` to take the checks of a template, or remove `with:`")
        .error()
}

/// The shape of a check for the JSON Schema: every key, each optional but `name`. [`Check`]'s
/// schema adds "exactly one kind" to it.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only its schema is used.
struct CheckKeys {
    /// Check name, unique in its scenario; the last part of the check id.
    name: String,
    /// Use a template instead of a kind: its checks are expanded here, named `NAME: <check>`.
    #[serde(default, rename = "use")]
    use_template: Option<String>,
    /// Template parameters (only with `use`), templatable.
    #[serde(default, rename = "with")]
    with_params: IndexMap<String, serde_json::Value>,
    /// A DNS query.
    dns: Option<DnsSpec>,
    /// A TCP connect.
    tcp: Option<TcpSpec>,
    /// A TLS handshake.
    tls: Option<TlsSpec>,
    /// An HTTP request.
    http: Option<HttpSpec>,
    /// What must hold; when absent, the kind's default (dns: NOERROR with answers; tcp: open;
    /// tls: trusted; http: a 2xx or 3xx status). Not on a `use` entry.
    #[serde(default)]
    expect: Option<ExpectSpec>,
    /// Troubleshooting hint printed with a failure (templated). Not on a `use` entry.
    #[serde(default)]
    hint: Option<String>,
    /// Tags for `--tag` filtering; on a `use`, added to every check of the template.
    #[serde(default)]
    tags: Vec<String>,
    /// Deadline of one attempt (overrides `defaults.timeout`); templatable. Not on a `use` entry.
    #[serde(default)]
    timeout: Option<Tpl<Dur>>,
    /// Retry policy (overrides `defaults.retry`). Not on a `use` entry.
    #[serde(default)]
    retry: Option<Retry>,
    /// `false`: never trace the path of this check's connection when it fails (`--path`,
    /// docs/path-diagnosis.md); on a `use`, applies to every check of the template.
    #[serde(default)]
    path: Option<bool>,
}

impl JsonSchema for Check {
    fn schema_name() -> Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = CheckKeys::json_schema(generator);
        schema.insert(
            "description".into(),
            "One check: `name`, exactly one of `dns`, `tcp`, `tls`, `http` or `use` (a template, with `with`), and what to expect.".into(),
        );
        // A kind's value is never null: the generated `Option` schemas allow it, the loader does not.
        if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            for k in ["use", "dns", "tcp", "tls", "http"] {
                if let Some(v) = props.get_mut(k) {
                    strip_null(v);
                }
            }
        }
        let one = |key: &str, title: &str| {
            let mut branch = serde_json::json!({ "title": title, "required": [key] });
            if key == "use" {
                branch["properties"] = NOT_ON_USE.iter().map(|k| (k.to_string(), serde_json::Value::Bool(false))).collect();
            }
            branch
        };
        schema.insert(
            "oneOf".into(),
            serde_json::json!([
                one("dns", "a dns check"),
                one("tcp", "a tcp check"),
                one("tls", "a tls check"),
                one("http", "an http check"),
                one("use", "a use of a template"),
            ]),
        );
        schema.insert("dependentRequired".into(), serde_json::json!({ "with": ["use"] }));
        schema
    }
}

/// Removes `null` from an `Option`'s schema: `{ "anyOf": [X, {"type": "null"}] }` becomes X's
/// reference, `"type": ["string", "null"]` becomes `"type": "string"`, and a `null` default goes.
fn strip_null(v: &mut serde_json::Value) {
    let Some(o) = v.as_object_mut() else { return };
    if o.get("default").is_some_and(serde_json::Value::is_null) {
        o.remove("default");
    }
    if let Some(serde_json::Value::Array(types)) = o.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            o.insert("type".into(), t);
        }
    }
    if let Some(serde_json::Value::Array(any)) = o.get("anyOf")
        && any.len() == 2
        && any[1] == serde_json::json!({ "type": "null" })
    {
        let inner = any[0].clone();
        o.remove("anyOf");
        if let serde_json::Value::Object(inner) = inner {
            for (k, v) in inner {
                o.entry(k).or_insert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_key_the_loader_reads() {
        let schema = schemars::schema_for!(Check);
        let v = serde_json::to_value(&schema).unwrap();
        let props: Vec<&str> = v["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(props, CHECK_KEYS);
        assert_eq!(v["oneOf"].as_array().unwrap().len(), 5, "{v}");
    }
}
