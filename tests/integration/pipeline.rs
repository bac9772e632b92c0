//! Safe in every pipeline (issue 14): report files never replace an input, each other, a link,
//! a FIFO or a device; modes follow the umask; no temporary file survives a second Ctrl-C.
//! Every test uses real files, FIFOs and symlinks, and loopback listeners only.

use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::write;

/// A loopback port that accepts connections (the kernel completes the handshake from the
/// backlog), so a `tcp` check on it passes.
fn open_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A one-check suite that passes against `port`.
fn suite(dir: &Path, port: u16) -> PathBuf {
    write(
        dir,
        "s.yaml",
        &format!(
            "netspec: 1\nname: p\ndefaults: {{ timeout: 3s }}\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: up, tcp: {{ host: 127.0.0.1, port: {port} }} }}\n"
        ),
    )
}

/// Runs netspec with `args` under umask 022, outside CI.
fn run(args: &[&str]) -> Output {
    let mut sh_args = vec!["-c", "umask 022; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_netspec")];
    sh_args.extend_from_slice(args);
    Command::new("sh").args(&sh_args).env_remove("CI").env_remove("GITHUB_ACTIONS").env_remove("TF_BUILD").output().expect("netspec runs")
}

fn text(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".netspec-"))
        .collect()
}

#[test]
fn a_report_that_is_any_input_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = open_port();
    let port = port.local_addr().unwrap().port();
    write(d, "lib.yaml", "netspec: 1\nvars: { lib_var: x }\n");
    write(d, "vars.yaml", "region: eastus\n");
    write(d, "hosts.txt", "10.1.2.3 svc.example.test\n");
    write(d, "ca.pem", "not a certificate, and never read: the run does not start\n");
    let suite = write(
        d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: p\ninclude: [lib.yaml]\ndefaults: {{ timeout: 3s }}\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: up, tcp: {{ host: 127.0.0.1, port: {port} }} }}\n      - {{ name: names, dns: {{ name: localhost }}, expect: {{ addresses: {{ from_hosts_file: hosts.txt }} }} }}\n      - {{ name: cert, tls: {{ host: 127.0.0.1, port: {port}, ca_file: ca.pem }} }}\n"
        ),
    );
    std::os::unix::fs::symlink(d.join("vars.yaml"), d.join("vars-link.json")).unwrap();
    std::fs::hard_link(d.join("hosts.txt"), d.join("hosts-hardlink.xml")).unwrap();
    let cases: [(&str, PathBuf); 7] = [
        ("--junit", suite.clone()),
        ("--json", d.join("./s.yaml")),
        ("--html", d.join("lib.yaml")),
        ("--json", d.join("vars-link.json")),
        ("--junit", d.join("hosts-hardlink.xml")),
        ("--prometheus", d.join("ca.pem")),
        ("--junit", d.join("../").join(d.file_name().unwrap()).join("hosts.txt")),
    ];
    let before: Vec<(PathBuf, String)> = ["s.yaml", "lib.yaml", "vars.yaml", "hosts.txt", "ca.pem"]
        .iter()
        .map(|n| (d.join(n), std::fs::read_to_string(d.join(n)).unwrap()))
        .collect();
    for (flag, report) in &cases {
        let o = run(&["run", s(&suite), "--vars-file", s(&d.join("vars.yaml")), flag, s(report)]);
        assert_eq!(o.status.code(), Some(2), "{flag} {}: {}", report.display(), text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("is the same file as the input"), "{}", text(&o));
        assert!(o.stdout.is_empty(), "nothing ran: {}", text(&o));
        for (p, t) in &before {
            assert_eq!(&std::fs::read_to_string(p).unwrap(), t, "{} unchanged after {flag} {}", p.display(), report.display());
        }
        assert!(std::fs::symlink_metadata(d.join("vars-link.json")).unwrap().file_type().is_symlink());
    }
}

#[test]
fn two_reports_naming_one_file_are_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    std::os::unix::fs::symlink("x", d.join("y")).unwrap();
    for second in [d.join("./x"), d.join("y"), d.join("sub/../x")] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let o = run(&["run", s(&suite), "--junit", s(&d.join("x")), "--json", s(&second)]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", second.display(), text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("is given for two reports"), "{}", text(&o));
        assert!(!d.join("x").exists(), "no report was written before the run");
    }
}

#[test]
fn a_directory_or_read_only_report_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    std::fs::create_dir(d.join("reports")).unwrap();
    let o = run(&["run", s(&suite), "--junit", s(&d.join("reports"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot write the report"), "{}", text(&o));
    assert!(o.stdout.is_empty(), "the run did not start: {}", text(&o));

    let ro = write(d, "ro.json", "keep me");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = run(&["run", s(&suite), "--json", s(&ro)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("read-only"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "keep me");
}

#[test]
fn a_symlinked_report_replaces_its_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    std::fs::create_dir(d.join("real")).unwrap();
    std::os::unix::fs::symlink("real/out.xml", d.join("latest.xml")).unwrap();
    let o = run(&["run", s(&suite), "--junit", s(&d.join("latest.xml"))]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::symlink_metadata(d.join("latest.xml")).unwrap().file_type().is_symlink(), "the link is kept");
    assert!(std::fs::read_to_string(d.join("real/out.xml")).unwrap().contains("<testsuites"));
    assert!(temp_files(d).is_empty() && temp_files(&d.join("real")).is_empty());
}

#[test]
fn reports_get_the_umask_mode_and_a_replaced_report_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    let kept = write(d, "kept.json", "old");
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = run(&["run", s(&suite), "--prometheus", s(&d.join("m.prom")), "--json", s(&kept)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&d.join("m.prom")), 0o644, "readable by node_exporter running as another user");
    assert_eq!(mode(&kept), 0o640, "the replaced file's mode is kept");
    assert!(std::fs::read_to_string(&kept).unwrap().contains("\"checks\""));
}

#[test]
fn fifo_and_character_device_reports_are_streamed_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    let fifo = d.join("junit.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    // A private character device with /dev/null's numbers (root only): never the real one.
    let null = d.join("null");
    let have_null = Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    let mut args = vec!["run", s(&suite), "--junit", s(&fifo)];
    if have_null {
        args.extend(["--json", s(&null)]);
    } else {
        eprintln!("mknod needs root: the character-device half is not exercised");
    }
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = reader.join().unwrap();
    assert!(xml.contains("<testsuites"), "the reader got the report: {xml}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    if have_null {
        assert!(std::fs::symlink_metadata(&null).unwrap().file_type().is_char_device(), "the device is still a device");
    }
    assert!(temp_files(d).is_empty(), "{:?}", temp_files(d));
}

#[test]
fn a_report_to_standard_output_is_streamed_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    for out in ["/proc/self/fd/1", "/dev/stdout"] {
        let o = run(&["run", s(&suite), "--junit", out]);
        assert_eq!(o.status.code(), Some(0), "{out}: {}", text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("<testsuites") && stdout.contains("1 checks: 1 passed"), "{out}: {stdout}");
    }
    assert!(std::fs::symlink_metadata("/dev/stdout").unwrap().file_type().is_symlink(), "/dev/stdout is untouched");
}

#[test]
fn a_second_signal_while_reports_are_written_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let l = open_port();
    let suite = suite(d, l.local_addr().unwrap().port());
    // Nobody opens the FIFO for reading: the HTML report blocks there, after the JUnit and JSON
    // reports were written to their temporary files.
    let fifo = d.join("page.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["run", s(&suite), "--junit", s(&d.join("r.xml")), "--json", s(&d.join("r.json")), "--html", s(&fifo)])
        .env_remove("CI")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while temp_files(d).len() < 2 {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the reports were not staged: {:?}", temp_files(d));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..2 {
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("netspec did not stop on the second signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(temp_files(d).is_empty(), "left behind: {:?}", temp_files(d));
}

#[test]
fn merge_reads_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("results.json");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Nobody writes into the FIFO: reading it would block forever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netspec"))
        .args(["merge", s(&fifo)])
        .env_remove("CI")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("netspec merge blocked on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probed_server_cannot_drive_the_ci_agent_or_the_terminal() {
    use netspec::loopback::{HttpServer, Reply};
    let hostile = "::stop-commands::pwn\r\n::error::fake\n##vso[task.setvariable variable=x]1 ##[group]g\x1b]0;title\x07\x1b[2J";
    let srv = HttpServer::start(None, Reply::new(200, hostile).header("x-evil", "##vso[task.complete result=Succeeded]")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let suite = write(
        &d,
        "s.yaml",
        &format!(
            "netspec: 1\nname: p\ndefaults: {{ timeout: 3s }}\nscenarios:\n  - name: sc\n    checks:\n      - name: \"evil ##[error]name\"\n        hint: \"\\n::add-mask::hint\"\n        http: {{ url: \"http://{}/\" }}\n        expect: {{ body: {{ contains: never-there }}, headers: {{ x-evil: {{ equals: calm }} }} }}\n",
            srv.addr()
        ),
    );
    let summary = d.join("summary.md");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_netspec"))
            .args(["run", s(&suite), "--github", "--azure-pipelines", "-v"])
            .env_remove("CI")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let md = std::fs::read_to_string(d.join("summary.md")).unwrap();
    assert!(stdout.contains("never-there"), "the failure is explained: {stdout}");
    let own = stdout
        .lines()
        .filter(|l| (l.starts_with("::error ") && l.contains("title=")) || l.starts_with("##vso[task.logissue type=error"))
        .count();
    assert_eq!(own, 2, "netspec's own annotations are intact: {stdout}");
    for (what, t) in [("stdout", &stdout), ("stderr", &stderr), ("step summary", &md)] {
        for l in t.lines() {
            let own = (l.starts_with("::error ") && l.contains("title=")) || l.starts_with("##vso[task.logissue type=error;code=");
            let body = if own { &l[l.find(']').map_or(2, |i| i + 1)..] } else { l };
            assert!(own || !l.trim_start().starts_with("::"), "{what}: a line starts with `::`: {l:?}");
            assert!(!body.contains("##vso[") && !body.contains("##["), "{what}: an Azure command: {l:?}");
        }
        assert!(!t.contains('\x1b') && !t.contains('\r') && !t.contains('\x07'), "{what}: raw control characters: {t:?}");
    }
    assert!(stdout.contains("\\x1b"), "controls are shown escaped: {stdout}");
}

/// A loopback HTTP server that answers every request with `reply` (a raw response) and hands
/// each request head it read (lower-cased) to the returned receiver. Stops after `n` requests.
fn recorder(n: usize, reply: String) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut c, _)) = l.accept() else { return };
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&head).to_ascii_lowercase());
            let _ = c.write_all(reply.as_bytes());
        }
    });
    (port, rx)
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

#[test]
fn credentials_are_not_forwarded_to_another_origin_on_redirect() {
    let (same_port, same) = recorder(1, OK.into());
    let (other_port, other) = recorder(1, OK.into());
    let (start_port, start) = recorder(
        2,
        format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{other_port}/landing\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let headers = "{ Authorization: \"Bearer tok-123\", Cookie: \"sid=abc\", X-Api-Key: k-456, X-Plain: kept }";
    let suite = write(
        dir.path(),
        "s.yaml",
        &format!(
            "netspec: 1\nname: p\ndefaults: {{ timeout: 5s }}\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: direct, http: {{ url: \"http://127.0.0.1:{same_port}/\", headers: {headers} }} }}\n      - {{ name: moved, http: {{ url: \"http://127.0.0.1:{start_port}/\", follow_redirects: true, headers: {headers} }} }}\n"
        ),
    );
    let o = run(&["run", s(&suite), "-j", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let same = same.recv_timeout(Duration::from_secs(5)).unwrap();
    let start = start.recv_timeout(Duration::from_secs(5)).unwrap();
    let other = other.recv_timeout(Duration::from_secs(5)).unwrap();
    for h in [&same, &start] {
        assert!(h.contains("authorization: bearer tok-123") && h.contains("cookie: sid=abc") && h.contains("x-api-key: k-456"), "{h}");
    }
    assert!(other.starts_with("get /landing"), "{other}");
    assert!(other.contains("x-plain: kept"), "other headers follow the redirect: {other}");
    for secret in ["authorization", "cookie", "x-api-key", "tok-123", "abc", "k-456"] {
        assert!(!other.contains(secret), "`{secret}` reached another origin: {other}");
    }
}

#[test]
fn url_userinfo_is_basic_auth_to_that_endpoint() {
    let (port, rx) = recorder(1, OK.into());
    let dir = tempfile::tempdir().unwrap();
    let suite = write(
        dir.path(),
        "s.yaml",
        &format!(
            "netspec: 1\nname: p\ndefaults: {{ timeout: 5s }}\nscenarios:\n  - name: sc\n    checks:\n      - {{ name: basic, http: {{ url: \"http://user:p%40ss@127.0.0.1:{port}/x\" }} }}\n"
        ),
    );
    let o = run(&["run", s(&suite)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let head = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // base64("user:p@ss")
    assert!(head.contains("authorization: basic dxnlcjpwqhnz"), "{head}");
    assert!(head.starts_with("get /x http/1.1"), "{head}");
}

#[test]
fn imported_template_syntax_stays_literal_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = write(
        d,
        "flows.csv",
        "source,destination,port,protocol,expected\napp,{{ env.CI_TOKEN }}.example,443,tcp,open\n{% if 1 %}x,h.example,80,tcp,open\n",
    );
    let hosts = write(d, "dns.txt", "10.0.0.1 {{env.CI_TOKEN}}.privatelink.example\n");
    for (what, input) in [("flows", &csv), ("hosts", &hosts)] {
        let out = d.join(format!("{what}.yaml"));
        let o = run(&["import", what, s(input), "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let plan = Command::new(env!("CARGO_BIN_EXE_netspec"))
            .args(["plan", s(&out), "--format", "json"])
            .env("CI_TOKEN", "s3cr3t-token")
            .output()
            .unwrap();
        // The literal name is not a valid host (exit 2, located) or plans as written: either way
        // the text is the file's, never the environment's.
        assert!(matches!(plan.status.code(), Some(0 | 2)), "{}", text(&plan));
        let p = text(&plan).to_ascii_lowercase();
        assert!(!p.contains("s3cr3t-token"), "{what}: a secret was rendered: {p}");
        assert!(p.contains("env.ci_token}}") || p.contains("env.ci_token }}"), "{what}: the literal text is kept: {p}");
    }
}

#[test]
fn a_huge_or_invalid_backoff_is_a_located_validation_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["1e300", "0.5", "11", ".nan", ".inf"] {
        let suite = write(
            dir.path(),
            "s.yaml",
            &format!(
                "netspec: 1\nname: p\nscenarios:\n  - name: sc\n    checks:\n      - name: c\n        tcp: {{ host: 127.0.0.1, port: 9 }}\n        retry: {{ attempts: 3, delay: 100ms, backoff: {bad} }}\n"
            ),
        );
        let o = run(&["validate", s(&suite)]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("s.yaml:8:54") && e.contains("from 1 to 10") && e.contains("hint:"), "{bad}: {e}");
    }
}
