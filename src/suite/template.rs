//! Value templating with minijinja: `{{ var }}` inside string values only, so a variable can
//! never inject YAML. Undefined variables are errors (strict mode), never empty strings.
//!
//! `{{ env.NAME }}` reads the process environment; every value read that way is recorded as a
//! secret so reports can redact it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};

/// Instructions one value's template may execute before it is stopped with an error.
pub const TEMPLATE_FUEL: u64 = 50_000;

/// Secrets seen while planning, shared with everything that prints: `netspec plan`, validation
/// errors and every report. One redaction service: values read with `{{ env.NAME }}`, URL and
/// proxy passwords and secret header values are recorded once ([`Secrets::add`]), and
/// [`Secrets::redact`] replaces the value *and its derived forms* by `***`:
///
/// - percent-encoded, as a URL query, path or userinfo carries it (RFC 3986 2.1; upper- and
///   lower-case hex, and `application/x-www-form-urlencoded` with `+` for space);
/// - base64 (RFC 4648 4, standard and URL-safe alphabets), at each of the three byte alignments a
///   value can have inside a longer encoded text, so the password inside Basic credentials
///   (`base64(user:password)`, RFC 7617) a proxy or server echoes back is found too.
///
/// Values shorter than [`MIN_SECRET_LEN`] bytes are not recorded (redacting them would mangle
/// unrelated text); base64 forms shorter than [`MIN_BASE64_FORM`] characters are not used.
#[derive(Debug, Default, Clone)]
pub struct Secrets(Arc<Mutex<SecretSet>>);

/// Shortest value recorded as a secret, in bytes.
pub const MIN_SECRET_LEN: usize = 3;

/// Shortest base64 form of a secret that is redacted, in characters.
pub const MIN_BASE64_FORM: usize = 4;

#[derive(Debug, Default)]
struct SecretSet {
    /// The values as recorded, in order.
    values: Vec<String>,
    /// Every form redacted (values and derived forms), longest first.
    forms: Vec<String>,
}

/// Every form of `v` that [`Secrets::redact`] replaces: `v`, its percent-encodings and its
/// base64 cores (see [`Secrets`]).
pub fn derived_forms(v: &str) -> Vec<String> {
    let mut out = vec![v.to_owned()];
    let mut push = |f: String| {
        if !f.is_empty() && !out.contains(&f) {
            out.push(f);
        }
    };
    // Percent-encodings: every non-unreserved byte (RFC 3986 2.3), upper and lower hex; and
    // the component encodings the `url` crate applies (query, path, userinfo).
    let pct = |lower: bool, plus: bool| {
        let mut s = String::new();
        for b in v.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => s.push(b as char),
                b' ' if plus => s.push('+'),
                _ if lower => s.push_str(&format!("%{b:02x}")),
                _ => s.push_str(&format!("%{b:02X}")),
            }
        }
        s
    };
    push(pct(false, false));
    push(pct(true, false));
    push(pct(false, true));
    push(url::form_urlencoded::byte_serialize(v.as_bytes()).collect());
    if let Ok(mut u) = url::Url::parse("http://h.invalid/") {
        u.set_query(Some(v));
        push(u.query().unwrap_or_default().to_owned());
        u.set_path(v);
        push(u.path().trim_start_matches('/').to_owned());
        if u.set_password(Some(v)).is_ok() {
            push(u.password().unwrap_or_default().to_owned());
        }
    }
    // Base64 cores: with k = 0, 1, 2 bytes before it, the characters that depend only on `v`.
    use base64::Engine as _;
    for k in 0..3usize {
        let mut bytes = vec![0u8; k];
        bytes.extend_from_slice(v.as_bytes());
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + v.len())) / 6;
        if last > first && last - first >= MIN_BASE64_FORM && last <= enc.len() {
            let core = &enc[first..last];
            push(core.to_owned());
            push(core.replace('+', "-").replace('/', "_"));
        }
    }
    out
}

impl Secrets {
    /// Redacts every string (and object key) inside a JSON value with `secrets`. Working on values
    /// rather than on the serialized text keeps the document valid whatever the secret contains.
    pub fn redact_value(&self, v: &mut serde_json::Value) {
        if !self.is_empty() {
            redact_in(v, self);
        }
    }

    /// Records a secret value and its derived forms (values shorter than [`MIN_SECRET_LEN`]
    /// bytes are ignored: redacting them would mangle unrelated text).
    pub fn add(&self, v: &str) {
        if v.len() < MIN_SECRET_LEN {
            return;
        }
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.values.iter().any(|s| s == v) {
            return;
        }
        g.values.push(v.to_owned());
        for f in derived_forms(v) {
            if !g.forms.contains(&f) {
                g.forms.push(f);
            }
        }
        // Longest first: a form that contains another is replaced whole.
        g.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// Records a password as written in a URL's userinfo (percent-encoded, RFC 3986 3.2.1):
    /// the text as written and its decoded value (what Basic credentials carry).
    pub fn add_url_password(&self, written: &str) {
        self.add(written);
        let decoded = url::form_urlencoded::parse(format!("x={}", written.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        self.add(&decoded);
    }

    /// Records a secret header's value, and each of its words (`Bearer TOKEN`, `a=1; b=2`): a
    /// server echoing one piece of a header value must not print it.
    /// The authentication scheme that starts an `Authorization` value (`Bearer`, `Basic`,
    /// RFC 9110 11.4) is not a secret and stays readable.
    pub fn add_header_value(&self, v: &str) {
        self.add(v);
        let scheme = v.split_whitespace().next().filter(|w| v.trim() != *w && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        for piece in v.split(|c: char| c.is_whitespace() || c == ';' || c == ',').filter(|p| Some(*p) != scheme) {
            self.add(piece);
            if let Some((_, value)) = piece.split_once('=') {
                self.add(value);
            }
        }
    }

    /// All secret values recorded so far (not their derived forms).
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values.clone()
    }

    /// Replaces every secret and every derived form in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// [`Secrets::redact`] without a copy when `text` holds no secret (the common case: reports
    /// call it for every string of every check).
    pub fn redact_cow<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::borrow::Cow::Borrowed(text);
        for s in g.forms.iter() {
            if out.contains(s.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(s.as_str(), "***"));
            }
        }
        // A text cut through a secret (a body snippet, a truncated body) ends with the start of
        // it: that start is a secret too.
        let cut = g.forms.iter().filter_map(|f| cut_prefix_len(&out, f)).max();
        if let Some(n) = cut {
            let keep = out.len() - n;
            out = std::borrow::Cow::Owned(format!("{}***", &out[..keep]));
        }
        out
    }

    /// Whether no secret was recorded (nothing to redact).
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values.is_empty()
    }
}

/// Length in bytes of the longest proper prefix of `form` that `text` ends with, when it is at
/// least [`MIN_CUT_PREFIX`] characters long.
fn cut_prefix_len(text: &str, form: &str) -> Option<usize> {
    let mut ends: Vec<usize> = form.char_indices().map(|(i, _)| i).skip(MIN_CUT_PREFIX).collect();
    ends.reverse();
    ends.into_iter().find(|&n| text.ends_with(&form[..n]))
}

/// Shortest start of a secret, in characters, redacted at the end of a cut text.
pub const MIN_CUT_PREFIX: usize = 4;

/// The password of the userinfo in `raw` (`scheme://user:password@host/…`, or
/// `user:password@host:port` as proxy variables are often written), found by text so that a URL
/// that does not parse still has its password redacted from the error about it.
pub fn userinfo_password(raw: &str) -> Option<&str> {
    let rest = raw.split_once("://").map_or(raw, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, pw)| pw).filter(|pw| !pw.is_empty())
}

fn redact_in(v: &mut serde_json::Value, secrets: &Secrets) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = secrets.redact_cow(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_in(x, secrets)),
        serde_json::Value::Object(m) => {
            m.values_mut().for_each(|x| redact_in(x, secrets));
            // Keys are rebuilt only when one holds a secret (the map keeps its order).
            if m.keys().any(|k| matches!(secrets.redact_cow(k), std::borrow::Cow::Owned(_))) {
                let old = std::mem::take(m);
                for (k, x) in old {
                    m.insert(secrets.redact(&k), x);
                }
            }
        }
        // Numbers, booleans and null hold no text.
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

#[derive(Debug)]
struct EnvObject {
    secrets: Secrets,
    missing: Option<MissingEnv>,
}

impl Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match std::env::var(name) {
            Ok(v) => {
                self.secrets.add(&v);
                Some(Value::from(v))
            }
            Err(_) => {
                let missing = self.missing.as_ref()?;
                missing.0.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned());
                // Validation only: an empty stand-in so the rest of the suite is still checked.
                Some(Value::from(""))
            }
        }
    }
}

/// Names of environment variables templates read that were not set, when the templater
/// tolerates them ([`Templater::tolerate_missing_env`], `netspec validate` without `--strict`).
#[derive(Debug, Default, Clone)]
pub struct MissingEnv(Arc<Mutex<std::collections::BTreeSet<String>>>);

impl MissingEnv {
    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

/// Renders templated strings against a variable scope.
pub struct Templater {
    env: Environment<'static>,
    secrets: Secrets,
    missing: Option<MissingEnv>,
}

/// The variables visible to one render: name → value.
pub type Scope = BTreeMap<String, Value>;

/// Whether `text` holds template syntax (`{{` or `{%`), i.e. must go through minijinja.
/// Most values are plain: one byte scan decides (a substring search per marker costs more
/// than the rest of planning a check).
pub fn is_template(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| w[0] == b'{' && (w[1] == b'{' || w[1] == b'%'))
}

impl Templater {
    /// A templater recording environment reads into `secrets`.
    pub fn new(secrets: Secrets) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Keep whitespace exactly as written: these are values, not documents.
        env.set_keep_trailing_newline(true);
        // Values are short expressions; bound the work a template may do (loops, recursion).
        env.set_fuel(Some(TEMPLATE_FUEL));
        Templater { env, secrets, missing: None }
    }

    /// Renders a missing `{{ env.NAME }}` as an empty string and records NAME in `missing`
    /// instead of failing: run-time secrets are not needed to validate a suite.
    pub fn tolerate_missing_env(&mut self, missing: MissingEnv) {
        self.missing = Some(missing);
    }

    /// The secret store this templater writes to.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Renders `text` in `scope`; text without `{{`/`{%` is returned as is.
    ///
    /// Errors: a message naming the undefined variable, or minijinja's syntax error.
    pub fn render(&self, text: &str, scope: &Scope) -> Result<String, String> {
        if !is_template(text) {
            return Ok(text.to_owned());
        }
        let tmpl = self.env.template_from_str(text).map_err(|e| format!("invalid template: {}", e.detail().unwrap_or("syntax error")))?;
        let mut ctx = scope.clone();
        ctx.insert("env".into(), Value::from_object(EnvObject { secrets: self.secrets.clone(), missing: self.missing.clone() }));
        match tmpl.render(&ctx) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => {
                let mut missing: Vec<String> = tmpl
                    .undeclared_variables(true)
                    .into_iter()
                    .filter(|n| match n.strip_prefix("env.") {
                        Some(var) => std::env::var(var).is_err(),
                        None => !scope.contains_key(n.split('.').next().unwrap_or(n)),
                    })
                    .collect();
                missing.sort();
                Err(match missing.first() {
                    Some(n) if n.starts_with("env.") => {
                        format!("environment variable `{}` is not set", &n[4..])
                    }
                    Some(n) => format!("undefined variable `{n}`"),
                    None => format!("undefined value in `{text}`"),
                })
            }
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                Err(format!("the template does too much work (more than {TEMPLATE_FUEL} steps); values should be short expressions"))
            }
            Err(e) => Err(format!("template error: {}", e.detail().unwrap_or("cannot render"))),
        }
    }

    /// The top-level variable names a template uses (for matrix expansion).
    pub fn variables(&self, text: &str) -> Vec<String> {
        match self.env.template_from_str(text) {
            Ok(t) => t.undeclared_variables(false).into_iter().collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(pairs: &[(&str, &str)]) -> Scope {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
    }

    #[test]
    fn renders_variables_and_leaves_plain_text() {
        let t = Templater::new(Secrets::default());
        let s = scope(&[("region", "eastus")]);
        assert_eq!(t.render("dps.{{ region }}.x", &s).unwrap(), "dps.eastus.x");
        assert_eq!(t.render("plain", &s).unwrap(), "plain");
    }

    #[test]
    fn template_syntax_is_told_from_plain_text() {
        for t in ["{{ region }}", "dps.{{region}}.x", "{% if a %}b{% endif %}", "a{{"] {
            assert!(is_template(t), "{t}");
        }
        for t in ["", "{", "plain", "{ x }", "}{", "{x}{y}", "a{b{c"] {
            assert!(!is_template(t), "{t}");
        }
    }

    #[test]
    fn undefined_variable_is_named() {
        let t = Templater::new(Secrets::default());
        let e = t.render("a.{{ regoin }}", &scope(&[("region", "x")])).unwrap_err();
        assert_eq!(e, "undefined variable `regoin`");
    }

    #[test]
    fn env_values_are_secrets_and_missing_env_is_named() {
        let t = Templater::new(Secrets::default());
        // PATH is always set; use it as a stand-in secret.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(t.render("{{ env.PATH }}", &Scope::new()).unwrap(), path);
        assert!(t.secrets().list().contains(&path));
        let e = t.render("{{ env.NETSPEC_SURELY_UNSET_1 }}", &Scope::new()).unwrap_err();
        assert_eq!(e, "environment variable `NETSPEC_SURELY_UNSET_1` is not set");
        assert_eq!(t.render("{{ env.NETSPEC_SURELY_UNSET_1 | default('') }}", &Scope::new()).unwrap(), "");
    }

    #[test]
    fn derived_forms_are_redacted() {
        let s = Secrets::default();
        s.add("p@ss w/rd:x");
        // Percent-encoded in a URL query (as the url crate writes it) and form-encoded.
        let u = url::Url::parse("http://h.example/?token=p@ss w/rd:x").unwrap();
        assert!(!s.redact(u.as_str()).contains("rd"), "{}", s.redact(u.as_str()));
        assert_eq!(s.redact("a=p%40ss+w%2Frd%3Ax&b=1"), "a=***&b=1");
        // Base64 at every alignment, e.g. the Basic credentials a proxy echoes back.
        use base64::Engine as _;
        for user in ["", "u", "us", "usr"] {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:p@ss w/rd:x"));
            let r = s.redact(&format!("Proxy-Authorization: Basic {basic}"));
            assert!(r.contains("***"), "{user}: {r}");
            // What remains cannot be decoded back into the secret.
            assert!(!r.contains(&basic), "{r}");
        }
        // A secret header's words and values, and a URL password as written and decoded.
        s.add_header_value("Bearer tok-123; session=abc456");
        assert_eq!(s.redact("echo: tok-123 abc456"), "echo: *** ***");
        s.add_url_password("h%40nter2");
        assert_eq!(s.redact("h@nter2 h%40nter2"), "*** ***");
        // A snippet cut through a secret ends with its start: redacted too.
        assert_eq!(s.redact("body: token tok-1"), "body: token ***");
        assert_eq!(s.redact("Bearer is a word"), "Bearer is a word");
        assert_eq!(s.redact("body: p@ss w/"), "body: ***");
        assert_eq!(s.redact("body: p@s"), "body: p@s");
        assert_eq!(userinfo_password("http://u:pw1@h:1/x@y"), Some("pw1"));
        assert_eq!(userinfo_password("u:pw2@proxy:3128"), Some("pw2"));
        assert_eq!(userinfo_password("http://h/a:b@c"), None);
    }

    #[test]
    fn redact_replaces_every_secret() {
        let s = Secrets::default();
        s.add("hunter2");
        assert_eq!(s.redact("pw=hunter2 again hunter2"), "pw=*** again ***");
    }

    #[test]
    fn variables_lists_top_level_names() {
        let t = Templater::new(Secrets::default());
        let mut v = t.variables("{{ region }}-{{ env.X }}");
        v.sort();
        assert_eq!(v, vec!["env", "region"]);
    }
}
