//! Probes and expectations against real loopback servers from `netspec::loopback`, through the
//! same plan → run path the CLI uses. Nothing leaves 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netspec::loopback::{
    Ca, DnsFault, DnsServer, DnsZone, FilteredPort, HttpServer, OpenPort, Proxy, ProxyConfig, Reply, Validity, closed_port,
};
use netspec::plan::{self, Inputs};
use netspec::probe::{ContextOptions, Observation, ProbeContext, Sandbox};
use netspec::run::{self, CheckResult, Outcome, RunOptions};

async fn run_yaml(yaml: &str, vars: &[(&str, String)], ctx: ContextOptions) -> Vec<CheckResult> {
    run_yaml_with(yaml, vars, ctx, RunOptions::default()).await
}

async fn run_yaml_with(yaml: &str, vars: &[(&str, String)], ctx: ContextOptions, opts: RunOptions) -> Vec<CheckResult> {
    let loaded = netspec::suite::parse(Path::new("t.yaml"), yaml.to_owned()).expect("suite parses");
    let inputs = Inputs { vars: vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), ..Default::default() };
    let plan = plan::plan(&[loaded], &inputs).unwrap_or_else(|e| panic!("plan: {e}"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    run::run(plan, Arc::new(ProbeContext::new(ctx)), opts, Default::default(), tx).await.unwrap_or_else(|e| panic!("run: {e}"))
}

/// A suite of one scenario `s` whose checks (YAML lines) ask the resolver `lab` at `{{ dns }}`.
fn lab_suite(checks: &str) -> String {
    format!(
        "netspec: 1\nname: t\nresolvers: {{ lab: {{ servers: [\"{{{{ dns }}}}\"] }} }}\nscenarios:\n  - name: s\n    resolver: lab\n    checks:\n{checks}"
    )
}

fn by_name<'a>(r: &'a [CheckResult], name: &str) -> &'a CheckResult {
    r.iter().find(|c| c.meta.name == name).unwrap_or_else(|| panic!("no check {name}"))
}

fn sandbox(map: &[(SocketAddr, SocketAddr)]) -> Option<Sandbox> {
    Some(Sandbox { map: map.iter().copied().collect() })
}

#[tokio::test]
async fn dns_sees_rcode_chain_ttl_and_server() {
    let mut z = DnsZone::new();
    z.authoritative_for("example.test");
    z.add_cname("kv.example.test", "kv.privatelink.example.test");
    z.add_a("kv.privatelink.example.test", Ipv4Addr::new(10, 12, 4, 20));
    z.add_a("pub.example.test", Ipv4Addr::new(20, 1, 2, 3));
    z.fault("broken.example.test", DnsFault::ServFail);
    let dns = DnsServer::start(z).await.unwrap();
    let yaml = lab_suite(
        r#"      - name: private via privatelink
        dns: { name: kv.example.test }
        expect: { rcode: NOERROR, cname: { contains: ".privatelink." }, addresses: { all: private, equals: [10.12.4.20] }, ttl: { max: 1h } }
      - name: public leaks
        dns: { name: pub.example.test }
        expect: { addresses: { all: private } }
      - name: missing
        dns: { name: nope.example.test }
        expect: { rcode: NOERROR }
      - name: servfail
        dns: { name: broken.example.test }
        expect: { rcode: SERVFAIL }
"#,
    );
    let r = run_yaml(&yaml, &[("dns", dns.addr().to_string())], ContextOptions { sandbox: sandbox(&[]), ..Default::default() }).await;
    let ok = by_name(&r, "private via privatelink");
    assert_eq!(ok.outcome, Outcome::Passed, "{}", ok.reason());
    let Observation::Dns(d) = &ok.attempts[0].observation else { panic!("dns observation") };
    assert_eq!(d.cname_chain, vec!["kv.privatelink.example.test".to_string()]);
    assert_eq!(d.server.as_deref(), Some(dns.addr().to_string().as_str()));
    assert_eq!(d.answers.len(), 2);
    let leak = by_name(&r, "public leaks");
    assert_eq!(leak.outcome, Outcome::Failed);
    assert!(leak.reason().contains("expected every address private, observed 20.1.2.3"), "{}", leak.reason());
    let missing = by_name(&r, "missing");
    assert!(missing.reason().contains("expected NOERROR, observed NXDOMAIN"), "{}", missing.reason());
    assert_eq!(by_name(&r, "servfail").outcome, Outcome::Passed);
}

#[tokio::test]
async fn dns_silent_server_times_out_within_the_deadline_and_fails_over() {
    let mut z = DnsZone::new();
    z.add_a("a.example.test", Ipv4Addr::new(10, 0, 0, 1));
    z.fault("slow.example.test", DnsFault::Drop);
    let dns = DnsServer::start(z).await.unwrap();
    // A bound but silent UDP socket plays a dead first server.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 1s }
resolvers: { two: { servers: ["{{ dead }}", "{{ dns }}"] }, one: { servers: ["{{ dns }}"] } }
scenarios:
  - name: s
    checks:
      - name: failover
        dns: { name: a.example.test, resolver: two }
      - name: silent
        dns: { name: slow.example.test, resolver: one }
"#;
    let start = Instant::now();
    let r = run_yaml(yaml, &[("dns", dns.addr().to_string()), ("dead", dead.local_addr().unwrap().to_string())], ContextOptions::default())
        .await;
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    let f = by_name(&r, "failover");
    assert_eq!(f.outcome, Outcome::Passed, "{}", f.reason());
    let s = by_name(&r, "silent");
    assert_eq!(s.outcome, Outcome::Failed);
    assert_eq!(s.reason_code(), Some("dns.timeout"));
}

#[tokio::test]
async fn tcp_states_open_closed_filtered_and_blocked() {
    let open = OpenPort::start().await.unwrap();
    let filtered = FilteredPort::start().await.unwrap();
    let closed = closed_port().unwrap();
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 1s }
scenarios:
  - name: s
    checks:
      - { name: open, tcp: { host: 127.0.0.1, port: {{OPEN}} }, expect: { state: open } }
      - { name: closed, tcp: { host: 127.0.0.1, port: {{CLOSED}} }, expect: { state: closed } }
      - { name: filtered, tcp: { host: 127.0.0.1, port: {{FILTERED}} }, expect: { state: filtered } }
      - { name: blocked, tcp: { host: 127.0.0.1, port: {{CLOSED}} }, expect: { state: blocked } }
      - { name: not open, tcp: { host: 127.0.0.1, port: {{FILTERED}} }, expect: { state: open } }
"#
    .replace("{{OPEN}}", &open.addr().port().to_string())
    .replace("{{CLOSED}}", &closed.port().to_string())
    .replace("{{FILTERED}}", &filtered.addr().port().to_string());
    let r = run_yaml(&yaml, &[], ContextOptions::default()).await;
    for n in ["open", "closed", "filtered", "blocked"] {
        assert_eq!(by_name(&r, n).outcome, Outcome::Passed, "{n}: {}", by_name(&r, n).reason());
    }
    let bad = by_name(&r, "not open");
    assert!(bad.reason().contains("filtered"), "{}", bad.reason());
    assert_eq!(bad.reason_code(), Some("tcp.filtered"));
}

#[tokio::test]
async fn many_dropped_endpoints_cost_about_one_timeout() {
    // 26 regions whose 443 is silently dropped: concurrency makes this one timeout, not 26.
    let filtered = FilteredPort::start().await.unwrap();
    let mut z = DnsZone::new();
    let mut map = Vec::new();
    let regions: Vec<String> = (0..26).map(|i| format!("r{i}")).collect();
    for (i, r) in regions.iter().enumerate() {
        let ip = Ipv4Addr::new(20, 50, 100, i as u8 + 1);
        z.add_a(&format!("dps.{r}.example.test"), ip);
        map.push((SocketAddr::new(ip.into(), 443), filtered.addr()));
    }
    let dns = DnsServer::start(z).await.unwrap();
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 1s }
resolvers: { lab: { servers: ["{{ dns }}"] } }
matrix: { region: { var: regions } }
scenarios:
  - name: "dps {{ region }}"
    resolver: lab
    checks:
      - { name: port, tcp: { host: "dps.{{ region }}.example.test", port: 443 }, expect: { state: open } }
"#;
    let start = Instant::now();
    let r = run_yaml(
        yaml,
        &[("dns", dns.addr().to_string()), ("regions", regions.join(","))],
        ContextOptions { sandbox: sandbox(&map), ..Default::default() },
    )
    .await;
    let took = start.elapsed();
    assert_eq!(r.len(), 26);
    assert!(r.iter().all(|c| c.reason_code() == Some("tcp.filtered")), "{:?}", r.iter().map(|c| c.reason()).collect::<Vec<_>>());
    // Sequential would take 26 s; allow generous slack for a loaded machine.
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[tokio::test]
async fn waiting_checks_give_their_slot_to_working_ones() {
    // 40 dropped endpoints with 4 checks in flight: without parking that is 10 rounds of the 1 s
    // timeout; waiting checks hand their slot on after 50 ms, so it is about one timeout.
    let filtered = FilteredPort::start().await.unwrap();
    let mut z = DnsZone::new();
    let mut map = Vec::new();
    for i in 0..40u8 {
        let ip = Ipv4Addr::new(20, 51, 0, i + 1);
        z.add_a(&format!("h{i}.example.test"), ip);
        map.push((SocketAddr::new(ip.into(), 443), filtered.addr()));
    }
    let dns = DnsServer::start(z).await.unwrap();
    let checks: String = (0..40)
        .map(|i| format!("      - {{ name: h{i}, tcp: {{ host: h{i}.example.test, port: 443 }}, expect: {{ state: open }} }}\n"))
        .collect();
    let yaml = lab_suite(&checks).replace("name: t\n", "name: t\ndefaults: { timeout: 1s }\n");
    let opts = RunOptions { concurrency: 4, ..Default::default() };
    let start = Instant::now();
    let r = run_yaml_with(&yaml, &[("dns", dns.addr().to_string())], ContextOptions { sandbox: sandbox(&map), ..Default::default() }, opts)
        .await;
    let took = start.elapsed();
    assert_eq!(r.len(), 40);
    assert!(r.iter().all(|c| c.reason_code() == Some("tcp.filtered")), "{:?}", r.iter().map(|c| c.reason()).collect::<Vec<_>>());
    assert!(took < Duration::from_secs(5), "took {took:?} (10 rounds would be 10 s)");
}

#[tokio::test]
async fn tls_facts_and_trust_verdicts() {
    let ca = Ca::new("test root").unwrap();
    let other = Ca::new("inspection CA").unwrap();
    let good = HttpServer::start(Some(ca.issue(&["good.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let rogue =
        HttpServer::start(Some(other.issue(&["rogue.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let old = HttpServer::start(Some(ca.issue(&["old.example.test"], Validity::Expired).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let mut z = DnsZone::new();
    z.add_a("good.example.test", Ipv4Addr::new(20, 0, 0, 1));
    z.add_a("rogue.example.test", Ipv4Addr::new(20, 0, 0, 2));
    z.add_a("old.example.test", Ipv4Addr::new(20, 0, 0, 3));
    z.add_a("wrong.example.test", Ipv4Addr::new(20, 0, 0, 1));
    let dns = DnsServer::start(z).await.unwrap();
    let map = [
        ("20.0.0.1:443".parse().unwrap(), good.addr()),
        ("20.0.0.2:443".parse().unwrap(), rogue.addr()),
        ("20.0.0.3:443".parse().unwrap(), old.addr()),
    ];
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 2s }
resolvers: { lab: { servers: ["{{ dns }}"] } }
scenarios:
  - name: s
    resolver: lab
    checks:
      - { name: good, tls: { host: good.example.test }, expect: { trusted: true, min_version: "1.2", expires_in: { min: 14d }, san: { contains: good }, issuer: { contains: test root } } }
      - { name: rogue, tls: { host: rogue.example.test }, expect: { trusted: true } }
      - { name: old, tls: { host: old.example.test }, expect: { trusted: true } }
      - { name: wrong name, tls: { host: wrong.example.test }, expect: { trusted: true } }
      - { name: https good, http: { url: "https://good.example.test/" }, expect: { status: 200, body: { contains: ok }, remote_address: { equals: [20.0.0.1] } } }
      - { name: https rogue, http: { url: "https://rogue.example.test/" }, expect: { status: 200 } }
"#;
    let ctx = ContextOptions { extra_roots: vec![ca.cert_der()], no_system_roots: true, sandbox: sandbox(&map), ..Default::default() };
    let r = run_yaml(yaml, &[("dns", dns.addr().to_string())], ctx).await;
    let g = by_name(&r, "good");
    assert_eq!(g.outcome, Outcome::Passed, "{}", g.reason());
    let Observation::Tls(t) = &g.attempts[0].observation else { panic!() };
    let h = t.endpoints[0].handshake.as_ref().unwrap();
    assert_eq!(h.chain[0].sans, vec!["good.example.test".to_string()]);
    // an untrusted issuer that calls itself an inspection CA: a TLS-inspecting proxy
    assert_eq!(by_name(&r, "rogue").reason_code(), Some("tls.intercepted"));
    assert!(by_name(&r, "rogue").reason().contains("UnknownIssuer"), "{}", by_name(&r, "rogue").reason());
    assert_eq!(by_name(&r, "old").reason_code(), Some("tls.expired"));
    assert_eq!(by_name(&r, "wrong name").reason_code(), Some("tls.hostname_mismatch"));
    let hg = by_name(&r, "https good");
    assert_eq!(hg.outcome, Outcome::Passed, "{}", hg.reason());
    let Observation::Http(h) = &hg.attempts[0].observation else { panic!() };
    assert!(h.timings.dns_ms.is_some() && h.timings.connect_ms.is_some() && h.timings.tls_ms.is_some(), "{:?}", h.timings);
    assert!(h.timings.first_byte_ms.is_some_and(|f| f <= h.timings.total_ms), "{:?}", h.timings);
    assert_eq!(h.tls.as_ref().map(|t| t.version.as_str()), Some("1.3"));
    let hr = by_name(&r, "https rogue");
    // Its issuer is called "inspection CA": an HTTPS check says interception, like the tls check.
    assert_eq!(hr.reason_code(), Some("tls.intercepted"), "{}", hr.reason());
    // The refused chain is shown: who issued what the server presented.
    let Observation::Http(h) = &hr.attempts[0].observation else { panic!() };
    let shown = h.tls.as_ref().expect("the presented chain of a refused certificate");
    assert!(!shown.trusted && shown.chain[0].issuer.contains("inspection CA"), "{shown:?}");
    assert!(hr.attempts[0].observation.describe().iter().any(|l| l.contains("issuer: CN=inspection CA")));
}

/// Interception: an untrusted chain is intercepted when its issuer names an inspection product,
/// or when it fails the check's `issuer` expectation; otherwise merely untrusted. And
/// `refuses_versions` against a server that speaks TLS 1.2 and 1.3: both lone offers are accepted.
#[tokio::test]
async fn tls_interception_and_refused_versions() {
    let ca = Ca::new("test root").unwrap();
    let zscaler = Ca::new("Zscaler Intermediate Root CA").unwrap();
    let fabrikam = Ca::new("Fabrikam Root").unwrap();
    let good = HttpServer::start(Some(ca.issue(&["good.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let zs = HttpServer::start(Some(zscaler.issue(&["zs.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let fab =
        HttpServer::start(Some(fabrikam.issue(&["fab.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let mut z = DnsZone::new();
    z.add_a("good.example.test", Ipv4Addr::new(20, 0, 0, 1));
    z.add_a("zs.example.test", Ipv4Addr::new(20, 0, 0, 2));
    z.add_a("fab.example.test", Ipv4Addr::new(20, 0, 0, 3));
    let dns = DnsServer::start(z).await.unwrap();
    let map = [
        ("20.0.0.1:443".parse().unwrap(), good.addr()),
        ("20.0.0.2:443".parse().unwrap(), zs.addr()),
        ("20.0.0.3:443".parse().unwrap(), fab.addr()),
    ];
    let yaml = lab_suite(
        r#"      - { name: zscaler, tls: { host: zs.example.test }, expect: { trusted: true } }
      - { name: fabrikam, tls: { host: fab.example.test }, expect: { trusted: true } }
      - { name: fabrikam not the expected issuer, tls: { host: fab.example.test }, expect: { issuer: { contains: test root } } }
      - { name: good refuses 1.2, tls: { host: good.example.test }, expect: { refuses_versions: [tls1.2, "1.3"] } }
      - { name: good trusted, tls: { host: good.example.test }, expect: { trusted: true } }
"#,
    );
    let ctx = ContextOptions { extra_roots: vec![ca.cert_der()], no_system_roots: true, sandbox: sandbox(&map), ..Default::default() };
    let r = run_yaml(&yaml, &[("dns", dns.addr().to_string())], ctx).await;
    let zs = by_name(&r, "zscaler");
    assert_eq!(zs.reason_code(), Some("tls.intercepted"), "{}", zs.reason());
    assert!(zs.reason().contains("looks intercepted") && zs.reason().contains("Zscaler Internet Access"), "{}", zs.reason());
    let fab = by_name(&r, "fabrikam");
    assert_eq!(fab.reason_code(), Some("tls.untrusted"), "{}", fab.reason());
    assert!(!fab.reason().contains("intercepted"), "{}", fab.reason());
    assert_eq!(by_name(&r, "fabrikam not the expected issuer").reason_code(), Some("tls.intercepted"));
    let v = by_name(&r, "good refuses 1.2");
    assert_eq!(v.outcome, Outcome::Failed);
    assert_eq!(v.reason_code(), Some("tls.version_accepted"), "{}", v.reason());
    assert!(v.reason().contains("TLS 1.2 accepted") && v.reason().contains("TLS 1.3 accepted"), "{}", v.reason());
    let Observation::Tls(t) = &v.attempts[0].observation else { panic!() };
    let versions: Vec<&str> = t.endpoints[0].version_probes.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(versions, ["1.2", "1.3"]);
    // no version probes without `refuses_versions`
    let Observation::Tls(t) = &by_name(&r, "good trusted").attempts[0].observation else { panic!() };
    assert!(t.endpoints[0].version_probes.is_empty());
}

#[tokio::test]
async fn http_status_classes_and_proxy_authentication() {
    let ca = Ca::new("test root").unwrap();
    let site = HttpServer::start(Some(ca.issue(&["svc.example.test"], Validity::Current).unwrap()), Reply::new(401, "auth")).await.unwrap();
    let site_addr = site.addr();
    let plain = HttpServer::start(None, Reply::new(200, "plain ok")).await.unwrap();
    let plain_addr = plain.addr();
    let proxy = Proxy::start(ProxyConfig {
        credentials: Some(("shir".into(), "s3cret-pw".into())),
        route: Arc::new(move |host: &str, port: u16| match (host, port) {
            ("svc.example.test", 443) => Some(site_addr),
            ("plain.example.test", 80) => Some(plain_addr),
            _ => None,
        }),
    })
    .await
    .unwrap();
    let mut z = DnsZone::new();
    z.add_a("svc.example.test", Ipv4Addr::new(20, 0, 0, 9));
    let dns = DnsServer::start(z).await.unwrap();
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 2s }
resolvers: { lab: { servers: ["{{ dns }}"] } }
proxies:
  noauth: { url: "http://{{ proxy }}" }
  auth: { url: "http://{{ proxy }}", username: shir, password: "{{ env.NETSPEC_TEST_PROXY_PW }}" }
scenarios:
  - name: s
    resolver: lab
    checks:
      - { name: direct 401, http: { url: "https://svc.example.test/" }, expect: { status: 401, headers: { server: { contains: loopback } } } }
      - { name: class, http: { url: "https://svc.example.test/" }, expect: { status: [2xx, 3xx] } }
      - { name: proxy without credentials, http: { url: "https://svc.example.test/", proxy: noauth }, expect: { status: 401 } }
      - { name: proxy with credentials, http: { url: "https://svc.example.test/", proxy: auth }, expect: { status: 401 } }
      - { name: plain through proxy, http: { url: "http://plain.example.test/", proxy: auth }, expect: { status: 200, body: { contains: plain ok } } }
      - { name: "plain, proxy refuses", http: { url: "http://elsewhere.example.test/", proxy: auth }, expect: { status: 200 } }
      - { name: "plain, proxy demands credentials", http: { url: "http://plain.example.test/", proxy: noauth }, expect: { status: 200 } }
"#;
    // SAFETY: set before any thread of this test reads the environment; the name is unique to it.
    unsafe { std::env::set_var("NETSPEC_TEST_PROXY_PW", "s3cret-pw") };
    let ctx = ContextOptions {
        extra_roots: vec![ca.cert_der()],
        no_system_roots: true,
        sandbox: sandbox(&[("20.0.0.9:443".parse().unwrap(), site.addr())]),
        ..Default::default()
    };
    let r = run_yaml(yaml, &[("dns", dns.addr().to_string()), ("proxy", proxy.addr().to_string())], ctx).await;
    assert_eq!(by_name(&r, "direct 401").outcome, Outcome::Passed, "{}", by_name(&r, "direct 401").reason());
    assert!(by_name(&r, "class").reason().contains("expected 2xx or 3xx, observed 401"), "{}", by_name(&r, "class").reason());
    let na = by_name(&r, "proxy without credentials");
    assert_eq!(na.reason_code(), Some("http.proxy_auth_required"), "{}", na.reason());
    let a = by_name(&r, "proxy with credentials");
    assert_eq!(a.outcome, Outcome::Passed, "{}", a.reason());
    let p = by_name(&r, "plain through proxy");
    assert_eq!(p.outcome, Outcome::Passed, "{}", p.reason());
    // The proxy's own 502 page is the proxy's answer, not the endpoint's status.
    let refused = by_name(&r, "plain, proxy refuses");
    assert_eq!(refused.reason_code(), Some("http.proxy_error"), "{}", refused.reason());
    let Observation::Http(h) = &refused.attempts[0].observation else { panic!() };
    assert!(h.from_proxy && h.status.is_none(), "{h:?}");
    assert!(refused.reason().contains("netspec-loopback-proxy"), "{}", refused.reason());
    let demands = by_name(&r, "plain, proxy demands credentials");
    assert_eq!(demands.reason_code(), Some("http.proxy_auth_required"), "{}", demands.reason());
}

#[tokio::test]
async fn sandbox_refuses_addresses_outside_the_lab() {
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 1s }
scenarios:
  - name: s
    checks:
      - { name: outside, tcp: { host: 192.0.2.1, port: 443 } }
"#;
    let r = run_yaml(yaml, &[], ContextOptions { sandbox: sandbox(&[]), ..Default::default() }).await;
    assert_eq!(r[0].outcome, Outcome::Error, "{}", r[0].reason());
    assert!(r[0].reason().contains("outside the loopback lab"), "{}", r[0].reason());
}

#[tokio::test]
async fn dns_resends_a_lost_udp_query_within_the_deadline() {
    use hickory_proto::op::Message;
    use hickory_proto::rr::{RData, Record, rdata::A};
    // A server that loses the first datagram and answers the second.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let _ = sock.recv_from(&mut buf).await.unwrap();
        let (n, peer) = sock.recv_from(&mut buf).await.unwrap();
        let q = Message::from_vec(&buf[..n]).unwrap();
        let mut r = Message::response(q.metadata.id, q.metadata.op_code);
        r.metadata.recursion_available = true;
        let qname = q.queries[0].name().clone();
        r.add_query(q.queries[0].clone());
        r.add_answer(Record::from_rdata(qname, 60, RData::A(A::new(10, 1, 2, 3))));
        sock.send_to(&r.to_vec().unwrap(), peer).await.unwrap();
    });
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 3s }
resolvers: { lossy: { servers: ["{{ dns }}"] } }
scenarios:
  - name: s
    checks:
      - { name: lossy, dns: { name: a.example.test, resolver: lossy }, expect: { addresses: { equals: [10.1.2.3] } } }
"#;
    let r = run_yaml(yaml, &[("dns", addr.to_string())], ContextOptions::default()).await;
    assert_eq!(r[0].outcome, Outcome::Passed, "{}", r[0].reason());
    assert!(r[0].elapsed >= Duration::from_millis(900), "answered only after a resend: {:?}", r[0].elapsed);
    server.await.unwrap();
}

#[tokio::test]
async fn retry_timeout_waits_until_healthy_and_a_late_pass_is_flaky() {
    // A port that opens 1 s into the run (a service still starting after a deployment).
    let port = closed_port().unwrap().port();
    let opener = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        drop(l);
    });
    let yaml = format!(
        "netspec: 1\nname: gate\ndefaults: {{ timeout: 1s, retry: {{ attempts: 1, delay: 200ms, backoff: 1.5 }} }}\nscenarios:\n  - name: s\n    checks:\n      - {{ name: svc, tcp: {{ host: 127.0.0.1, port: {port} }} }}\n"
    );
    let opts = RunOptions { retry_timeout: Some(Duration::from_secs(4)), ..Default::default() };
    let r = run_yaml_with(&yaml, &[], ContextOptions::default(), opts).await;
    assert_eq!(r[0].outcome, Outcome::Passed, "{}", r[0].reason());
    assert!(r[0].attempts.len() >= 2, "{} attempts", r[0].attempts.len());
    assert!(!r[0].attempts[0].assertions[0].passed, "the first attempt saw it closed");
    let xml = netspec::report::junit::render("gate", "here", std::time::SystemTime::UNIX_EPOCH, &r, &Default::default()).unwrap();
    assert!(xml.contains("flakyFailure"), "{xml}");
    assert!(xml.contains("closed"), "{xml}");
    // junit-10.xsd requires a type on flakyFailure: the failed attempt's reason code.
    assert!(xml.contains("<flakyFailure type=\"tcp.closed\"") || xml.contains("type=\"tcp.closed\""), "{xml}");
    opener.abort();

    // Without the retry window the same check fails on its single attempt.
    let port2 = closed_port().unwrap().port();
    let yaml2 = yaml.replace(&port.to_string(), &port2.to_string());
    let r2 = run_yaml(&yaml2, &[], ContextOptions::default()).await;
    assert_eq!(r2[0].outcome, Outcome::Failed);
    assert_eq!(r2[0].attempts.len(), 1);
}

#[tokio::test]
async fn private_endpoint_shortcut_uses_the_private_link_zone_table() {
    let mut z = DnsZone::new();
    z.add_cname("kv.vault.azure.net", "kv.privatelink.vaultcore.azure.net");
    z.add_a("kv.privatelink.vaultcore.azure.net", Ipv4Addr::new(10, 12, 4, 20));
    z.add_cname("sa.blob.core.windows.net", "sa.privatelink.blob.core.windows.net");
    z.add_cname("sa.privatelink.blob.core.windows.net", "blob.cus.store.core.windows.net");
    z.add_a("blob.cus.store.core.windows.net", Ipv4Addr::new(20, 60, 1, 10));
    z.add_a("pub.blob.core.windows.net", Ipv4Addr::new(20, 60, 1, 11));
    let dns = DnsServer::start(z).await.unwrap();
    let yaml = lab_suite(
        r#"      - { name: kv, dns: { name: kv.vault.azure.net }, expect: { private_endpoint: true } }
      - { name: leak, dns: { name: sa.blob.core.windows.net }, expect: { private_endpoint: true } }
      - { name: public, dns: { name: pub.blob.core.windows.net }, expect: { private_endpoint: false } }
"#,
    );
    let r = run_yaml(&yaml, &[("dns", dns.addr().to_string())], ContextOptions { sandbox: sandbox(&[]), ..Default::default() }).await;
    assert_eq!(by_name(&r, "kv").outcome, Outcome::Passed, "{}", by_name(&r, "kv").reason());
    let leak = by_name(&r, "leak");
    assert_eq!(leak.outcome, Outcome::Failed);
    assert!(leak.reason().contains("a CNAME into privatelink.blob.core.windows.net"), "{}", leak.reason());
    assert!(leak.reason().contains("20.60.1.10"), "{}", leak.reason());
    assert_eq!(by_name(&r, "public").outcome, Outcome::Passed, "{}", by_name(&r, "public").reason());

    // A name no private-link service serves is a plan-time error, located.
    let bad = "netspec: 1\nname: t\nscenarios:\n  - name: s\n    checks:\n      - { name: x, dns: { name: www.example.com }, expect: { private_endpoint: true } }\n";
    let loaded = netspec::suite::parse(Path::new("t.yaml"), bad.to_owned()).unwrap();
    let e = plan::plan(&[loaded], &Inputs::default()).unwrap_err().to_string();
    assert!(e.contains("no zone in the Azure private-link table serves `www.example.com`") && e.contains("t.yaml:6:"), "{e}");
}

#[tokio::test]
async fn nxdomain_inside_a_private_zone_is_explained_as_such() {
    let mut z = DnsZone::new();
    z.authoritative_for("privatelink.vaultcore.azure.net");
    z.authoritative_for("vault.azure.net");
    z.add_cname("kv.vault.azure.net", "kv.privatelink.vaultcore.azure.net");
    let dns = DnsServer::start(z).await.unwrap();
    let yaml = lab_suite(
        r#"      - { name: kv, dns: { name: kv.vault.azure.net }, expect: { rcode: NOERROR } }
"#,
    );
    let r = run_yaml(&yaml, &[("dns", dns.addr().to_string())], ContextOptions { sandbox: sandbox(&[]), ..Default::default() }).await;
    assert_eq!(r[0].outcome, Outcome::Failed);
    assert_eq!(r[0].reason_code(), Some("dns.private_zone_nxdomain"), "{}", r[0].reason());
}

#[tokio::test]
async fn compare_asks_several_resolvers_for_split_horizon() {
    let mut corp = DnsZone::new();
    corp.add_cname("kv.vault.azure.net", "kv.privatelink.vaultcore.azure.net");
    corp.add_a("kv.privatelink.vaultcore.azure.net", Ipv4Addr::new(10, 12, 4, 20));
    corp.add_a("same.example.test", Ipv4Addr::new(20, 1, 1, 1));
    let mut public = DnsZone::new();
    public.add_a("kv.vault.azure.net", Ipv4Addr::new(52, 160, 10, 40));
    public.add_a("same.example.test", Ipv4Addr::new(20, 1, 1, 1));
    let (corp, public) = (DnsServer::start(corp).await.unwrap(), DnsServer::start(public).await.unwrap());
    let yaml = r#"
netspec: 1
name: t
resolvers: { corp: { servers: ["{{ corp }}"] }, public: { servers: ["{{ public }}"] } }
scenarios:
  - name: s
    resolver: corp
    checks:
      - { name: split, dns: { name: kv.vault.azure.net, compare: [public] }, expect: { agree: false, addresses: { all: private } } }
      - { name: same, dns: { name: same.example.test, compare: [public] }, expect: { agree: true } }
      - { name: wrongly split, dns: { name: kv.vault.azure.net, compare: [public] }, expect: { agree: true } }
"#;
    let vars = [("corp", corp.addr().to_string()), ("public", public.addr().to_string())];
    let r = run_yaml(yaml, &vars, ContextOptions { sandbox: sandbox(&[]), ..Default::default() }).await;
    assert_eq!(by_name(&r, "split").outcome, Outcome::Passed, "{}", by_name(&r, "split").reason());
    assert_eq!(by_name(&r, "same").outcome, Outcome::Passed, "{}", by_name(&r, "same").reason());
    let w = by_name(&r, "wrongly split");
    assert_eq!(w.outcome, Outcome::Failed, "{:#?}", w.attempts[0].assertions);
    assert!(w.reason().contains("corp: NOERROR 10.12.4.20; public: NOERROR 52.160.10.40"), "{}", w.reason());

    // `agree` without `compare` is a plan error.
    let bad = "netspec: 1\nname: t\nscenarios:\n  - name: s\n    checks:\n      - { name: x, dns: { name: a.example }, expect: { agree: true } }\n";
    let loaded = netspec::suite::parse(Path::new("t.yaml"), bad.to_owned()).unwrap();
    let e = plan::plan(&[loaded], &Inputs::default()).unwrap_err().to_string();
    assert!(e.contains("`agree` needs resolvers to compare with"), "{e}");
}

/// TLS inspection through a proxy (the SHIR case): the proxy's `CONNECT` tunnel reaches a server
/// whose certificate an inspection CA signed. The check records the presented chain as a direct
/// one does and says `tls.intercepted`, naming the issuer.
#[tokio::test]
async fn an_inspecting_proxy_is_reported_as_intercepted_with_the_chain() {
    let trusted = Ca::new("test root").unwrap();
    let inspection = Ca::new("Contoso TLS Inspection CA").unwrap();
    let resigned =
        HttpServer::start(Some(inspection.issue(&["svc.example.test"], Validity::Current).unwrap()), Reply::new(200, "ok")).await.unwrap();
    let resigned_addr = resigned.addr();
    let proxy = Proxy::start(ProxyConfig {
        credentials: None,
        route: Arc::new(move |host: &str, port: u16| match (host, port) {
            ("svc.example.test", 443) => Some(resigned_addr),
            _ => None,
        }),
    })
    .await
    .unwrap();
    let yaml = r#"
netspec: 1
name: t
defaults: { timeout: 2s }
proxies: { corp: { url: "http://{{ proxy }}" } }
scenarios:
  - name: s
    checks:
      - { name: through the proxy, http: { url: "https://svc.example.test/", proxy: corp }, expect: { status: 200 } }
"#;
    let ctx = ContextOptions { extra_roots: vec![trusted.cert_der()], no_system_roots: true, ..Default::default() };
    let r = run_yaml(yaml, &[("proxy", proxy.addr().to_string())], ctx).await;
    assert_eq!(r[0].reason_code(), Some("tls.intercepted"), "{}", r[0].reason());
    assert!(r[0].reason().contains("Contoso TLS Inspection CA"), "{}", r[0].reason());
    let Observation::Http(h) = &r[0].attempts[0].observation else { panic!() };
    let tls = h.tls.as_ref().expect("the presented chain is recorded");
    assert!(!tls.trusted && tls.chain.iter().any(|c| c.issuer.contains("Contoso TLS Inspection CA")), "{:?}", tls.chain);
}
