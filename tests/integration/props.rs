//! Property tests (proptest) beyond the loader: the expectation matchers and the report writers
//! with arbitrary observations. Pure: no sockets. Properties:
//!
//! - matchers never panic on any observation, give at least one assertion per expectation, and agree with
//!   a plain-Rust model for string operators and HTTP status;
//! - JUnit is well-formed XML (roxmltree parses it), JSON is valid JSON, HTML renders, and none
//!   of them contains a secret planted in names, targets, vars, hints, headers, bodies and
//!   failure messages.
//!
//! More cases: `PROPTEST_CASES=5000 cargo test --test integration props::` (docs/fuzzing.md).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use netspec::expect::{self, Kind, StrMatch};
use netspec::model::rcode::ResponseCode;
use netspec::probe::dns::DnsObservation;
use netspec::probe::http::HttpTimings;
use netspec::probe::tls::{Handshake, TlsObservation};
use netspec::probe::{
    AnswerSource, CertInfo, Failure, HttpObservation, Observation, PortState, Record, Resolution, TcpAttempt, TcpObservation, TlsEndpoint,
};
use netspec::report::{self, CheckSummary, RunMeta};
use netspec::run::{Attempt, CheckResult, Outcome};
use netspec::suite::model::{Expect, RecordType, StringMatcher};
use netspec::suite::template::Secrets;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any text: arbitrary Unicode including control characters, XML and HTML specials.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        "[a-z0-9 .<>&\"'/\\\\\\x00-\\x1f\\u{7f}\\u{fffe}]{0,24}",
    ]
}

fn reason() -> impl Strategy<Value = netspec::model::Reason> {
    proptest::sample::select(netspec::model::Reason::ALL.to_vec())
}

fn failure() -> impl Strategy<Value = Option<Failure>> {
    proptest::option::of((reason(), text()).prop_map(|(r, m)| Failure::new(r, m)))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
}

fn millis() -> impl Strategy<Value = Duration> {
    (0u64..100_000_000).prop_map(Duration::from_millis)
}

fn resolution() -> impl Strategy<Value = Resolution> {
    (text(), proptest::collection::vec(ip(), 0..4), proptest::collection::vec(text(), 0..3), failure(), millis(), any::<bool>()).prop_map(
        |(host, addresses, cname_chain, failure, elapsed, literal)| Resolution {
            host,
            resolver: "r".into(),
            source: if literal { AnswerSource::Literal } else { AnswerSource::Dns },
            addresses,
            cname_chain,
            rcode: Some(ResponseCode::NoError),
            failure,
            elapsed,
        },
    )
}

fn record() -> impl Strategy<Value = Record> {
    (text(), proptest::sample::select(vec!["A", "AAAA", "CNAME", "TXT"]), any::<u32>(), text()).prop_map(|(name, t, ttl, data)| Record {
        name,
        record_type: t.into(),
        ttl,
        data,
    })
}

fn dns_obs() -> impl Strategy<Value = DnsObservation> {
    (
        text(),
        proptest::option::of((0u16..24).prop_map(<ResponseCode as From<u16>>::from)),
        proptest::collection::vec(record(), 0..5),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec(ip(), 0..4),
        failure(),
        millis(),
    )
        .prop_map(|(query, rcode, answers, cname_chain, addresses, failure, elapsed)| DnsObservation {
            query,
            record_type: RecordType::A,
            resolver: "r".into(),
            source: AnswerSource::Dns,
            servers_tried: vec!["127.0.0.1:53/udp".into()],
            server: Some("127.0.0.1:53".into()),
            rcode,
            answers,
            cname_chain,
            addresses,
            failure,
            elapsed,
            compared: Vec::new(),
        })
}

fn state() -> impl Strategy<Value = PortState> {
    proptest::sample::select(vec![
        PortState::Open,
        PortState::Closed,
        PortState::Filtered,
        PortState::Unreachable,
        PortState::Prohibited,
        PortState::NoRoute,
    ])
}

fn cert() -> impl Strategy<Value = CertInfo> {
    (text(), text(), proptest::collection::vec(text(), 0..3), text(), any::<i64>()).prop_map(
        |(subject, issuer, sans, nb, not_after_unix)| CertInfo {
            subject,
            issuer,
            sans,
            not_before: nb.clone(),
            not_after: nb,
            not_after_unix,
            sha256: String::new(),
        },
    )
}

fn observation() -> impl Strategy<Value = Observation> {
    let sock = || (ip(), any::<u16>()).prop_map(|(i, p)| SocketAddr::new(i, p));
    prop_oneof![
        dns_obs().prop_map(Observation::Dns),
        (resolution(), any::<u16>(), proptest::collection::vec((sock(), state(), proptest::option::of(millis()), text()), 0..3), millis())
            .prop_map(|(resolution, port, a, elapsed)| Observation::Tcp(TcpObservation {
                resolution,
                port,
                attempts: a
                    .into_iter()
                    .map(|(address, state, connect_time, detail)| TcpAttempt {
                        address,
                        state,
                        connect_time,
                        detail: detail.into(),
                        reason: state.reason()
                    })
                    .collect(),
                elapsed,
            })),
        (
            resolution(),
            text(),
            proptest::collection::vec(
                (
                    sock(),
                    state(),
                    proptest::option::of((proptest::collection::vec(cert(), 0..3), any::<bool>(), proptest::option::of(text()))),
                    failure()
                ),
                0..3
            ),
            millis()
        )
            .prop_map(|(resolution, sni, eps, elapsed)| Observation::Tls(TlsObservation {
                resolution,
                port: 443,
                sni,
                endpoints: eps
                    .into_iter()
                    .map(|(address, tcp, hs, failure)| TlsEndpoint {
                        address,
                        tcp,
                        handshake: hs.map(|(chain, trusted, trust_error)| Handshake {
                            version: "1.3".into(),
                            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
                            chain,
                            trusted,
                            trust_error,
                            trust_reason: (!trusted).then_some(netspec::model::Reason::TlsUntrusted),
                        }),
                        failure,
                        version_probes: Vec::new(),
                    })
                    .collect(),
                elapsed,
            })),
        (
            text(),
            proptest::option::of(resolution()),
            proptest::option::of(0u16..1000),
            proptest::collection::vec((text(), text()), 0..4),
            text(),
            any::<bool>(),
            proptest::option::of(sock()),
            failure(),
            millis(),
            any::<bool>(),
            proptest::collection::vec(text(), 0..3),
        )
            .prop_map(
                |(request, resolution, status, headers, body, body_truncated, remote_address, failure, elapsed, from_proxy, redirects)| {
                    Observation::Http(HttpObservation {
                        request,
                        resolution,
                        proxy: None,
                        status,
                        headers,
                        body,
                        body_truncated,
                        remote_address,
                        from_proxy,
                        redirects,
                        tls: None,
                        timings: HttpTimings { total_ms: elapsed.as_secs_f64() * 1000.0, ..Default::default() },
                        failure,
                        elapsed,
                    })
                },
            ),
    ]
}

fn kind_of(o: &Observation) -> Kind {
    match o {
        Observation::Dns(_) => Kind::Dns,
        Observation::Tcp(_) => Kind::Tcp,
        Observation::Tls(_) => Kind::Tls,
        Observation::Http(_) => Kind::Http,
    }
}

/// A string matcher as the suite writes it: a few operators with arbitrary operands (regexes and
/// globs may be invalid: compile then refuses them, which is fine).
fn matcher() -> impl Strategy<Value = Value> {
    (
        proptest::sample::subsequence(vec!["equals", "contains", "not_contains", "starts_with", "ends_with", "matches", "glob"], 1..3),
        proptest::collection::vec(text(), 3),
    )
        .prop_map(|(ops, vals)| Value::Object(ops.into_iter().zip(vals).map(|(k, v)| (k.to_owned(), Value::String(v))).collect()))
}

fn dur() -> impl Strategy<Value = Value> {
    (proptest::option::of(0u64..u64::MAX / 2), proptest::option::of(0u64..100_000)).prop_map(|(min, max)| {
        let mut m = serde_json::Map::new();
        if let Some(s) = min {
            m.insert("min".into(), json!(format!("{s}s")));
        }
        if let Some(d) = max {
            m.insert("max".into(), json!(format!("{d}d")));
        }
        Value::Object(m)
    })
}

/// An `expect:` block for `kind`, from that kind's keys.
fn expect_for(kind: Kind) -> BoxedStrategy<Value> {
    let addresses = prop_oneof![
        Just(json!({ "all": "private" })),
        Just(json!({ "any": "public" })),
        Just(json!({ "none": ["10.0.0.0/8", "2001:db8::/32"] })),
        ip().prop_map(|i| json!({ "equals": [i.to_string()] })),
        ip().prop_map(|i| json!({ "contains": [i.to_string()] })),
    ];
    let status = prop_oneof![(100u16..600).prop_map(|c| json!(c)), Just(json!("2xx")), Just(json!(["3xx", 401]))];
    let entries: Vec<BoxedStrategy<(String, Value)>> = match kind {
        Kind::Dns => vec![
            proptest::sample::select(vec!["NOERROR", "NXDOMAIN", "SERVFAIL"]).prop_map(|r| ("rcode".to_string(), json!(r))).boxed(),
            any::<bool>().prop_map(|b| ("resolves".to_string(), json!(b))).boxed(),
            addresses.prop_map(|a| ("addresses".to_string(), a)).boxed(),
            matcher().prop_map(|m| ("cname".to_string(), m)).boxed(),
            dur().prop_map(|d| ("ttl".to_string(), d)).boxed(),
        ],
        Kind::Tcp => vec![
            proptest::sample::select(vec!["open", "closed", "filtered", "blocked"]).prop_map(|s| ("state".to_string(), json!(s))).boxed(),
            dur().prop_map(|d| ("time".to_string(), d)).boxed(),
        ],
        Kind::Tls => vec![
            any::<bool>().prop_map(|b| ("trusted".to_string(), json!(b))).boxed(),
            proptest::sample::select(vec!["1.2", "1.3"]).prop_map(|v| ("min_version".to_string(), json!(v))).boxed(),
            dur().prop_map(|d| ("expires_in".to_string(), d)).boxed(),
            matcher().prop_map(|m| ("san".to_string(), m)).boxed(),
            matcher().prop_map(|m| ("issuer".to_string(), m)).boxed(),
        ],
        Kind::Http => vec![
            status.prop_map(|s| ("status".to_string(), s)).boxed(),
            (text(), matcher()).prop_map(|(h, m)| ("headers".to_string(), json!({ h: m }))).boxed(),
            matcher().prop_map(|m| ("body".to_string(), m)).boxed(),
            dur().prop_map(|d| ("time".to_string(), d)).boxed(),
        ],
    };
    proptest::collection::vec(proptest::strategy::Union::new(entries), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())).boxed()
}

fn observation_and_expect() -> impl Strategy<Value = (Observation, Value)> {
    observation().prop_flat_map(|o| {
        let k = kind_of(&o);
        (Just(o), expect_for(k))
    })
}

proptest! {
    #[test]
    fn matchers_never_panic_and_answer_every_expectation((obs, e) in observation_and_expect()) {
        let Ok(parsed) = serde_json::from_value::<Expect>(e) else { return Ok(()) };
        let Ok(exps) = expect::compile(Some(&parsed), kind_of(&obs), Path::new("."), Some("a.example.test")) else { return Ok(()) };
        let a = expect::evaluate(&exps, &obs);
        // At least one assertion per expectation (tls ones give one per address).
        prop_assert!(a.len() >= exps.len(), "{} assertions for {} expectations", a.len(), exps.len());
        for x in &a {
            prop_assert!(!x.key.is_empty());
            let _ = x.message();
        }
        // Pure: the same inputs give the same verdicts.
        let again = expect::evaluate(&exps, &obs);
        prop_assert_eq!(a.iter().map(|x| x.passed).collect::<Vec<_>>(), again.iter().map(|x| x.passed).collect::<Vec<_>>());
    }

    #[test]
    fn string_operators_agree_with_the_plain_definitions(s in text(), needle in text(), items in proptest::collection::vec(text(), 0..4)) {
        let m = |raw: StringMatcher| StrMatch::compile(&raw).unwrap();
        prop_assert_eq!(m(StringMatcher { contains: Some(needle.clone()), ..Default::default() }).is_match(&s), s.contains(&needle));
        prop_assert_eq!(m(StringMatcher { not_contains: Some(needle.clone()), ..Default::default() }).is_match(&s), !s.contains(&needle));
        prop_assert_eq!(m(StringMatcher { equals: Some(needle.clone()), ..Default::default() }).is_match(&s), s == needle);
        prop_assert_eq!(m(StringMatcher { starts_with: Some(needle.clone()), ..Default::default() }).is_match(&s), s.starts_with(&needle));
        prop_assert_eq!(m(StringMatcher { ends_with: Some(needle.clone()), ..Default::default() }).is_match(&s), s.ends_with(&needle));
        // Over a list: a positive operator holds for one item, not_contains for every item.
        prop_assert_eq!(
            m(StringMatcher { contains: Some(needle.clone()), ..Default::default() }).any_of(&items),
            items.iter().any(|i| i.contains(&needle))
        );
        prop_assert_eq!(
            m(StringMatcher { not_contains: Some(needle.clone()), ..Default::default() }).any_of(&items),
            items.iter().all(|i| !i.contains(&needle))
        );
    }

    #[test]
    fn an_exact_status_holds_exactly_when_observed(code in 100u16..600, seen in proptest::option::of(0u16..1000)) {
        let parsed: Expect = serde_json::from_value(json!({ "status": code })).unwrap();
        let exps = expect::compile(Some(&parsed), Kind::Http, Path::new("."), None).unwrap();
        let obs = Observation::Http(HttpObservation {
            request: "GET http://a/".into(), resolution: None, proxy: None, status: seen, headers: vec![], body: String::new(),
            body_truncated: false, remote_address: None, from_proxy: false, redirects: vec![], tls: None,
            timings: Default::default(), failure: None, elapsed: Duration::ZERO,
        });
        let a = expect::evaluate(&exps, &obs);
        prop_assert_eq!(a.len(), 1);
        prop_assert_eq!(a[0].passed, seen == Some(code));
    }
}

/// Where the planted secret goes in a generated result.
fn plant(s: &str, secret: &str, at: bool) -> String {
    if at { format!("{s}{secret}{s}") } else { s.to_owned() }
}

fn result_strategy() -> impl Strategy<Value = (Vec<CheckResult>, String)> {
    (
        "[A-Za-z0-9]{10,16}",
        proptest::collection::vec(
            (
                observation(),
                text(),
                text(),
                proptest::sample::select(vec![Outcome::Passed, Outcome::Failed, Outcome::Error, Outcome::Cancelled]),
                proptest::collection::vec(any::<bool>(), 8),
                proptest::collection::vec((text(), any::<bool>(), text(), text()), 0..3),
                proptest::option::of(failure()),
                any::<bool>(),
            ),
            1..5,
        ),
    )
        .prop_map(|(secret, checks)| {
            let results = checks
                .into_iter()
                .enumerate()
                .map(|(i, (mut obs, name, target, outcome, at, asserts, err, insecure))| {
                    // Plant the secret in the observation's free text.
                    match &mut obs {
                        Observation::Http(h) => {
                            h.headers.push(("authorization".into(), plant("Bearer ", &secret, at[0])));
                            h.body = plant(&h.body, &secret, at[1]);
                            h.request = plant(&h.request, &secret, at[2]);
                        }
                        Observation::Dns(d) => d.query = plant(&d.query, &secret, at[0]),
                        Observation::Tcp(t) => t.resolution.host = plant(&t.resolution.host, &secret, at[0]),
                        Observation::Tls(t) => t.sni = plant(&t.sni, &secret, at[0]),
                    }
                    let assertions = asserts
                        .into_iter()
                        .map(|(k, passed, e, o)| {
                            let verdict = if passed { expect::Verdict::Pass } else { expect::Verdict::Fail };
                            expect::Assertion::new(k, verdict, None, plant(&e, &secret, at[3]), plant(&o, &secret, at[4]))
                        })
                        .collect();
                    let error = err.flatten().map(|mut f| {
                        f.message = plant(&f.message, &secret, at[5]);
                        f
                    });
                    let kind = kind_of(&obs);
                    CheckResult {
                        meta: std::sync::Arc::new(netspec::model::result::CheckMeta {
                            index: i,
                            id: format!("s/sc/{}", plant(&name, &secret, at[6])),
                            suite: "s".into(),
                            scenario: "sc".into(),
                            name: plant(&name, &secret, at[6]),
                            kind,
                            target: plant(&target, &secret, at[7]),
                            resolver: "system".into(),
                            hint: Some(plant("hint ", &secret, at[1])),
                            tags: vec!["t".into()],
                            vars: vec![("region".into(), plant(&target, &secret, at[2]))].into(),
                            insecure,
                            defined: None,
                        }),
                        outcome,
                        attempts: if outcome == Outcome::Cancelled {
                            vec![]
                        } else {
                            vec![Attempt { observation: obs, assertions, error }]
                        },
                        attempts_omitted: 0,
                        path: None,
                        elapsed: Duration::from_millis(12),
                    }
                })
                .collect();
            (results, secret)
        })
}

proptest! {
    #[test]
    fn reports_are_well_formed_and_never_leak_a_secret((results, secret) in result_strategy()) {
        let secrets = Secrets::default();
        secrets.add(&secret);
        let meta = RunMeta {
            name: "n".into(),
            vantage: "v".into(),
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(5),
            vars: Default::default(),
            drift: None,
        };
        let xml = report::junit::render("n", "v", meta.started, &results, &secrets).map_err(TestCaseError::fail)?;
        prop_assert!(roxmltree::Document::parse(&xml).is_ok(), "JUnit is not well-formed XML:\n{}", xml);
        prop_assert!(!xml.contains(&secret), "JUnit leaks the secret");

        let js = report::json::render(&meta, &results, &secrets).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let doc: Value = serde_json::from_str(&js).map_err(|e| TestCaseError::fail(format!("JSON does not parse: {e}")))?;
        prop_assert_eq!(doc["checks"].as_array().map(Vec::len), Some(results.len()));
        prop_assert!(!js.contains(&secret), "JSON leaks the secret");
        // Streamed from the spool, the document is exactly serde_json's pretty rendering of the
        // whole document built in memory and redacted value by value.
        let whole = report::json::Results {
            report: report::json::DocKind::Run,
            schema_version: report::json::SCHEMA_VERSION,
            netspec_version: env!("CARGO_PKG_VERSION").into(),
            name: "n".into(),
            vantage: "v".into(),
            started: meta.started_rfc3339(),
            duration_ms: 5.0,
            vars: Default::default(),
            totals: netspec::run::Totals::of(&results),
            drift: None,
            checks: results
                .iter()
                .map(|r| report::json::CheckRecord { summary: CheckSummary::of(r, &secrets), attempts: r.attempts.clone(), attempts_omitted: r.attempts_omitted })
                .collect(),
        };
        let mut whole = serde_json::to_value(&whole).map_err(|e| TestCaseError::fail(e.to_string()))?;
        secrets.redact_value(&mut whole);
        prop_assert_eq!(&js, &serde_json::to_string_pretty(&whole).unwrap());
        // and JUnit is quick-junit's rendering of the whole report
        let junit_whole = report::junit::report("n", "v", meta.started, &results, &secrets).to_string().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&xml, &report::junit::fit_schema(&report::junit::xml_chars(&junit_whole)));

        let summaries: Vec<CheckSummary> = results.iter().map(|r| CheckSummary::of(r, &secrets)).collect();
        let html = report::html::render_run(&meta, &summaries).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!html.contains(&secret), "HTML leaks the secret");

        let console = report::console::summary(&results, &secrets, Duration::from_millis(5));
        prop_assert!(!console.contains(&secret), "the console summary leaks the secret");
    }
}
