//! The project's own commands, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — formatting, clippy with warnings denied, the tests, the docs with warnings
//!   denied, the examples' contract, packaging, semver, and the instructions per call against the raw clients.
//! - `examples`: the examples' contract alone (see `check_examples`).
//! - `soak`: 100,000 mixed operations through both adapters against the emulator binary with 1% random faults,
//!   checked against the emulator's ledger (see `tests/src/bin/soak.rs`).
//! - `sim [--seeds N] [--from S] | --seed S`: the deterministic simulation (`crates/sendkit-sim`): N seeded fault
//!   schedules through both drivers, checked against the simulated API's ledger; `--seed S` replays one.
//! - `fuzz --seconds N`: each cargo-fuzz target for N seconds (installs cargo-fuzz when missing).
//! - `bench`: proto's micro benchmarks, then the end-to-end table (sendkit against raw ureq and hyper, Python
//!   requests and curl), the bulk table (2,000 cancels at 20 ms a call, concurrency 64, against the physical
//!   limit), the fleet sharing one key (in simulated time, then real processes behind the emulator's limiter and
//!   nginx's), instructions per call when valgrind is installed, then the dependency weight of each crate. The
//!   tables it prints go into BENCHMARKS.md, between its `bench:` markers. Timing is for people to read: CI never
//!   depends on it.
//! - `weight [--clean-builds] [--write]`: crates in each library crate's dependency tree (and, with the flag, its
//!   clean release build time); checks that model and proto stay free of tokio, hyper, ureq and TLS, that the two
//!   clients never depend on each other, and that the figures README.md and BENCHMARKS.md quote are these
//!   (`--write` puts them there).
//! - `msrv`: every crate the published crates build with declares a `rust-version` no newer than ours.
//! - `semver`: `cargo semver-checks` of the publishable library crates against the last release's tag (installs
//!   the tool when missing).
//! - `ab BEFORE AFTER [--pairs 20] [--rounds 40] [--only WORD] [--row NAME]`: two builds of `sendkit-bench` run in
//!   turn, pair after pair, and the mean of their paired ratios' differences with its standard error (see `ab.rs`).

mod ab;
mod figures;

use std::path::{Path, PathBuf};

use figures::Docs;
use std::process::{Child, Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: cargo xtask <ci | examples | sim [--seeds N] [--from S] | sim --seed S | soak [--ops N] [--concurrency N] \
     [--threads N] | fuzz [--seconds N] | bench | weight [--clean-builds] [--write] | msrv | semver | ab BEFORE AFTER \
     [--pairs 20] [--rounds 40] [--only WORD] [--row NAME]>";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        Some("ci") => ci(),
        Some("examples") => check_examples(),
        Some("soak") => soak(std::env::args().skip(2).collect()),
        Some("sim") => sim(std::env::args().skip(2).collect()),
        Some("fuzz") => fuzz(std::env::args().skip(2).collect()),
        Some("bench") => bench(std::env::args().skip(2).collect()),
        Some("weight") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            let docs = if args.iter().any(|a| a == "--write") { Docs::Write } else { Docs::Check };
            weight(args.iter().any(|a| a == "--clean-builds"), docs)
        }
        Some("msrv") => figures::msrv(),
        Some("semver") => figures::semver(),
        Some("ab") => ab::ab(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Where cargo puts what it builds: `target/`, or wherever `CARGO_TARGET_DIR` (or a cargo config) says.
fn target_dir() -> Result<PathBuf, String> {
    // Asked of cargo once a run: it cannot change while xtask runs, and `ci` needs it at every stage.
    static TARGET: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    TARGET.get_or_init(ask_cargo_for_target_dir).clone()
}

fn ask_cargo_for_target_dir() -> Result<PathBuf, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cargo metadata: {err}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The one field needed, without a JSON parser in xtask: paths are JSON strings, so `"` and `\` are escaped.
    let start = text.find("\"target_directory\":\"").ok_or("cargo metadata: no target_directory")? + 20;
    let mut path = String::new();
    let mut chars = text[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(PathBuf::from(path)),
            '\\' => path.extend(chars.next()),
            c => path.push(c),
        }
    }
    Err("cargo metadata: unterminated target_directory".into())
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs `command`, streaming its output; fails naming `what` if it fails.
fn step(what: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {what}");
    let status = command.status().map_err(|err| format!("{what}: cannot run: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Runs `command` as [`step`] does, showing its output as it comes and keeping it.
fn measured(what: &str, command: &mut Command) -> Result<String, String> {
    use std::io::BufRead;
    eprintln!("xtask: == {what}");
    let mut child = command.stdout(Stdio::piped()).spawn().map_err(|err| format!("{what}: cannot run: {err}"))?;
    let mut kept = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|err| format!("{what}: reading its output: {err}"))?;
            println!("{line}");
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    let status = child.wait().map_err(|err| format!("{what}: {err}"))?;
    if status.success() {
        Ok(kept)
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The deterministic simulation, as `sendkit-sim` takes its arguments (100,000 seeds unless told).
fn sim(args: Vec<String>) -> Result<(), String> {
    step("simulation", cargo().args(["run", "--quiet", "-p", "sendkit-sim", "--"]).args(args))
}

/// Whether this runs on a CI machine (`CI` set, as `.ci/run` and hosted CI services set it): a clean clone whose
/// builds no later run reuses, on a disk that may hold only a few GB.
fn on_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// On a CI machine, removes what the steps so far built under the target directory (`parts` of it) once no later
/// step needs it, so that the run's peak disk use is its largest step's, not the sum of them all.
fn free_on_ci(parts: &[&str]) {
    if !on_ci() {
        return;
    }
    let Ok(target) = target_dir() else { return };
    for part in parts {
        let path = target.join(part);
        if path.exists() {
            let _ = std::fs::remove_dir_all(&path);
            eprintln!("xtask: (CI) removed {} to leave the disk to the next steps", path.display());
        }
    }
}

fn ci() -> Result<(), String> {
    if on_ci() {
        // Nothing here is built again in this run: incremental caches and debug info (a fifth and half of what
        // the run wrote) only fill the disk. A CI run once ran out of space linking the tests.
        for (name, value) in
            [("CARGO_INCREMENTAL", "0"), ("CARGO_PROFILE_DEV_DEBUG", "false"), ("CARGO_PROFILE_RELEASE_DEBUG", "false")]
        {
            if std::env::var_os(name).is_none() {
                std::env::set_var(name, value);
            }
        }
    }
    step("format", cargo().args(["fmt", "--all", "--check"]))?;
    step("clippy", cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // What clippy checked is metadata the tests' build does not use.
    free_on_ci(&["debug"]);
    step("tests", cargo().args(["test", "--workspace"]))?;
    sim(vec!["--seeds".into(), "100000".into()])?;
    step("docs", cargo().args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))?;
    weight(false, Docs::Check)?;
    figures::msrv()?;
    // Each TLS and tracing choice of the adapters builds on its own, warnings denied.
    let choices: [(&str, &[&[&str]]); 2] = [
        (
            "sendkit-ureq",
            &[
                &["--no-default-features"],
                &["--no-default-features", "--features", "platform-roots,ring"],
                &["--no-default-features", "--features", "webpki-roots,aws-lc-rs"],
                &["--features", "tracing"],
                &["--all-features"],
            ],
        ),
        (
            "sendkit-hyper",
            &[
                &["--no-default-features", "--features", "ring"],
                &["--no-default-features", "--features", "platform-roots,aws-lc-rs"],
                &["--features", "tracing"],
                &["--all-features"],
            ],
        ),
    ];
    // The client-only command line, without the emulator.
    step(
        "sendkit-cli --no-default-features",
        cargo().args(["clippy", "-p", "sendkit-cli", "--bins", "--no-default-features", "--", "-D", "warnings"]),
    )?;
    for (package, feature_sets) in choices {
        for features in feature_sets {
            step(
                &format!("{package} {}", features.join(" ")),
                cargo().args(["clippy", "-p", package, "--lib"]).args(*features).args(["--", "-D", "warnings"]),
            )?;
        }
    }
    check_examples()?;
    free_on_ci(&["debug"]);
    forget_packaged_sources();
    step(
        "package the library crates",
        cargo().args(["package", "--workspace", "--exclude", "sendkit-tests", "--exclude", "xtask", "--allow-dirty"]),
    )?;
    free_on_ci(&["debug", "package"]);
    figures::semver()?;
    free_on_ci(&["semver-checks"]);
    // Instructions and code run per call against the raw clients, counted under valgrind: the same from run to
    // run, so the hot path's cost is guarded where a timed test would flake.
    step(
        "instructions and code per call against raw hyper and ureq",
        cargo().args(["run", "--release", "--quiet", "-p", "sendkit-bench", "--", "--instructions-guard"]),
    )?;
    free_on_ci(&["release"]);
    Ok(())
}

/// `cargo package` verifies each crate against the others from a temporary registry, and caches those in
/// `$CARGO_HOME/registry/cache/<hash of that registry's path>/` and `registry/src/<same>/` once per name and
/// version: a later run from the same folder would verify against the crates of an earlier one. No crate named
/// `sendkit-*` comes from crates.io, so every cached copy of one is such a leftover, and is removed. So are the
/// fingerprints of our crates' builds, which cargo deems fresh for a registry crate of the same name and version
/// whatever its content (our own crates then rebuild once; nothing else does).
fn forget_packaged_sources() {
    if let Ok(target) = target_dir() {
        let _ = std::fs::remove_dir_all(target.join("package"));
        if let Ok(fingerprints) = std::fs::read_dir(target.join("debug").join(".fingerprint")) {
            for fingerprint in fingerprints.flatten() {
                if fingerprint.file_name().to_string_lossy().starts_with("sendkit-") {
                    let _ = std::fs::remove_dir_all(fingerprint.path());
                }
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(home) = home else { return };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else { continue };
        for registry in registries.flatten() {
            let Ok(crates) = std::fs::read_dir(registry.path()) else { continue };
            for cached in crates.flatten() {
                if cached.file_name().to_string_lossy().starts_with("sendkit-") {
                    let path = cached.path();
                    let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                }
            }
        }
    }
}

/// The examples are a contract other programs rely on:
/// - with no `SENDKIT_API_KEY`, they run against the in-process emulator, print the cancelled job and the error
///   of a second cancel, and exit 0;
/// - with a key, they cancel the given job at `SENDKIT_BASE_URL`, print it as JSON and exit 0, or print the error
///   and exit 1; never printing the key.
fn check_examples() -> Result<(), String> {
    // The whole workspace, so that features unify as for the tests and nothing is built twice.
    step("build examples and emulator", cargo().args(["build", "--workspace", "--examples", "--bins"]))?;
    let target = target_dir()?.join("debug");
    let examples = [target.join("examples").join("cancel_job"), target.join("examples").join("cancel_job_async")];
    for example in &examples {
        let name = example.file_name().and_then(|n| n.to_str()).unwrap_or("example").to_owned();
        eprintln!("xtask: == {name} against the embedded emulator");
        let output = run(Command::new(example).env_remove("SENDKIT_API_KEY").env_remove("SENDKIT_BASE_URL"))?;
        expect(
            &name,
            &output,
            true,
            &[
                "cancelled job: {",
                "\"status\": \"cancelled\"",
                "second cancel, refused as it should be: cancel_job ",
                ": HTTP 400 VALIDATION_ERROR: Job cannot be cancelled in status \"cancelled\"",
            ],
        )?;
    }
    // The workflow examples run against the emulator they start themselves, and must succeed.
    for (example, needle) in [
        ("enrich_wait_report", "completed"),
        ("bring_your_own_agent", "job_1 is cancelled"),
        ("tcp_stream", "job_1 is cancelled"),
        ("cancel_many", "6 of 13 cancelled"),
        ("bring_your_own_client", "job_1 is cancelled"),
        ("telemetry", "\"http.response.status_code\":503"),
    ] {
        eprintln!("xtask: == {example}");
        let output = run(Command::new(target.join("examples").join(example)).env_remove("SENDKIT_API_KEY"))?;
        expect(example, &output, true, &[needle])?;
    }
    let key = "sk_test_xtask_secret_1234";
    let mut emulator = Emulator::start(&target.join("sendkit-mock"), key, &[])?;
    for example in &examples {
        let name = example.file_name().and_then(|n| n.to_str()).unwrap_or("example").to_owned();
        eprintln!("xtask: == {name} against the emulator binary");
        let with_key = |job: &str| {
            run(Command::new(example).arg(job).env("SENDKIT_API_KEY", key).env("SENDKIT_BASE_URL", &emulator.base_url))
        };
        let job = emulator.create_job(key)?;
        let output = with_key(&job)?;
        expect(&name, &output, true, &[&format!("\"id\": \"{job}\""), "\"status\": \"cancelled\""])?;
        one_json_object(&name, &output.stdout)?;
        let output = with_key(&job)?;
        expect(&name, &output, false, &["HTTP 400 VALIDATION_ERROR", "\"cancelled\""])?;
        for out in [&output.stdout, &output.stderr] {
            if String::from_utf8_lossy(out).contains(key) {
                return Err(format!("{name} printed the API key"));
            }
        }
    }
    emulator.stop();
    Ok(())
}

fn run(command: &mut Command) -> Result<Output, String> {
    command.output().map_err(|err| format!("cannot run {command:?}: {err}"))
}

/// Checks the exit code and that stdout and stderr together hold every one of `needles`.
fn expect(name: &str, output: &Output, success: bool, needles: &[&str]) -> Result<(), String> {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let code_ok = output.status.success() == success && (success || output.status.code() == Some(1));
    let missing: Vec<&&str> = needles.iter().filter(|needle| !text.contains(**needle)).collect();
    // What a person reads is never a Debug dump.
    if let Some(dump) = ["Some(", "None", "Transport {", "(s)"].iter().find(|dump| text.contains(**dump)) {
        return Err(format!("{name}: printed {dump:?}, which a person should not have to read:\n{text}"));
    }
    if code_ok && missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: exit {:?}, missing {missing:?} in:\n{text}", output.status.code()))
    }
}

/// Stdout of a successful cancel must be one JSON object and nothing else.
fn one_json_object(name: &str, stdout: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(stdout);
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && trimmed.ends_with('}')
        && trimmed.matches('{').count() == trimmed.matches('}').count()
    {
        Ok(())
    } else {
        Err(format!("{name}: stdout is not one JSON object:\n{text}"))
    }
}

/// The emulator binary on a free port, for the examples to talk to.
struct Emulator {
    child: Child,
    base_url: String,
}

impl Emulator {
    fn start(binary: &Path, key: &str, extra: &[&str]) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|err| format!("no free port: {err}"))?
            .port();
        let child = Command::new(binary)
            .args(["--addr", &format!("127.0.0.1:{port}"), "--api-key", key])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot start the emulator: {err}"))?;
        let emulator = Self { child, base_url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the emulator did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(emulator)
    }

    /// Sends one raw HTTP/1.1 request and returns the whole answer: xtask needs no HTTP client for this.
    fn request(&self, method: &str, path: &str, key: &str, body: &str) -> Result<String, String> {
        use std::io::{Read, Write};
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).map_err(|err| format!("{path}: {err}"))?;
        stream.write_all(request.as_bytes()).map_err(|err| format!("{path}: {err}"))?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|err| format!("{path}: {err}"))?;
        Ok(answer)
    }

    /// Creates a job with a raw enrich request, so that the examples' own client is not what sets the test up.
    fn create_job(&self, key: &str) -> Result<String, String> {
        let body = r#"{"leadIds":["507f1f77bcf86cd799439011"],"enrichmentTypes":["email"]}"#;
        let answer = self.request("POST", "/v1/enrichment/enrich", key, body)?;
        let start = answer.find("\"jobId\":\"").ok_or_else(|| format!("enrich answered {answer}"))? + 9;
        let end = answer[start..].find('"').ok_or_else(|| format!("enrich answered {answer}"))?;
        Ok(answer[start..start + end].to_owned())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Faults the soak arms: four kinds, each on a quarter of one percent of requests, 1% in all.
const SOAK_FAULTS: [&str; 4] = [
    r#"{"status": 503, "headers": {"content-type": "text/html"}, "body": "<html>busy</html>", "fraction": 0.0025}"#,
    r#"{"kind": "reset", "fraction": 0.0025}"#,
    r#"{"kind": "lose_answer", "fraction": 0.0025}"#,
    r#"{"status": 429, "headers": {"retry-after": "0"}, "fraction": 0.0025}"#,
];

fn soak(args: Vec<String>) -> Result<(), String> {
    step(
        "build the emulator and the soak (release)",
        cargo().args(["build", "--release", "-p", "sendkit-mock", "-p", "sendkit-tests", "--bins"]),
    )?;
    let target = target_dir()?.join("release");
    let key = "sk_test_soak";
    let emulator = Emulator::start(&target.join("sendkit-mock"), key, &["--fault-seed", "20261128"])?;
    for fault in SOAK_FAULTS {
        let answer = emulator.request("POST", "/__sendkit_mock/faults", key, fault)?;
        if !answer.starts_with("HTTP/1.1 200") {
            return Err(format!("arming {fault}: {answer}"));
        }
    }
    step(
        "soak",
        Command::new(target.join("soak")).args(["--base-url", &emulator.base_url, "--api-key", key]).args(&args),
    )
}

fn fuzz(args: Vec<String>) -> Result<(), String> {
    let seconds = match args.as_slice() {
        [] => 60,
        [flag, n] if flag == "--seconds" => n.parse::<u64>().map_err(|e| format!("--seconds {n}: {e}"))?,
        _ => return Err(USAGE.to_owned()),
    };
    let installed = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        step("install cargo-fuzz", cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let fuzz_dir = root().join("fuzz");
    for target in ["parse_response", "retry_after", "job_id"] {
        // New inputs go to a scratch corpus; the committed seeds stay small and are only read.
        let scratch = target_dir()?.join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let seeds = fuzz_dir.join("corpus").join(target);
        step(
            &format!("fuzz {target} for {seconds} s"),
            cargo()
                .current_dir(&fuzz_dir)
                .args(["fuzz", "run", "-s", "none", target])
                .arg(&scratch)
                .arg(&seeds)
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                .arg("-print_final_stats=1"),
        )?;
    }
    Ok(())
}

fn bench(args: Vec<String>) -> Result<(), String> {
    step(
        "micro benchmarks (sendkit-proto, divan)",
        cargo().args(["bench", "-p", "sendkit-proto", "--bench", "proto"]),
    )?;
    step(
        "build the end-to-end bench and the sendkit command (release)",
        cargo().args(["build", "--release", "-p", "sendkit-bench", "-p", "sendkit-cli"]),
    )?;
    let binary = target_dir()?.join("release").join("sendkit-bench");
    let command = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command.args(args);
        command
    };
    let mut tables = Vec::new();
    let mut run = |title: &str, mut command: Command| -> Result<(), String> {
        let output = measured(title, &mut command)?;
        let line: Vec<String> = std::iter::once("sendkit-bench".into())
            .chain(command.get_args().map(|arg| arg.to_string_lossy().into_owned()))
            .collect();
        tables.push((format!("{title} (`{}`)", line.join(" ")), output));
        Ok(())
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("End to end, sendkit against the raw clients", command(&args))?;
    // The hot path's target (0.98 of the raw clients) is a few percent from the ratios measured: five rounds place a
    // paired median within about ±3%, a hundred within about ±1% (the bench prints where each median lies, with 95%
    // confidence).
    run("The hot path, paired over 100 rounds", command(&["--rounds", "100", "--server", "fixed", "--only", "hyper"]))?;
    run("The hot path, paired over 100 rounds", command(&["--rounds", "100", "--server", "fixed", "--only", "ureq"]))?;
    run("Bulk cancels at 20 ms a call", command(&["--bulk", "--rounds", "5"]))?;
    run("A fleet sharing one key, in simulated time", command(&["--fleet-model", "101"]))?;
    run("A fleet of sendkit processes sharing one key behind a rate limiter", command(&["--fleet", "3"]))?;
    // Instructions per call are steady where times are not (the bench says so and counts none without valgrind).
    run("Instructions per call, under valgrind", command(&["--instructions"]))?;
    figures::last_bench_in_docs(&root(), &tables)?;
    weight(false, Docs::Write)
}

/// The library crates, lightest first.
const LIBRARIES: [&str; 4] = ["sendkit-model", "sendkit-proto", "sendkit-ureq", "sendkit-hyper"];

/// Crates no sans-IO layer may pull in.
const IO_CRATES: [&str; 6] = ["tokio", "hyper", "hyper-util", "ureq", "rustls", "ring"];

fn weight(clean_builds: bool, docs: Docs) -> Result<(), String> {
    eprintln!("xtask: == weight");
    println!("| crate | crates in its dependency tree (itself included) | clean release build |");
    println!("| --- | ---: | ---: |");
    let mut counts = Vec::new();
    for package in LIBRARIES {
        let crates = tree(package, &[])?;
        if matches!(package, "sendkit-model" | "sendkit-proto") {
            if let Some(io) = IO_CRATES.iter().find(|io| crates.contains(**io)) {
                return Err(format!("{package} depends on {io}: the sans-IO layers must not"));
            }
        }
        // The two clients stand side by side on proto: neither may lean on the other.
        let other_client = match package {
            "sendkit-ureq" => Some("sendkit-hyper"),
            "sendkit-hyper" => Some("sendkit-ureq"),
            _ => None,
        };
        if let Some(other) = other_client.filter(|other| crates.contains(*other)) {
            return Err(format!("{package} depends on {other}: the two clients must not depend on each other"));
        }
        let build = if clean_builds {
            let target = target_dir()?.join("weight").join(package);
            let _ = std::fs::remove_dir_all(&target);
            let started = Instant::now();
            step(
                &format!("clean build of {package}"),
                cargo().args(["build", "--release", "-p", package]).arg("--target-dir").arg(&target),
            )?;
            format!("{:.1} s", started.elapsed().as_secs_f64())
        } else {
            "(--clean-builds)".to_owned()
        };
        println!("| {package} | {} | {build} |", crates.len());
        counts.push((package.to_owned(), crates.len()));
    }
    // The command line, with the emulator (the default) and without.
    for (row, features) in
        [("sendkit-cli", &[][..]), ("sendkit-cli --no-default-features", &["--no-default-features"][..])]
    {
        let crates = tree("sendkit-cli", features)?;
        println!("| {row} | {} | |", crates.len());
        counts.push((row.to_owned(), crates.len()));
    }
    figures::weight_in_docs(&root(), &counts, docs)
}

/// The crates in `package`'s normal dependency tree, itself included.
fn tree(package: &str, features: &[&str]) -> Result<std::collections::BTreeSet<String>, String> {
    let output = run(cargo()
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .args(features))?;
    if !output.status.success() {
        return Err(format!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    Ok(tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect())
}
