//! The container and cluster recipes: the Dockerfile's shape (there is no Docker engine here:
//! the build steps themselves are exercised by hand, see docs/ci.md), the Kubernetes manifests
//! validated by `kubernetes-validate --strict` (schemas ship with the package: no network), the
//! CI recipes validated against the vendored GitHub/Azure/GitLab schemas of `check-jsonschema`,
//! and every netspec flag the recipes use checked against `netspec <command> --help`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::reports::{netspec, tool};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    v.sort();
    v
}

/// Dockerfile instructions: (keyword, arguments), continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (k, a) = cur.split_once(char::is_whitespace).unwrap_or((cur.as_str(), ""));
        out.push((k.to_ascii_uppercase(), a.trim().to_owned()));
        cur.clear();
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_static_and_non_root() {
    let text = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let ins = instructions(&text);
    let froms: Vec<usize> = ins.iter().enumerate().filter(|(_, (k, _))| k == "FROM").map(|(i, _)| i).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let (build, runtime) = (&ins[froms[0]..froms[froms.len() - 1]], &ins[froms[froms.len() - 1]..]);
    assert!(build[0].1.starts_with("rust:") && build[0].1.ends_with(" AS build"), "{:?}", build[0]);
    let run = build.iter().filter(|(k, _)| k == "RUN").map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(" ");
    assert!(run.contains("cargo build --release --locked"), "the README's release build: {run}");
    assert!(run.contains("+crt-static") && run.contains("ldd"), "a static binary, checked: {run}");
    for (k, a) in build.iter().filter(|(k, _)| k == "COPY") {
        for src in a.split_whitespace().rev().skip(1) {
            assert!(repo(src.trim_end_matches('/')).exists(), "{k} {a}: {src} is not in the repository");
        }
    }
    assert!(runtime[0].1.contains("distroless/static") || runtime[0].1.starts_with("scratch"), "minimal base: {:?}", runtime[0]);
    assert!(runtime.iter().any(|(k, a)| k == "COPY" && a.starts_with("--from=build ")), "the binary comes from the build stage");
    assert!(!runtime.iter().any(|(k, a)| k == "COPY" && a.contains("suites")), "suites are mounted at run time, not baked in");
    let user = runtime.iter().rev().find(|(k, _)| k == "USER").map(|(_, a)| a.clone()).expect("a USER in the final stage");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "0" && uid != "root" && !uid.is_empty(), "non-root USER, got {user}");
    let entry = runtime.iter().find(|(k, _)| k == "ENTRYPOINT").map(|(_, a)| a.clone()).expect("an ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry).expect("exec-form ENTRYPOINT");
    assert!(entry[0].ends_with("/netspec"), "{entry:?}");
    // Every file the crate embeds at build time must be in the build stage's context.
    let copied: Vec<String> = build
        .iter()
        .filter(|(k, _)| k == "COPY")
        .flat_map(|(_, a)| a.split_whitespace().rev().skip(1).map(|s| s.trim_end_matches('/').to_owned()).collect::<Vec<_>>())
        .collect();
    let include = regex::Regex::new(r#"include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)"#).unwrap();
    let mut stack = vec![repo("src")];
    let mut embedded = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                for c in include.captures_iter(&std::fs::read_to_string(&p).unwrap()) {
                    let target = p.parent().unwrap().join(&c[1]);
                    let target = target.canonicalize().unwrap_or_else(|_| panic!("{}: {} does not exist", p.display(), &c[1]));
                    let rel = target.strip_prefix(repo("").canonicalize().unwrap()).unwrap().to_owned();
                    let top = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
                    assert!(copied.contains(&top), "{} embeds {}, but the Dockerfile does not COPY {top}", p.display(), rel.display());
                    embedded += 1;
                }
            }
        }
    }
    assert!(embedded > 0, "the demo embeds the suites");
    let ignore = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "the build context leaves target/ out");
}

/// Every `--flag` of netspec `command` lines must be one `netspec <command> --help` lists.
fn check_flags(command: &str, args: &[String], file: &Path) {
    let help = netspec().args([command, "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap();
        let known =
            help.match_indices(flag).any(|(i, _)| !help[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-'));
        assert!(known, "{}: `netspec {command}` has no {flag}", file.display());
    }
}

fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    out.push(v);
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[test]
fn kubernetes_manifests_validate_and_use_real_flags() {
    let files = yaml_files("examples/kubernetes");
    assert!(files.len() >= 4, "{files:?}");
    let mut containers = 0;
    for f in &files {
        let v: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut all = Vec::new();
        walk(&v, &mut all);
        for c in all.iter().filter(|x| x.get("image").and_then(|i| i.as_str()).is_some_and(|i| i.starts_with("netspec:"))) {
            let args: Vec<String> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
            check_flags(&args[0], &args[1..], f);
            containers += 1;
        }
    }
    assert!(containers >= 3, "the Job, the DaemonSet and the collector run netspec");
    let Some(kv) = tool("kubernetes-validate", "pip install kubernetes-validate") else {
        return;
    };
    let out = Command::new(kv).arg("--strict").args(&files).output().unwrap();
    assert!(out.status.success(), "kubernetes-validate:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ci_recipes_validate_and_use_real_flags() {
    let recipes = [
        ("github-actions.yml", "vendor.github-workflows"),
        ("azure-pipelines.yml", "vendor.azure-pipelines"),
        ("gitlab-ci.yml", "vendor.gitlab-ci"),
    ];
    for (file, _) in recipes {
        let path = repo(&format!("examples/ci/{file}"));
        let v: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut all = Vec::new();
        walk(&v, &mut all);
        let mut commands = 0;
        for s in all.iter().filter_map(|x| x.as_str()) {
            let joined = s.replace("\\\n", " ");
            for line in joined.lines() {
                for command in ["run", "merge"] {
                    if let Some(rest) = line.split(&format!("netspec {command} ")).nth(1) {
                        let args: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                        check_flags(command, &args, &path);
                        commands += 1;
                    }
                }
            }
        }
        assert!(commands >= 2, "{file}: a run and a merge");
    }
    let Some(cj) = tool("check-jsonschema", "pip install check-jsonschema") else {
        return;
    };
    for (file, schema) in recipes {
        // The vendored schemas use regex syntax the default engine rejects.
        let out = Command::new(&cj)
            .args(["--regex-variant", "python", "--builtin-schema", schema])
            .arg(repo(&format!("examples/ci/{file}")))
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}
