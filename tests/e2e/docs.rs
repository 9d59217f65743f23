//! The knob tables are tested against the code: every flag and environment variable a binary
//! reads (as its own `--help` says, through every subcommand), every variable peer-dns's
//! configuration asks for, every `aws` profile delay, and every chaos scenario has its row in
//! the page a user reads. A new knob without a row fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use steadfast_sandbox::paths::built_bin;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn page(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `bin <path...> --help`.
fn help(bin: &std::path::Path, path: &[String]) -> String {
    let out = Command::new(bin).args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "{} {path:?} --help: {out:?}", bin.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The visible subcommands a help text lists (its `Commands:` section), without `help`.
fn subcommands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every long flag (but `--help` and `--version`) and every `[env: NAME=...]` a help text shows.
fn knobs(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut flags = BTreeSet::new();
    let mut envs = BTreeSet::new();
    for l in text.lines() {
        let t = l.trim_start();
        let t = t
            .strip_prefix("-")
            .and_then(|r| r.split_once(", ").map(|(_, x)| x))
            .unwrap_or(t);
        if let Some(rest) = t.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() && name != "help" && name != "version" {
                flags.insert(format!("--{name}"));
            }
        }
        let mut s = l;
        while let Some(i) = s.find("[env: ") {
            let rest = &s[i + 6..];
            let name: String = rest.chars().take_while(|c| *c != '=' && *c != ']').collect();
            envs.insert(name);
            s = rest;
        }
    }
    (flags, envs)
}

/// Every flag and variable of `bin` and its subcommands, walked through its help.
fn walk(bin: &std::path::Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut flags = BTreeSet::new();
    let mut envs = BTreeSet::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let text = help(bin, &path);
        let (f, e) = knobs(&text);
        flags.extend(f);
        envs.extend(e);
        for sub in subcommands(&text) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
    }
    (flags, envs)
}

fn missing(pages: &str, names: &BTreeSet<String>) -> Vec<String> {
    names
        .iter()
        .filter(|n| !pages.contains(&format!("`{n}`")) && !pages.contains(&format!("`{n} ")))
        .cloned()
        .collect()
}

#[test]
fn every_flag_and_variable_of_each_binary_has_its_row() {
    for (bin, pages) in [
        ("node-bootstrap", vec!["docs/node-bootstrap.md"]),
        ("sandbox", vec!["docs/sandbox.md", "docs/chaos.md"]),
        ("steadfast", vec!["docs/operations.md"]),
    ] {
        let exe = built_bin(bin).unwrap_or_else(|e| panic!("{bin}: {e} (cargo test --workspace builds it)"));
        let (flags, envs) = walk(&exe);
        assert!(flags.len() > 3, "{bin}: the help was read ({flags:?})");
        let text: String = pages.iter().map(|p| page(p)).collect();
        let gone: Vec<String> = missing(&text, &flags)
            .into_iter()
            .chain(missing(&text, &envs))
            .collect();
        assert!(gone.is_empty(), "{bin}: no row in {pages:?} for {gone:?}");
    }
}

#[test]
fn every_peer_dns_variable_has_its_row() {
    let asked = std::cell::RefCell::new(BTreeSet::new());
    // Valid values for the required ones, so that every variable is asked for.
    let _ = peer_dns::config::Config::from_lookup(|k| {
        asked.borrow_mut().insert(k.to_string());
        match k {
            "STEADFAST_CLUSTER" => Some("main".into()),
            "STEADFAST_DOMAIN" => Some("etcd.internal".into()),
            "STEADFAST_HOSTED_ZONE_ID" => Some("Z0123456789".into()),
            _ => None,
        }
    })
    .unwrap();
    let asked = asked.into_inner();
    assert!(asked.len() >= 7, "{asked:?}");
    let gone = missing(&page("docs/peer-dns.md"), &asked);
    assert!(gone.is_empty(), "docs/peer-dns.md has no row for {gone:?}");
}

#[test]
fn every_aws_delay_and_every_scenario_has_its_row() {
    let chaos = page("docs/chaos.md");
    let knobs: BTreeSet<String> = steadfast_sandbox::profile::Profile::named("aws")
        .unwrap()
        .knobs
        .iter()
        .map(|k| k.env.to_string())
        .collect();
    assert_eq!(knobs.len(), 7);
    let gone = missing(&chaos, &knobs);
    assert!(gone.is_empty(), "docs/chaos.md has no row for {gone:?}");
    // One row per scenario, in the order `sandbox chaos all` runs them.
    let rows: Vec<&str> = chaos
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|n| steadfast_sandbox::chaos::scenarios::parse(n).is_ok())
        .collect();
    assert_eq!(
        rows,
        steadfast_sandbox::chaos::scenarios::names(steadfast_sandbox::chaos::scenarios::ALL)
    );
    // The sandbox's own variables, whether a flag reads them or not.
    let sandbox = page("docs/sandbox.md");
    let own: BTreeSet<String> = [steadfast_sandbox::config::env_vars::NAME, "STEADFAST_VENV"]
        .into_iter()
        .map(String::from)
        .collect();
    let gone = missing(&sandbox, &own);
    assert!(gone.is_empty(), "docs/sandbox.md has no row for {gone:?}");
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = page("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 260, "README.md has {lines} lines: the rest belongs in docs/");
    for first in ["make sandbox", "make test"] {
        assert!(readme.contains(first), "{first}");
    }
    // Every page it points at exists.
    for l in readme.split("](").skip(1) {
        let target = l.split(')').next().unwrap_or_default();
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        assert!(
            root().join(target).exists(),
            "README.md links to {target}, which is not there"
        );
    }
}
