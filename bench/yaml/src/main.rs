//! Issue #18: parse one suite file with each YAML parser that keeps line/column marks, and say
//! how long it took (best of N runs, in-process, after one warm-up).
//!
//!     netspec-yaml-bench MODE FILE [RUNS]
//!
//! Modes (every one reads the whole file and touches every event or value, so nothing is
//! optimised away; the checksum printed makes that visible):
//! - `read`: read the file only (the baseline to subtract under callgrind);
//! - `saphyr-model`: serde-saphyr 0.0.16 with netspec's options into a model shaped like
//!   netspec's (spanned names and targets, typed checks, boxed kinds);
//! - `saphyr-model-lastwins`: the same without duplicate-key detection (`LastWins`);
//! - `saphyr-model-nobudget`: the same without the budget;
//! - `saphyr-value`: serde-saphyr 0.0.16 with netspec's options into `serde_json::Value`;
//! - `saphyr2-model`: serde-saphyr 2.2 (default options) into the same model; `granit-events`:
//!   its event parser (granit-parser 2.2) alone;
//! - `saphyr-bw-events`: saphyr-parser-bw 0.0.605 (serde-saphyr's own event parser) alone;
//! - `saphyr-events`: saphyr-parser 0.3 (upstream) events;
//! - `yaml-rust2-events`, `yaml-rust2-load`: yaml-rust2 0.13 events, and its `Yaml` tree loader
//!   (the loader keeps no marks);
//! - `libyaml-safer-events`: libyaml-safer 0.1 (a Rust port of libyaml) events;
//! - `saphyr-model-plain`: serde-saphyr into the same model without spans;
//! - `serde_yaml_ng-model`: serde_yaml_ng 0.10 (unsafe-libyaml) into the model without spans (it
//!   has none to give: positions only in its errors);
//! - `serde_yaml_ng-value`: serde_yaml_ng 0.10 into `serde_json::Value`.

use std::time::Instant;

fn options(dup: serde_saphyr::DuplicateKeyPolicy, budget: bool) -> serde_saphyr::Options {
    // netspec's src/suite/yaml.rs `options()`, verbatim limits.
    let budget = budget.then(|| serde_saphyr::Budget {
        max_events: 1_000_000,
        max_aliases: 10_000,
        max_anchors: 10_000,
        max_depth: 64,
        max_nodes: 250_000,
        max_total_scalar_bytes: 32 * 1024 * 1024,
        ..serde_saphyr::Budget::default()
    });
    serde_saphyr::Options {
        budget,
        alias_limits: serde_saphyr::options::AliasLimits {
            max_total_replayed_events: 250_000,
            ..Default::default()
        },
        with_snippet: false,
        duplicate_keys: dup,
        ..serde_saphyr::Options::default()
    }
}

// A model shaped like netspec's src/suite/model.rs for the keys the bench suites use: `Sp<T>`
// is serde-saphyr's `Spanned<T>` (netspec's `Loc`) in `spanned`, the bare value in `plain` (for
// parsers that have no spans to give).
macro_rules! model {
    () => {
        use serde::Deserialize;
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Suite {
            pub netspec: u32,
            pub name: Sp<String>,
            #[serde(default)]
            pub defaults: Option<Defaults>,
            #[serde(default)]
            pub resolvers: std::collections::BTreeMap<String, Resolver>,
            pub scenarios: Vec<Scenario>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Defaults {
            pub timeout: Option<String>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Resolver {
            pub servers: Vec<Sp<String>>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Scenario {
            pub name: Sp<String>,
            pub checks: Vec<Check>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Check {
            pub name: Sp<String>,
            pub dns: Option<Box<Dns>>,
            pub tcp: Option<Box<Tcp>>,
            pub http: Option<Box<Http>>,
            pub expect: Option<Sp<Box<Expect>>>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Dns {
            pub name: Sp<String>,
            pub resolver: Option<Sp<String>>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Tcp {
            pub host: Sp<String>,
            pub port: Sp<u16>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Http {
            pub url: Sp<String>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Expect {
            pub rcode: Option<String>,
            pub addresses: Option<Box<Addresses>>,
            pub state: Option<String>,
            pub status: Option<Sp<u16>>,
        }
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Addresses {
            pub equals: Vec<String>,
        }
    };
}
mod spanned {
    pub type Sp<T> = serde_saphyr::Spanned<T>;
    model!();
}
mod spanned2 {
    pub type Sp<T> = serde_saphyr_2::Spanned<T>;
    model!();
}
mod plain {
    pub type Sp<T> = T;
    model!();
}

fn model(text: &str, dup: serde_saphyr::DuplicateKeyPolicy, budget: bool) -> usize {
    let s: spanned::Suite = serde_saphyr::from_str_with_options(text, options(dup, budget)).expect("serde-saphyr");
    s.scenarios
        .iter()
        .map(|sc| sc.checks.iter().map(|c| c.name.referenced.line() as usize).sum::<usize>())
        .sum()
}

fn json_size(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => a.iter().map(json_size).sum::<usize>() + 1,
        serde_json::Value::Object(o) => o.values().map(json_size).sum::<usize>() + 1,
        _ => 1,
    }
}

fn run(mode: &str, text: &str) -> usize {
    use serde_saphyr::DuplicateKeyPolicy::{Error, LastWins};
    match mode {
        "read" => text.len(),
        "saphyr-model" => model(text, Error, true),
        "saphyr-model-lastwins" => model(text, LastWins, true),
        "saphyr-model-nobudget" => model(text, Error, false),
        "saphyr-value" => {
            let v: serde_json::Value = serde_saphyr::from_str_with_options(text, options(Error, true)).expect("serde-saphyr");
            json_size(&v)
        }
        "saphyr2-model" => {
            let s: spanned2::Suite = serde_saphyr_2::from_str(text).expect("serde-saphyr 2");
            s.scenarios
                .iter()
                .map(|sc| sc.checks.iter().map(|c| c.name.referenced.line() as usize).sum::<usize>())
                .sum()
        }
        "granit-events" => {
            let mut p = serde_saphyr_2::granit_parser::Parser::new_from_str(text);
            let mut sum = 0;
            while let Some(ev) = p.next_event() {
                let (_, span) = ev.expect("granit-parser");
                sum += span.start.line() + span.start.col();
            }
            sum
        }
        "saphyr-bw-events" => {
            let mut p = saphyr_parser_bw::Parser::new_from_str(text);
            let mut sum = 0;
            while let Some(ev) = p.next_event() {
                let (_, span) = ev.expect("saphyr-parser-bw");
                sum += span.start.line() + span.start.col();
            }
            sum
        }
        "saphyr-events" => {
            let mut p = saphyr_parser::Parser::new_from_str(text);
            let mut sum = 0;
            while let Some(ev) = p.next_event() {
                let (_, span) = ev.expect("saphyr-parser");
                sum += span.start.line() + span.start.col();
            }
            sum
        }
        "yaml-rust2-events" => {
            let mut p = yaml_rust2::parser::Parser::new_from_str(text);
            let mut sum = 0;
            loop {
                let (ev, mark) = p.next_token().expect("yaml-rust2");
                sum += mark.line() + mark.col();
                if ev == yaml_rust2::parser::Event::StreamEnd {
                    break;
                }
            }
            sum
        }
        "yaml-rust2-load" => {
            let docs = yaml_rust2::YamlLoader::load_from_str(text).expect("yaml-rust2");
            docs.len()
        }
        "libyaml-safer-events" => {
            let mut bytes = text.as_bytes();
            let mut p = libyaml_safer::Parser::new();
            p.set_input_string(&mut bytes);
            let mut sum = 0;
            for ev in &mut p {
                let ev = ev.expect("libyaml-safer");
                sum += (ev.start_mark.line + ev.start_mark.column) as usize;
            }
            sum
        }
        "serde_yaml_ng-model" => {
            let s: plain::Suite = serde_yaml_ng::from_str(text).expect("serde_yaml_ng");
            s.scenarios.iter().map(|sc| sc.checks.len()).sum()
        }
        "saphyr-model-plain" => {
            let s: plain::Suite = serde_saphyr::from_str_with_options(text, options(Error, true)).expect("serde-saphyr");
            s.scenarios.iter().map(|sc| sc.checks.len()).sum()
        }
        "serde_yaml_ng-map" => {
            // How serde_yaml_ng treats a duplicate key in a map-typed mapping (netspec's `vars`,
            // `resolvers`, `templates`): the count of entries, or its error.
            match serde_yaml_ng::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(text) {
                Ok(m) => m.len(),
                Err(e) => {
                    println!("error: {e}");
                    0
                }
            }
        }
        "serde_yaml_ng-value" => {
            let v: serde_json::Value = serde_yaml_ng::from_str(text).expect("serde_yaml_ng");
            json_size(&v)
        }
        other => panic!("unknown mode {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: netspec-yaml-bench MODE FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(3).map_or(1, |r| r.parse().expect("RUNS"));
    let text = std::fs::read_to_string(file).expect("read");
    let mut best = f64::INFINITY;
    let mut check = 0;
    for _ in 0..runs {
        let t = Instant::now();
        check = std::hint::black_box(run(mode, std::hint::black_box(&text)));
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{mode}\t{:.2} ms\tchecksum {check}", best * 1e3);
}
