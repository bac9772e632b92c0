//! Safe in every pipeline (issue 14), second round: secrets never printed in any form, `vars`
//! rendering, `include:` of non-regular files, bounded planning and retries, running out of
//! file descriptors. Real files, FIFOs and loopback servers only.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

use crate::common::write;

fn text(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs netspec in `dir` with `env` set, outside CI.
fn netspec_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netspec"));
    c.args(args).current_dir(dir).env_remove("CI").env_remove("GITHUB_ACTIONS").env_remove("TF_BUILD");
    for k in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("netspec runs")
}

/// The secret of these tests, and every form of it that must never be printed.
const TOKEN: &str = "s3cr3t T0k/@n+x";

/// [`TOKEN`] percent-encoded, as it is written in a URL's userinfo.
const TOKEN_PCT: &str = "s3cr3t%20T0k%2F%40n%2Bx";

fn forbidden_forms() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        // The token and each of its percent-encodings (a URL query, userinfo, form) start so.
        "s3cr3t".to_owned(),
        "T0k".to_owned(),
        // Base64: alone and inside Basic credentials (`user:token`).
        b64(TOKEN),
        b64(&format!("u:{TOKEN}")),
        b64(&format!("svc:{TOKEN}")),
    ]
}

fn assert_no_secret(what: &str, out: &str) {
    for f in forbidden_forms() {
        assert!(!out.contains(&f), "{what} prints the secret as `{f}`:\n{out}");
    }
}

#[test]
fn plan_and_validation_errors_never_print_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let env = [("TOK", TOKEN), ("TOKP", TOKEN_PCT)];
    // A valid suite: the token in a URL's userinfo and query, in a header, in a var.
    write(
        d,
        "ok.yaml",
        "netspec: 1\nname: s\nvars: { tok: \"{{ env.TOK }}\" }\nscenarios:\n  - name: sc\n    checks:\n      - name: c\n        http:\n          url: \"http://u:{{ env.TOKP }}@127.0.0.1:9/?token={{ tok }}\"\n          headers: { X-Api-Key: \"{{ tok }}\" }\n",
    );
    for args in [&["plan", "ok.yaml"][..], &["plan", "--format", "json", "ok.yaml"], &["validate", "ok.yaml"]] {
        let o = netspec_env(d, args, &env);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert_no_secret(&format!("{args:?}"), &text(&o));
    }
    // The plan shows the redaction, so the secret was really there.
    let o = netspec_env(d, &["plan", "ok.yaml"], &env);
    assert!(String::from_utf8_lossy(&o.stdout).contains("***"), "{}", text(&o));
    // A narrow terminal wraps the URL: the secret is redacted before, never split in pieces.
    let mut c = Command::new(env!("CARGO_BIN_EXE_netspec"));
    let o = c.args(["plan", "ok.yaml"]).current_dir(d).env("TOK", TOKEN).env("TOKP", TOKEN_PCT).env("COLUMNS", "40").output().unwrap();
    assert_no_secret("plan on 40 columns", &text(&o));
    for piece in ["s3c", "T0k"] {
        assert!(!text(&o).contains(piece), "{piece}: {}", text(&o));
    }

    // Errors that quote the secret: an invalid URL, an https proxy URL (with the password
    // written in the suite or from the environment), a connect_to value, a malformed HTTPS_PROXY.
    let bad = [
        ("url.yaml", "      - name: c\n        http: { url: \"http://u:{{ env.TOK }}@[::1/x\" }\n", vec![]),
        (
            "proxy.yaml",
            "      - name: c\n        http: { url: \"https://127.0.0.1:9/\", proxy: p }\nproxies:\n  p: { url: \"https://svc:{{ env.TOK }}@127.0.0.1:3128\" }\n",
            vec![],
        ),
        (
            "literal.yaml",
            "      - name: c\n        http: { url: \"https://127.0.0.1:9/\", proxy: p }\nproxies:\n  p: { url: \"https://svc:s3cr3t%20T0k%2F%40n%2Bx@127.0.0.1:3128\" }\n",
            vec![],
        ),
        ("connect.yaml", "      - name: c\n        http: { url: \"https://127.0.0.1:9/\", connect_to: \"{{ env.TOK }}\" }\n", vec![]),
        (
            "envproxy.yaml",
            "      - name: c\n        http: { url: \"https://127.0.0.1:9/\", proxy: env }\n",
            vec![("HTTPS_PROXY", "http://u:s3cr3t%20T0k%2F%40n%2Bx@[::1")],
        ),
    ];
    for (name, checks, extra) in bad {
        write(d, name, &format!("netspec: 1\nname: s\nscenarios:\n  - name: sc\n    checks:\n{checks}"));
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.extend(extra);
        for cmd in ["validate", "plan", "run"] {
            let o = netspec_env(d, &[cmd, name], &env);
            assert_eq!(o.status.code(), Some(2), "{cmd} {name}: {}", text(&o));
            assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("{name}:")), "{cmd} {name}: located: {}", text(&o));
            assert_no_secret(&format!("{cmd} {name}"), &text(&o));
        }
    }
}

/// An HTTP server on loopback that answers each request (at most `n`) with 200, echoing the
/// request head in the body and its `Authorization` in a header, as a hostile or debugging
/// endpoint (or a proxy echoing credentials) would.
fn echo_server(n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let auth = head.lines().find_map(|l| l.strip_prefix("authorization: ").or(l.strip_prefix("Authorization: "))).unwrap_or("-");
            let body = head.replace("\r\n", "\n");
            let _ =
                write!(s, "HTTP/1.1 500 Oops\r\nX-Echo-Auth: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (port, h)
}

#[test]
fn reports_redact_percent_encoded_and_base64_forms_of_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, server) = echo_server(1);
    // The token goes in the userinfo (sent as Basic credentials, base64) and in the query
    // (percent-encoded); the server echoes both back; the check fails so the console explains it.
    write(
        d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: s\nvars: {{ tok: \"{{{{ env.TOK }}}}\" }}\ndefaults: {{ timeout: 5s }}\nscenarios:\n  - name: sc\n    checks:\n      - name: c\n        http: {{ url: \"http://u:{{{{ env.TOKP }}}}@127.0.0.1:{port}/echo?q={{{{ tok }}}}\" }}\n        expect: {{ status: 200, body: {{ contains: nothing-like-this }} }}\n"
        ),
    );
    let o = netspec_env(d, &["run", "s.yaml", "--json", "r.json", "--junit", "r.xml", "-v"], &[("TOK", TOKEN), ("TOKP", TOKEN_PCT)]);
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let json = std::fs::read_to_string(d.join("r.json")).unwrap();
    let junit = std::fs::read_to_string(d.join("r.xml")).unwrap();
    // The server did see the credentials: the report holds the redacted echo.
    assert!(json.contains("X-Echo-Auth") || json.contains("x-echo-auth"), "{json}");
    assert!(json.contains("x-echo-auth: Basic ") && json.contains("***g=") && json.contains("q=***"), "{json}");
    assert_no_secret("console", &text(&o));
    assert_no_secret("JSON report", &json);
    assert_no_secret("JUnit report", &junit);
}

#[test]
fn a_var_rendered_from_the_environment_is_sent_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, server) = echo_server(1);
    write(
        d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: s\nvars:\n  tok: \"{{{{ env.TOK }}}}\"\n  auth: \"Bearer {{{{ tok }}}}\"\ndefaults: {{ timeout: 5s }}\nscenarios:\n  - name: sc\n    checks:\n      - name: c\n        http: {{ url: \"http://127.0.0.1:{port}/\", headers: {{ Authorization: \"{{{{ auth }}}}\" }} }}\n        expect: {{ status: 500, headers: {{ X-Echo-Auth: {{ equals: \"Bearer {{{{ tok }}}}\" }} }} }}\n"
        ),
    );
    let o = netspec_env(d, &["run", "s.yaml", "--json", "r.json"], &[("TOK", TOKEN)]);
    server.join().unwrap();
    // The server received the rendered token (the header expectation holds), not the template.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json = std::fs::read_to_string(d.join("r.json")).unwrap();
    assert_no_secret("JSON report", &json);
    assert!(!json.contains("env.TOK"), "{json}");
    // A var that uses one it cannot see is a located error.
    write(
        d,
        "bad.yaml",
        "netspec: 1\nname: s\nvars:\n  a: \"{{ later }}\"\n  later: x\nscenarios:\n  - name: sc\n    checks:\n      - { name: c, tcp: { host: 127.0.0.1, port: 9 } }\n",
    );
    let o = netspec_env(d, &["validate", "bad.yaml"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.yaml:4:3"), "{}", text(&o));
}

/// Runs netspec in `dir` and kills it after `limit` (a hang guard: a hang never ends; the
/// assertion is on the exit code, never on the time taken).
fn netspec_bounded(dir: &Path, args: &[&str], env: &[(&str, &str)], limit: std::time::Duration) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netspec"));
    c.args(args).current_dir(dir).env_remove("CI").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn include_reads_regular_files_only_and_never_echoes_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("lib.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let canary = "canary-env-value-7d1f";
    let suite = |inc: &str| {
        format!(
            "netspec: 1\nname: s\ninclude: [\"{inc}\"]\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: c, tcp: {{ host: 127.0.0.1, port: 9 }} }}\n"
        )
    };
    for (name, inc) in
        [("fifo", fifo.to_str().unwrap()), ("device", "/dev/null"), ("proc", "/proc/self/environ"), ("sys", "/sys/kernel/uevent_seqnum")]
    {
        write(d, "s.yaml", &suite(inc));
        // A FIFO nobody writes to: today's code blocks in open() forever.
        let o = netspec_bounded(d, &["validate", "s.yaml"], &[("NETSPEC_CANARY", canary)], std::time::Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("s.yaml:3:") && err.contains("not a regular file") && err.contains("hint:"), "{name}: {err}");
        assert!(!err.contains(canary), "{name}: {err}");
    }
    // A regular file that is not a library: the error shows the offending line only, cut.
    let long_line = format!("root:{}:0:0", "x".repeat(500));
    write(d, "notyaml.txt", &format!("{long_line}\nsecond-line-{canary}\n\tthird: [\n"));
    write(d, "s.yaml", &suite("notyaml.txt"));
    let o = netspec_bounded(d, &["validate", "s.yaml"], &[], std::time::Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains(canary), "{err}");
    for line in err.lines() {
        assert!(line.chars().count() <= 160, "a line of {} characters: {err}", line.chars().count());
    }
}

/// A loopback port nothing listens on (connections are refused at once).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Total attempts of the first check of a JSON report: kept plus omitted.
fn attempts_of(json: &str) -> (usize, u64) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let c = &v["checks"][0];
    (c["attempts"].as_array().unwrap().len(), c["attempts_omitted"].as_u64().unwrap_or(0))
}

#[test]
fn retries_are_bounded_by_the_window_and_attempts_kept_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = closed_port();
    let suite = |retry: &str| {
        format!(
            "netspec: 1\nname: s\ndefaults: {{ timeout: 2s }}\nscenarios:\n  - name: sc\n    checks:\n      - name: c\n        tcp: {{ host: 127.0.0.1, port: {port} }}\n        expect: {{ state: open }}\n        retry: {retry}\n"
        )
    };
    // 25 attempts of a check that always fails: 10 kept (the first and the latest 9), 15 counted.
    write(d, "cap.yaml", &suite("{ attempts: 25, delay: 100ms }"));
    let o = netspec_env(d, &["run", "cap.yaml", "--json", "cap.json"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let (kept, omitted) = attempts_of(&std::fs::read_to_string(d.join("cap.json")).unwrap());
    assert_eq!((kept, omitted), (10, 15), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("attempts: 25"), "{}", text(&o));
    // A 1 s window: no attempt starts after it, not even the check's own 50th (it took 5 s).
    // Pauses are at least 100 ms (`delay: 0s` is raised to it), so at most 11 attempts start.
    for retry in ["{ attempts: 50, delay: 100ms }", "{ attempts: 50, delay: 0s }"] {
        write(d, "win.yaml", &suite(retry));
        let o = netspec_env(d, &["run", "win.yaml", "--retry-timeout", "1s", "--json", "win.json"], &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let (kept, omitted) = attempts_of(&std::fs::read_to_string(d.join("win.json")).unwrap());
        let total = kept + omitted as usize;
        assert!((1..=11).contains(&total), "{retry}: {total} attempts in a 1 s window with 100 ms pauses");
    }
}

#[test]
fn a_suite_expanding_past_the_planning_budget_is_refused_in_small_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 13 KB of YAML: 200 scenarios × 100 × 1,000 matrix instances = 20 million checks.
    let x: Vec<String> = (0..100).map(|i| format!("a{i}")).collect();
    let y: Vec<String> = (0..1000).map(|i| format!("{i}")).collect();
    let scenarios: String = (0..200)
        .map(|i| format!("  - name: \"s{i} {{{{x}}}}{{{{y}}}}\"\n    checks: [{{ name: c, tcp: {{ host: h, port: 1 }} }}]\n"))
        .collect();
    let text_ = format!("netspec: 1\nname: big\nmatrix:\n  x: [{}]\n  y: [{}]\nscenarios:\n{scenarios}", x.join(","), y.join(","));
    assert!(text_.len() < 24_000, "{}", text_.len());
    write(d, "big.yaml", &text_);
    // Under a 400 MB address-space limit (today's code needs 3.6 GB and is killed).
    let o = Command::new("sh")
        .args(["-c", "ulimit -v 400000; exec \"$0\" validate big.yaml", env!("CARGO_BIN_EXE_netspec")])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // Located at the scenario that crosses the budget: the 11th (10 × 100,000 = 1,000,000).
    assert!(err.contains("big.yaml:27:11") && err.contains("1000000 checks allowed") && err.contains("hint:"), "{err}");
}

/// Runs netspec with `extra` descriptors already open (inherited, as a leaky CI agent passes
/// them) under the open-file limit `limit`.
fn with_inherited_descriptors(dir: &Path, extra: usize, limit: u64, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(env!("CARGO_BIN_EXE_netspec"));
    c.args(args).current_dir(dir).env_remove("CI").env_remove("NETSPEC_CONCURRENCY");
    // SAFETY: between fork and exec only async-signal-safe calls (open, setrlimit).
    unsafe {
        c.pre_exec(move || {
            for _ in 0..extra {
                if libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().expect("netspec runs")
}

#[test]
fn descriptors_already_open_are_not_counted_as_free() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: s\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: c, tcp: {{ host: 127.0.0.1, port: {} }}, expect: {{ state: closed }} }}\n",
            closed_port()
        ),
    );
    // 56 of 64 descriptors inherited: today the runtime panics ("Too many open files").
    let o = with_inherited_descriptors(d, 56, 64, &["run", "s.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked") && err.contains("already open") && err.contains("hint:"), "{err}");
    // 40 of 200: the limit holds fewer checks in flight than -j asks; said, and the run passes.
    let o = with_inherited_descriptors(d, 40, 200, &["run", "s.yaml", "-j", "256"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("checks in flight, not 256"), "{err}");
}

#[test]
fn running_out_of_descriptors_is_a_local_error_never_a_network_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A loopback DNS server that reads queries and never answers: the first check waits on it.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_port = silent.local_addr().unwrap().port();
    let tcp_port = closed_port();
    write(
        d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: s\nresolvers:\n  lo: {{ servers: [\"127.0.0.1:{dns_port}\"] }}\ndefaults: {{ timeout: 2s }}\nscenarios:\n  - name: sc\n    resolver: lo\n    checks:\n      - {{ name: first, dns: {{ name: a.example.test }} }}\n      - {{ name: dns, dns: {{ name: b.example.test }} }}\n      - {{ name: tcp, tcp: {{ host: 127.0.0.1, port: {tcp_port} }}, expect: {{ state: closed }} }}\n"
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["run", "s.yaml", "-j", "1", "--max-waiting", "0"])
        .current_dir(d)
        .env_remove("CI")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // When the first query arrives, the run is under way: no descriptor is left from now on.
    silent.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 512];
    silent.recv_from(&mut buf).expect("the first check queries the loopback server");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let open = std::fs::read_dir(format!("/proc/{}/fd", child.id())).unwrap().count() as u64;
    // Below what is open: the first check's socket, once closed, frees nothing usable.
    let lim = rustix::process::Rlimit { current: Some(open - 4), maximum: Some(open - 4) };
    rustix::process::prlimit(Some(pid), rustix::process::Resource::Nofile, lim).unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.contains("dns.network"), "{out}");
    assert!(out.contains("ERROR s/sc/dns") && out.contains("dns.socket"), "{out}");
    assert!(out.contains("ERROR s/sc/tcp") && out.contains("tcp.socket"), "{out}");
}

#[tokio::test]
async fn a_checks_fan_out_is_reserved_in_the_open_file_budget() {
    use netspec::probe::{ContextOptions, ProbeContext};
    let ctx = ProbeContext::new(ContextOptions { no_system_roots: true, system_servers: Some(vec![]), ..Default::default() })
        .with_fanout_budget(6);
    let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
    // Two addresses are in every check's own budget: nothing to reserve.
    assert!(ctx.reserve_fanout(2, soon).await.unwrap().is_none());
    // A name with 8 addresses reserves 6 more descriptors: the whole pool.
    let held = ctx.reserve_fanout(8, soon).await.unwrap().expect("reserved");
    assert_eq!(held.num_permits(), 6);
    // Another one cannot have them until the first is done: a local error at its deadline.
    let e = ctx.reserve_fanout(4, soon).await.unwrap_err();
    assert!(e.reason.is_local(), "{e:?}");
    drop(held);
    assert!(ctx.reserve_fanout(4, soon).await.unwrap().is_some());
}
