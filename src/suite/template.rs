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

/// Secrets seen while rendering (values read from the environment), shared with reporters.
#[derive(Debug, Default, Clone)]
pub struct Secrets(Arc<Mutex<Vec<String>>>);

impl Secrets {
    /// Redacts every string (and object key) inside a JSON value with `secrets`. Working on values
    /// rather than on the serialized text keeps the document valid whatever the secret contains.
    pub fn redact_value(&self, v: &mut serde_json::Value) {
        if !self.is_empty() {
            redact_in(v, self);
        }
    }

    /// Records a secret value (empty and very short values are ignored: redacting them would
    /// mangle unrelated text).
    pub fn add(&self, v: &str) {
        if v.len() >= 3 {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if !g.iter().any(|s| s == v) {
                g.push(v.to_owned());
            }
        }
    }

    /// All secrets recorded so far.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces every secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// [`Secrets::redact`] without a copy when `text` holds no secret (the common case: reports
    /// call it for every string of every check).
    pub fn redact_cow<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::borrow::Cow::Borrowed(text);
        for s in g.iter() {
            if out.contains(s.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(s.as_str(), "***"));
            }
        }
        out
    }

    /// Whether no secret was recorded (nothing to redact).
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
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
        _ => {}
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
