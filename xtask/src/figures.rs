//! Figures the documents quote, checked against what the commands measure, and the MSRV the manifests declare,
//! checked against what the published crates build with.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Whether to check the documents' figures or write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Docs {
    /// Fail if a document quotes other figures than the measured ones (CI).
    Check,
    /// Put the measured figures in the documents (`--write`, and `cargo xtask bench`).
    Write,
}

const BEGIN: &str = "<!-- weight:begin (written by `cargo xtask weight --write`; CI fails if it drifts) -->\n";
const END: &str = "<!-- weight:end -->";

/// BENCHMARKS.md's weight table and README.md's "(N crates instead of M)" for the command line, from `counts`
/// (row name, crates in its tree).
pub fn weight_in_docs(root: &Path, counts: &[(String, usize)], docs: Docs) -> Result<(), String> {
    let count = |row: &str| counts.iter().find(|(name, _)| name == row).map(|(_, n)| *n).unwrap_or_default();
    let mut table =
        String::from("| crate | crates in its normal dependency tree (itself included) |\n| --- | ---: |\n");
    for (row, n) in counts {
        let row = match row.as_str() {
            "sendkit-cli" => "sendkit-cli (default: with `sendkit mock`, the emulator)",
            "sendkit-cli --no-default-features" => "sendkit-cli `--no-default-features` (client only)",
            other => other,
        };
        table.push_str(&format!("| {row} | {n} |\n"));
    }
    let cli = format!("({} crates instead of {})", count("sendkit-cli --no-default-features"), count("sendkit-cli"));
    let mut stale = Vec::new();
    let benchmarks = root.join("BENCHMARKS.md");
    let text = read(&benchmarks)?;
    let Some(updated) = between_markers(&text, BEGIN, END, &table) else {
        return Err(format!("{}: no weight table between its markers ({END})", benchmarks.display()));
    };
    if updated != text {
        stale.push((benchmarks, updated));
    }
    let readme = root.join("README.md");
    let text = read(&readme)?;
    let Some(at) = text.find(" crates instead of ") else {
        return Err(format!("{}: no \"(N crates instead of M)\" for the command line", readme.display()));
    };
    let open = text[..at].rfind('(').unwrap_or(at);
    let close = text[at..].find(')').map_or(text.len(), |i| at + i + 1);
    let updated = format!("{}{cli}{}", &text[..open], &text[close..]);
    if updated != text {
        stale.push((readme, updated));
    }
    for (path, updated) in stale {
        match docs {
            Docs::Write => {
                std::fs::write(&path, updated).map_err(|err| format!("{}: {err}", path.display()))?;
                eprintln!("xtask: wrote the weight figures in {}", path.display());
            }
            Docs::Check => {
                return Err(format!(
                    "{} quotes other dependency counts than `cargo tree` gives today: run `cargo xtask weight --write`",
                    path.display()
                ))
            }
        }
    }
    Ok(())
}

const BENCH_BEGIN: &str = "<!-- bench:begin (written by `cargo xtask bench`: the tables of its last run) -->\n";
const BENCH_END: &str = "<!-- bench:end -->";

/// BENCHMARKS.md's tables of the last `cargo xtask bench`, between its `bench:` markers: each (title, what the
/// command printed), under the day it ran.
pub fn last_bench_in_docs(root: &Path, tables: &[(String, String)]) -> Result<(), String> {
    let path = root.join("BENCHMARKS.md");
    let text = read(&path)?;
    let day = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|day| !day.is_empty())
        .unwrap_or_else(|| "a day not known".to_owned());
    let mut written = format!("Run on {day}.\n");
    for (title, output) in tables {
        written.push_str(&format!("\n### {title}\n\n{}\n", output.trim_end()));
    }
    let Some(updated) = between_markers(&text, BENCH_BEGIN, BENCH_END, &written) else {
        return Err(format!("{}: no place for the bench's tables between its markers ({BENCH_END})", path.display()));
    };
    std::fs::write(&path, updated).map_err(|err| format!("{}: {err}", path.display()))?;
    eprintln!("xtask: wrote the bench's tables in {}", path.display());
    Ok(())
}

/// `text` with what lies between the markers `begin` and `end` (which stay) replaced by `body`; `None` when
/// either marker is missing.
fn between_markers(text: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let start = text.find(begin)? + begin.len();
    let stop = start + text[start..].find(end)?;
    Some(format!("{}{body}{}", &text[..start], &text[stop..]))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))
}

/// Every crate the publishable crates build with (normal and build dependencies, as the workspace resolves them)
/// declares a `rust-version` no newer than the workspace's, or none: the MSRV we declare is one the dependencies
/// allow. (The toolchain here is the only one that can be fetched, so our own code's MSRV is held by clippy's
/// `incompatible_msrv`, which reads the same `rust-version`, and by edition 2021 with no newer syntax.)
pub fn msrv() -> Result<(), String> {
    eprintln!("xtask: == msrv");
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|err| format!("cargo metadata: {err}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|err| format!("cargo metadata: {err}"))?;
    let packages: HashMap<&str, &serde_json::Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|package| Some((package["id"].as_str()?, package)))
        .collect();
    let members: BTreeSet<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(|id| id.as_str()).collect();
    // Published: a member whose `publish` is not `false` (an empty list).
    let published: Vec<&str> = members
        .iter()
        .copied()
        .filter(|id| {
            packages.get(id).is_some_and(|package| package["publish"].as_array().is_none_or(|to| !to.is_empty()))
        })
        .collect();
    let ours = published
        .first()
        .and_then(|id| packages[id]["rust_version"].as_str())
        .ok_or("the published crates declare no rust-version")?;
    let nodes: HashMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|node| Some((node["id"].as_str()?, node)))
        .collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = published.clone();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes.get(id).and_then(|node| node["deps"].as_array()).into_iter().flatten() {
            // Normal and build dependencies: what a user's build compiles; never dev-dependencies.
            let used =
                dep["dep_kinds"].as_array().into_iter().flatten().any(|kind| kind["kind"].as_str() != Some("dev"));
            if let (true, Some(pkg)) = (used, dep["pkg"].as_str()) {
                todo.push(pkg);
            }
        }
    }
    // `1.85` is `1.85.0`.
    let version = |text: &str| -> [u64; 3] {
        let mut parts = text.split('.').map(|part| part.parse().unwrap_or(0));
        [(); 3].map(|()| parts.next().unwrap_or(0))
    };
    let newer: Vec<String> = seen
        .iter()
        .filter_map(|id| {
            let package = packages.get(id)?;
            let needs = package["rust_version"].as_str()?;
            if version(needs) <= version(ours) {
                return None;
            }
            let (name, version) = (package["name"].as_str()?, package["version"].as_str()?);
            Some(format!("{name} {version} needs Rust {needs}"))
        })
        .collect();
    if !newer.is_empty() {
        return Err(format!("the published crates declare rust-version {ours}, but build with: {}", newer.join("; ")));
    }
    eprintln!("xtask: {} crates built by the published ones, none needs a Rust newer than {ours}", seen.len());
    Ok(())
}

/// The last release the public API is held to: its tag, and the commit the tag names (for a clone that did not
/// fetch tags).
const RELEASED: (&str, &str) = ("v0.1.0", "9886b8e7a1178696c6b8b7f6367d6197a30c8220");

/// The version of cargo-semver-checks CI installs when it is missing.
const SEMVER_CHECKS: &str = "0.51.0";

/// `cargo semver-checks` over the publishable library crates against the last release: a change that breaks
/// their users fails unless the versions say so. Installs the tool when it is missing (crates.io only).
pub fn semver() -> Result<(), String> {
    eprintln!("xtask: == semver against {}", RELEASED.0);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(crate::root())
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let baseline = if git(&["rev-parse", "--verify", "--quiet", &format!("{}^{{commit}}", RELEASED.0)]).is_some() {
        RELEASED.0
    } else if git(&["cat-file", "-e", &format!("{}^{{commit}}", RELEASED.1)]).is_some() {
        RELEASED.1
    } else if git(&["rev-parse", "--is-shallow-repository"]).is_some_and(|o| o.stdout.starts_with(b"true")) {
        // A shallow clone holds no history to compare with: said, not passed in silence.
        eprintln!(
            "xtask: NOTE: semver check skipped: this clone is shallow and holds neither {} nor its commit",
            RELEASED.0
        );
        return Ok(());
    } else {
        return Err(format!(
            "semver: neither the tag {} nor its commit {} is in this repository",
            RELEASED.0, RELEASED.1
        ));
    };
    let cargo = crate::cargo;
    let installed = cargo().args(["semver-checks", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        crate::step(
            "install cargo-semver-checks",
            cargo().args(["install", "cargo-semver-checks", "--locked", "--version", SEMVER_CHECKS]),
        )?;
    }
    crate::step(
        &format!("cargo semver-checks against {baseline}"),
        cargo().args(["semver-checks", "--workspace", "--baseline-rev", baseline]),
    )
}
