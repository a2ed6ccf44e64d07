//! The real `sendkit` binary against the emulator on a free loopback port: outputs, exit codes, configuration.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sendkit_mock::{MockServer, Progress};
use sendkit_ureq::model::{Job, JobStatus, JobType};

const KEY: &str = "sk_test_cli_S3CRET_0042";

fn emulator() -> MockServer {
    let server = MockServer::builder()
        .api_key(KEY)
        .system_clock()
        .progress(Progress::new(Duration::from_millis(50), 200))
        .start()
        .unwrap();
    for (id, status) in [
        ("pending_1", JobStatus::Pending),
        ("processing_1", JobStatus::Processing),
        ("completed_1", JobStatus::Completed),
    ] {
        server.insert_job(Job::new(id, JobType::EmailVerification, status));
    }
    server
}

/// `sendkit ARGS` for `server`, with a clean environment but for the tool's variables, every stream piped.
fn command(server: &MockServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendkit"));
    command
        .args(args)
        .env_clear()
        .env("SENDKIT_API_KEY", KEY)
        .env("SENDKIT_BASE_URL", server.base_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `sendkit ARGS` against `server`, run to its end with `stdin` as its input.
fn sendkit(server: &MockServer, args: &[&str], stdin: &str) -> Output {
    let mut child = command(server, args).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert!(!out.contains(KEY) && !err.contains(KEY), "the key was printed:\n{out}\n{err}");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every `--json` line, each checked to hold the same keys, whatever its outcome: one parser reads them all.
fn records(output: &Output) -> Vec<serde_json::Value> {
    const KEYS: [&str; 10] =
        ["code", "error", "httpStatus", "job", "jobId", "mayHaveTakenEffect", "message", "ok", "outcome", "requestId"];
    let lines: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).expect("JSON per line")).collect();
    for line in &lines {
        let keys: Vec<&str> = line.as_object().expect("an object per line").keys().map(String::as_str).collect();
        assert_eq!(keys, KEYS, "{line}");
        assert!(line["jobId"].is_string(), "{line}");
    }
    lines
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn cancel_one() {
    let server = emulator();
    let output = sendkit(&server, &["cancel", "pending_1"], "");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "pending_1 cancelled\n");
    assert_eq!(text(&output.stderr), "cancelled 1 of 1 job\n");
    assert_eq!(server.job("pending_1").unwrap().status, JobStatus::Cancelled);
}

#[test]
fn cancel_many_from_stdin_with_finished_and_missing_jobs() {
    let server = emulator();
    let output = sendkit(
        &server,
        &["cancel", "-", "--concurrency", "2", "--json"],
        "pending_1\n\nprocessing_1\ncompleted_1\nmissing\n",
    );
    assert_eq!(code(&output), 4, "not found outranks already finished: {}", text(&output.stderr));
    // One line per job, one shape: the API's job inside when cancelled, the server's answer when not.
    let lines = records(&output);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let failures: Vec<&serde_json::Value> = lines.iter().filter(|line| line["ok"] == false).collect();
    let completed = failures.iter().find(|line| line["jobId"] == "completed_1").expect("a line for completed_1");
    assert_eq!(completed["outcome"], "not_cancellable");
    assert_eq!(completed["httpStatus"], 400);
    assert_eq!(completed["code"], "VALIDATION_ERROR");
    assert_eq!(completed["message"], "Job cannot be cancelled in status \"completed\"");
    assert_eq!(completed["mayHaveTakenEffect"], false);
    assert!(completed["requestId"].as_str().is_some_and(|id| id.starts_with("req_")));
    let missing = failures.iter().find(|line| line["jobId"] == "missing").expect("a line for missing");
    assert_eq!(
        (&missing["outcome"], &missing["httpStatus"]),
        (&serde_json::json!("not_found"), &serde_json::json!(404))
    );
    let mut cancelled: Vec<String> = lines
        .iter()
        .filter(|line| line["outcome"] == "cancelled")
        .map(|line| {
            let job: Job = serde_json::from_value(line["job"].clone()).expect("the API's job");
            assert_eq!(job.status, JobStatus::Cancelled);
            assert_eq!(line["jobId"], job.id.as_str());
            job.id
        })
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, ["pending_1", "processing_1"]);
    let errors = text(&output.stderr);
    assert!(
        errors.contains(
            "cancel_job completed_1: HTTP 400 VALIDATION_ERROR: Job cannot be cancelled in status \"completed\""
        ),
        "{errors}"
    );
    assert!(errors.contains("cancel_job missing: HTTP 404 NOT_FOUND: Job not found or expired"), "{errors}");
    assert!(errors.ends_with("cancelled 2 of 4 jobs; 1 already finished; 1 not found\n"), "{errors}");
}

#[test]
fn cancel_of_finished_jobs_alone_exits_3() {
    let server = emulator();
    let output = sendkit(&server, &["cancel", "completed_1"], "");
    assert_eq!(code(&output), 3);
    assert!(text(&output.stdout).is_empty());
}

#[test]
fn get_prints_the_apis_object_or_a_readable_job() {
    let server = emulator();
    let output = sendkit(&server, &["get", "processing_1", "--json"], "");
    assert_eq!(code(&output), 0);
    let line = &records(&output)[0];
    assert_eq!((&line["outcome"], &line["ok"]), (&serde_json::json!("found"), &serde_json::json!(true)));
    let job: Job = serde_json::from_value(line["job"].clone()).unwrap();
    assert_eq!(job, server.job("processing_1").unwrap());
    let output = sendkit(&server, &["get", "processing_1"], "");
    let shown = text(&output.stdout);
    assert!(
        shown.starts_with("id:        processing_1\ntype:      email_verification\nstatus:    processing\n"),
        "{shown}"
    );
    assert!(!shown.contains("Some(") && !shown.contains("None"), "{shown}");
}

#[test]
fn enrich_and_wait() {
    let server = emulator();
    let output = sendkit(
        &server,
        &[
            "enrich",
            "--lead",
            "507f1f77bcf86cd799439011,507f1f77bcf86cd799439012",
            "--type",
            "email",
            "--type",
            "segGateway",
            "--wait",
            "--poll",
            "0.05",
            "--json",
        ],
        "",
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    // One shape: a line per created job, the one its wait ended with.
    let lines = records(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!((&line["outcome"], &line["ok"]), (&serde_json::json!("finished"), &serde_json::json!(true)));
        assert_eq!(line["job"]["status"], "completed");
        assert_eq!(line["job"]["metadata"]["processedItems"], 2);
        assert_eq!(line["jobId"], line["job"]["id"]);
    }
    // Without --wait, a line per created job in the same shape.
    let created = sendkit(&server, &["enrich", "--lead", "507f1f77bcf86cd799439011", "--type", "email", "--json"], "");
    let lines = records(&created);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (&lines[0]["outcome"], &lines[0]["job"]["status"]),
        (&serde_json::json!("created"), &serde_json::json!("pending"))
    );
    assert!(text(&output.stderr).contains("created 2 jobs for 2 leads, 2 credits charged"), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains(" completed 2/2 ("), "plain progress lines off a terminal");
}

#[test]
fn wait_times_out_with_exit_8() {
    let server = emulator();
    let output = sendkit(&server, &["wait", "processing_1", "--timeout", "0.3", "--poll", "0.05"], "");
    assert_eq!(code(&output), 8, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("wait_for_job processing_1: not finished within 300ms"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_wrong_key_exits_5() {
    let server = emulator();
    let dir = std::env::temp_dir().join(format!("sendkit-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key");
    write_private(&key_file, "sk_test_wrong\n");
    let output = sendkit(&server, &["get", "pending_1", "--api-key-file", key_file.to_str().unwrap()], "");
    assert_eq!(code(&output), 5, "{}", text(&output.stderr));
    assert!(text(&output.stderr).starts_with("get_job pending_1: HTTP 401 UNAUTHORIZED: "), "{}", text(&output.stderr));
    // The right key from a file, its newline trimmed.
    write_private(&key_file, &format!("{KEY}\n"));
    let output = sendkit(&server, &["get", "pending_1", "--api-key-file", key_file.to_str().unwrap()], "");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
}

#[test]
fn an_unreachable_base_url_exits_1_and_says_nothing_was_sent() {
    let server = emulator();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let output = sendkit(&server, &["cancel", "pending_1", "--base-url", &url], "");
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("the request was never sent"), "{}", text(&output.stderr));
    // A hint names where the base URL came from, as for a host that does not resolve.
    assert!(text(&output.stderr).contains("the base URL came from --base-url"), "{}", text(&output.stderr));
}

#[test]
fn bad_arguments_and_settings_exit_2() {
    let server = emulator();
    for args in [
        &["cancel"][..],
        &["enrich", "--lead", "507f1f77bcf86cd799439011", "--type", "fax"],
        &["cancel", "x", "--concurrency", "0"],
        &["get", "x", "--base-url", "https://api.sendkit.ai/v1"],
        &["get", "x", "--deadline", "-1"],
        &["nonsense"],
    ] {
        let output = sendkit(&server, args, "");
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendkit"));
    let output = command.args(["get", "x"]).env_clear().output().unwrap();
    assert_eq!(code(&output), 2);
    assert_eq!(
        text(&output.stderr),
        "sendkit: environment variable SENDKIT_API_KEY is not set: set it to your API key, or pass --api-key-file \
         PATH\n"
    );
}

#[test]
fn verbose_names_the_settings_never_the_key() {
    let server = emulator();
    let output = sendkit(&server, &["get", "pending_1", "--verbose"], "");
    let said = text(&output.stderr);
    assert!(said.contains(&format!("sendkit: base URL {}", server.base_url())), "{said}");
    assert!(said.contains("sendkit: key: a workspace key, 23 characters (not shown)"), "{said}");
}

#[test]
fn help_has_an_example_per_command_and_completions_are_printed() {
    let server = emulator();
    for command in ["cancel", "get", "enrich", "wait", "mock", "completions"] {
        let output = sendkit(&server, &[command, "--help"], "");
        assert_eq!(code(&output), 0);
        let help = text(&output.stdout);
        assert!(help.contains("Example"), "{command}");
        // The client's options only where a call is made; the commands that take job IDs say what --json prints.
        let calls = !matches!(command, "mock" | "completions");
        assert_eq!(help.contains("Client options:") && help.contains("--base-url"), calls, "{command}: {help}");
        assert_eq!(help.contains("With --json, one line on stdout per job ID given"), calls, "{command}");
        assert!(help.lines().all(|line| line.chars().count() <= 120), "{command}: {help}");
    }
    // Client options before the command are the same as after it.
    let before = sendkit(&server, &["--json", "get", "pending_1"], "");
    assert_eq!(records(&before)[0]["outcome"], "found");
    let top = text(&sendkit(&server, &["--help"], "").stdout);
    assert!(top.contains("Exit codes:") && top.contains("130  interrupted"), "{top}");
    for shell in ["bash", "zsh", "fish"] {
        let output = sendkit(&server, &["completions", shell], "");
        assert_eq!(code(&output), 0);
        assert!(text(&output.stdout).contains("sendkit"), "{shell}");
    }
}

#[test]
fn ctrl_c_during_a_wait_reports_where_each_job_was() {
    let server = emulator();
    let mut child = command(&server, &["wait", "processing_1", "--poll", "0.05", "--json"]).spawn().unwrap();
    // Let it poll a few times, then interrupt it as a terminal would.
    std::thread::sleep(Duration::from_millis(400));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = child.stdin.take();
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 130, "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("interrupted: processing_1 last seen processing"),
        "{}",
        text(&output.stderr)
    );
    // The job's line says so too, with the job as last seen.
    let line = &records(&output)[0];
    assert_eq!(
        (&line["outcome"], &line["job"]["status"]),
        (&serde_json::json!("interrupted"), &serde_json::json!("processing"))
    );
}

#[test]
fn the_mock_command_serves_the_emulator() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sendkit"))
        .args(["mock", "--addr", &format!("127.0.0.1:{port}"), "--api-key", KEY])
        .env_clear()
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the emulator did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = Command::new(env!("CARGO_BIN_EXE_sendkit"))
        .args(["enrich", "--lead", "507f1f77bcf86cd799439011", "--type", "espDetection", "--base-url", &base])
        .env_clear()
        .env("SENDKIT_API_KEY", KEY)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("bulk_esp_detection_"), "{}", text(&output.stdout));
}

#[test]
fn re_runs_duplicates_and_comments_are_safe() {
    let server = emulator();
    // The same ID twice, a comment and blank lines: one cancel.
    let output = sendkit(&server, &["cancel", "-"], "# the jobs to stop\npending_1\n\n  pending_1  \n#processing_1\n");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "cancelled 1 of 1 job\n");
    assert_eq!(server.ledger().cancels.get("pending_1"), Some(&1));
    assert_eq!(server.job("processing_1").unwrap().status, JobStatus::Processing, "a comment is not an ID");
    // Run again: the job is already cancelled, which is what was asked.
    let again = sendkit(&server, &["cancel", "pending_1", "pending_1"], "");
    assert_eq!(code(&again), 0, "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "pending_1 cancelled (already)\n");
    assert_eq!(text(&again.stderr), "cancelled 0 of 1 job; 1 already cancelled\n");
    // A finished job stays exit 3, counted apart.
    let mixed = sendkit(&server, &["cancel", "pending_1", "completed_1", "--json"], "");
    assert_eq!(code(&mixed), 3);
    assert!(text(&mixed.stdout).contains("\"outcome\":\"already_cancelled\""), "{}", text(&mixed.stdout));
    assert!(text(&mixed.stderr).ends_with("cancelled 0 of 2 jobs; 1 already cancelled; 1 already finished\n"));
}

#[test]
fn get_takes_many_ids_and_standard_input() {
    let server = emulator();
    let output = sendkit(&server, &["get", "-", "--json"], "pending_1\n# a comment\ncompleted_1\nmissing\n");
    assert_eq!(code(&output), 4);
    let lines = records(&output);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (&lines[0]["job"]["id"], &lines[1]["job"]["id"]),
        (&serde_json::json!("pending_1"), &serde_json::json!("completed_1"))
    );
    assert_eq!(lines[2]["outcome"], "not_found");
}

#[test]
fn durations_read_as_people_write_them() {
    let server = emulator();
    for deadline in ["30s", "2m", "1.5", "250ms", "0"] {
        let output = sendkit(&server, &["get", "pending_1", "--deadline", deadline, "--attempt-timeout", "10s"], "");
        assert_eq!(code(&output), 0, "{deadline}: {}", text(&output.stderr));
    }
    let output = sendkit(&server, &["get", "pending_1", "--deadline", "soon"], "");
    assert_eq!(code(&output), 2);
    assert!(
        text(&output.stderr).contains("\"soon\" is not a duration: write 30s, 2m, 1h, 250ms"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_closed_standard_output_ends_the_command_quietly() {
    let server = emulator();
    let ids: String = (0..300).map(|i| format!("bulk_{i}\n")).collect();
    for i in 0..300 {
        server.insert_job(Job::new(format!("bulk_{i}"), JobType::EmailVerification, JobStatus::Processing));
    }
    let mut child = command(&server, &["cancel", "-", "--json", "--concurrency", "2"]).spawn().unwrap();
    child.stdin.take().unwrap().write_all(ids.as_bytes()).unwrap();
    // Read the first line, then close the pipe, as `| head -n1` does.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let errors = text(&output.stderr);
    assert!(!errors.contains("panicked"), "{errors}");
    assert_eq!(code(&output), 0, "every cancel it made succeeded: {errors}");
    assert!(first.contains("\"status\":\"cancelled\""), "{first}");
    let cancelled = server.ledger().cancels.len();
    assert!(cancelled < 300, "it stopped starting cancels once nobody read the results ({cancelled})");
}

/// Ctrl-C during `get` of many jobs: the one under way ends, and every ID not looked at still gets its line.
#[test]
fn ctrl_c_during_get_gives_every_id_a_line() {
    let server = emulator();
    // Every get is held 1.5 s: the first is under way when Ctrl-C comes.
    server.inject(sendkit_mock::Fault::status(503).delay(Duration::from_millis(1500)).on(sendkit_mock::Route::Get));
    let args =
        ["get", "pending_1", "processing_1", "completed_1", "--json", "--attempt-timeout", "1s", "--deadline", "1s"];
    let child = command(&server, &args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 130, "{}", text(&output.stderr));
    let lines = records(&output);
    let ids: Vec<&str> = lines.iter().map(|line| line["jobId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pending_1", "processing_1", "completed_1"], "{}", text(&output.stdout));
    assert_eq!(
        (&lines[1]["outcome"], &lines[2]["outcome"]),
        (&serde_json::json!("not_attempted"), &serde_json::json!("not_attempted"))
    );
}

#[test]
fn ctrl_c_against_a_hung_server_exits_after_a_short_grace_and_says_what_may_have_happened() {
    let server = emulator();
    for i in 0..5 {
        server.insert_job(Job::new(format!("hung_{i}"), JobType::EmailVerification, JobStatus::Processing));
    }
    // Every cancel is held for a minute before its answer.
    server.inject(sendkit_mock::Fault::status(503).delay(Duration::from_secs(60)).on(sendkit_mock::Route::Cancel));
    let args = ["cancel", "hung_0", "hung_1", "hung_2", "hung_3", "hung_4", "--concurrency", "2"];
    let child = command(&server, &args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let errors = text(&output.stderr);
    assert_eq!(code(&output), 130, "{errors}");
    assert!(took < Duration::from_secs(6), "exited {took:?} after Ctrl-C");
    assert!(
        errors.contains("interrupted: 2 may have been cancelled (no answer yet; get them to see): hung_0 hung_1"),
        "{errors}"
    );
    assert!(errors.contains("interrupted: 3 not attempted: hung_2 hung_3 hung_4"), "{errors}");

    // With --json, a line for each of them too: a script reads every job's outcome from stdout.
    let mut args = args.to_vec();
    args.push("--json");
    let child = command(&server, &args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 130);
    let lines = records(&output);
    let outcomes: Vec<(&str, &str, bool)> = lines
        .iter()
        .map(|line| {
            let field = |name: &str| line[name].as_str().unwrap_or_default();
            (field("jobId"), field("outcome"), line["mayHaveTakenEffect"].as_bool().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("hung_0", "in_flight", true),
            ("hung_1", "in_flight", true),
            ("hung_2", "not_attempted", false),
            ("hung_3", "not_attempted", false),
            ("hung_4", "not_attempted", false)
        ]
    );
}

#[test]
fn a_thousand_cancels_behind_a_rate_limiter_all_succeed() {
    let server = MockServer::builder().api_key(KEY).worker_threads(2).start().unwrap();
    let ids: Vec<String> = (0..1000).map(|i| format!("limited_{i:04}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    server.inject(sendkit_mock::Fault::rate_limit(250.0, 10));
    let output = sendkit(&server, &["cancel", "-", "--json"], &(ids.join("\n") + "\n"));
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "cancelled 1000 of 1000 jobs\n");
    assert_eq!(text(&output.stdout).lines().count(), 1000);
    for id in &ids {
        assert_eq!(server.job(id).unwrap().status, JobStatus::Cancelled);
    }
    assert!(server.ledger().rate_limited > 0, "the limiter was met");
}

/// Processes splitting a key's limit each take their share with `--max-rate`, and meet no refusal.
#[test]
fn cancels_under_a_max_rate_meet_no_refusal() {
    let server = emulator();
    let ids: Vec<String> = (0..12).map(|i| format!("shared_{i:02}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    server.inject(sendkit_mock::Fault::rate_limit(25.0, 3));
    let output = sendkit(&server, &["cancel", "-", "--max-rate", "10"], &(ids.join("\n") + "\n"));
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "cancelled 12 of 12 jobs\n");
    assert_eq!(server.ledger().rate_limited, 0, "no request over the share, so none refused");
    let refused = sendkit(&server, &["cancel", "shared_00", "--max-rate", "none"], "");
    assert_eq!(code(&refused), 2);
    assert!(
        text(&refused.stderr).contains("\"none\" is not a number of requests a second"),
        "{}",
        text(&refused.stderr)
    );
}

/// A share too small for the deadline ends a cancel before it is sent: the JSON line says no status came back, and
/// the error says which setting held it.
#[test]
fn a_cancel_the_max_rate_leaves_no_slot_is_reported_unsent() {
    let server = emulator();
    for id in ["share_1", "share_2"] {
        server.insert_job(Job::new(id, JobType::EmailVerification, JobStatus::Processing));
    }
    let output =
        sendkit(&server, &["cancel", "-", "--max-rate", "1", "--deadline", "500ms", "--json"], "share_1\nshare_2\n");
    assert_eq!(code(&output), 6, "{}", text(&output.stderr));
    // The two cancels run at once: whichever takes the one slot is cancelled, the other ends unsent.
    let lines = records(&output);
    let outcomes: Vec<&str> = lines.iter().map(|line| line["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"cancelled") && outcomes.contains(&"rate_limited"), "{outcomes:?}");
    let unsent = lines.iter().find(|line| line["outcome"] == "rate_limited").unwrap();
    assert_eq!(unsent["httpStatus"], serde_json::Value::Null, "{unsent}");
    assert_eq!(unsent["message"], serde_json::Value::Null, "no server said anything: {unsent}");
    assert_eq!(unsent["mayHaveTakenEffect"], false);
    let id = unsent["jobId"].as_str().unwrap();
    let error = unsent["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "cancel_job {id}: not sent: max_rate (1 a second) leaves it no slot within the call's deadline"
        )),
        "{error}"
    );
    assert_eq!(server.job(id).unwrap().status, JobStatus::Processing, "never sent");
}

#[test]
fn enrich_can_print_just_the_ids_for_a_pipe() {
    let server = emulator();
    let output = sendkit(
        &server,
        &["enrich", "--lead", "507f1f77bcf86cd799439011", "--type", "email,segGateway", "--output", "ids"],
        "",
    );
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let ids: Vec<String> = text(&output.stdout).lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), 2);
    // Straight into another command.
    let cancelled = sendkit(&server, &["cancel", "-"], &text(&output.stdout));
    assert_eq!(code(&cancelled), 0, "{}", text(&cancelled.stderr));
    for id in ids {
        assert_eq!(server.job(&id).unwrap().status, JobStatus::Cancelled);
    }
}

#[test]
fn json_is_exactly_what_the_api_sent_unknown_fields_included() {
    let server = emulator();
    let sent = r#"{"id":"failed_1","type":"email_verification","status":"failed","error":"provider quota exceeded",
        "metadata":{"totalItems":10,"processedItems":4,"successCount":3,"failedCount":1,"creditsUsed":10,
        "refundedCredits":6}}"#;
    server.insert_job(serde_json::from_str(sent).unwrap());
    let output = sendkit(&server, &["get", "failed_1", "--json"], "");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let printed = records(&output)[0]["job"].clone();
    assert_eq!(printed["error"], "provider quota exceeded");
    assert_eq!(printed["metadata"]["refundedCredits"], 6);
    let mut expected: serde_json::Value = serde_json::from_str(sent).unwrap();
    // The emulator stamps a job it stores with the time it was created, as the API does.
    expected["createdAt"] = printed["createdAt"].clone();
    assert_eq!(printed, expected);
}

#[test]
fn verbose_logs_each_request_and_the_wait_before_a_retry() {
    let server = emulator();
    server.inject(sendkit_mock::Fault::status(429).header("retry-after", "1").on(sendkit_mock::Route::Cancel).times(1));
    let output = sendkit(&server, &["cancel", "pending_1", "-v"], "");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let said = text(&output.stderr);
    let url = format!("{}/v1/enrichment/jobs/pending_1/cancel", server.base_url());
    assert!(said.contains(&format!("sendkit: POST {url} -> 429 Too Many Requests (attempt 1, ")), "{said}");
    assert!(said.contains(", request req_1); next attempt in 1.0s\n"), "{said}");
    assert!(said.contains(&format!("sendkit: POST {url} -> 200 OK (attempt 2, ")), "{said}");
}

/// `sendkit ARGS` with only the profiles file to go by (and `env`), as a person with a config file runs it.
fn with_profiles(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendkit"));
    command.args(args).env_clear().env("SENDKIT_CONFIG", config);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert!(!out.contains(KEY) && !err.contains(KEY), "the key was printed:\n{out}\n{err}");
    output
}

#[cfg(unix)]
#[test]
fn profiles_give_settings_below_flags_and_the_environment() {
    use std::os::unix::fs::PermissionsExt;
    let server = emulator();
    let dir = std::env::temp_dir().join(format!("sendkit-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    std::fs::write(
        &file,
        format!(
            "default_profile = \"emu\"\n[profiles.emu]\nbase_url = \"{}\"\napi_key = \"{KEY}\"\nconcurrency = 2\n\
             deadline = \"20s\"\nmax_rate = 12.5\n[profiles.broken]\nbase_url = \"{closed}\"\napi_key = \"{KEY}\"\n\
             [profiles.tiny]\nbase_url = \"{}\"\napi_key = \"{KEY}\"\nmax_rate = 0.0001\n",
            server.base_url(),
            server.base_url()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The default profile, then one named by flag or variable.
    assert_eq!(code(&with_profiles(&file, &["get", "pending_1"], &[])), 0);
    assert_eq!(code(&with_profiles(&file, &["get", "pending_1", "--profile", "broken"], &[])), 1);
    assert_eq!(code(&with_profiles(&file, &["get", "pending_1"], &[("SENDKIT_PROFILE", "broken")])), 1);
    // The environment over the profile, the flag over both.
    let env = [("SENDKIT_BASE_URL", closed.as_str())];
    assert_eq!(code(&with_profiles(&file, &["get", "pending_1"], &env)), 1);
    assert_eq!(code(&with_profiles(&file, &["get", "pending_1", "--base-url", &server.base_url()], &env)), 0);

    // Where each setting comes from, never the key.
    let shown = text(&with_profiles(&file, &["config"], &[]).stdout);
    let source = format!("profile emu in {}", file.display());
    assert!(shown.contains(&format!("base URL:        {} (from {source})", server.base_url())), "{shown}");
    assert!(shown.contains(&format!("API key:         set, not shown (from {source})")), "{shown}");
    assert!(shown.contains(&format!("deadline:        20s (from {source})")), "{shown}");
    assert!(shown.contains(&format!("concurrency:     2 (from {source})")), "{shown}");
    assert!(shown.contains(&format!("max rate:        12.5/s (from {source})")), "{shown}");
    let flagged = text(&with_profiles(&file, &["config", "--deadline", "5s", "--max-rate", "3"], &env).stdout);
    assert!(flagged.contains(&format!("base URL:        {closed} (from SENDKIT_BASE_URL)")), "{flagged}");
    assert!(flagged.contains("deadline:        5s (from --deadline)"), "{flagged}");
    assert!(flagged.contains("max rate:        3/s (from --max-rate)"), "{flagged}");
    // Zero lifts the profile's share for one run, as `--deadline 0` lifts its deadline.
    let lifted = text(&with_profiles(&file, &["config", "--max-rate", "0"], &[]).stdout);
    assert!(lifted.contains("max rate:        none (from --max-rate)"), "{lifted}");
    // A share the SDK refuses is named where it was given.
    let tiny = with_profiles(&file, &["get", "pending_1", "--profile", "tiny"], &[]);
    assert_eq!(code(&tiny), 2);
    assert!(
        text(&tiny.stderr).contains(&format!("profile tiny in {}: max_rate: ", file.display())),
        "{}",
        text(&tiny.stderr)
    );
    let untied = with_profiles(&file, &["get", "pending_1", "--profile", "tiny", "--max-rate", "0"], &[]);
    assert_eq!(code(&untied), 0, "{}", text(&untied.stderr));

    // A profile that is not there, and a key others could read, are refused with what to do.
    let missing = with_profiles(&file, &["get", "pending_1", "--profile", "nope"], &[]);
    assert_eq!(code(&missing), 2);
    assert!(text(&missing.stderr).contains("no profile \"nope\""), "{}", text(&missing.stderr));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let readable = with_profiles(&file, &["get", "pending_1"], &[]);
    assert_eq!(code(&readable), 2);
    assert!(text(&readable.stderr).contains("other users can read it: run `chmod 600"), "{}", text(&readable.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server or proxy that echoes the key: in the API's error message, in an HTML page, in a request-ID header.
/// The key reaches neither stderr nor the `--json` line, `-v` included (`sendkit()` checks both streams).
#[test]
fn a_key_echoed_by_the_server_is_never_printed() {
    let server = emulator();
    let echoes = [
        sendkit_mock::Fault::status(401).body(format!(
            r#"{{"success":false,"error":{{"code":"UNAUTHORIZED","message":"Invalid API key {KEY}"}}}}"#
        )),
        sendkit_mock::Fault::status(502).header("content-type", "text/html").body(format!("<p>X-Api-Key: {KEY}</p>")),
        sendkit_mock::Fault::status(404)
            .header("x-request-id", KEY)
            .body(r#"{"success":false,"error":{"code":"NOT_FOUND","message":"Job not found"}}"#),
    ];
    for echo in echoes {
        server.inject(echo.on(sendkit_mock::Route::Cancel));
        let output = sendkit(&server, &["cancel", "pending_1", "--json", "-v"], "");
        assert_ne!(code(&output), 0);
        let said = text(&output.stderr);
        assert!(said.contains("[redacted]"), "the echo is shown, scrubbed: {said}");
        server.clear_faults();
    }
}

/// A profile's key file that cannot be read does not matter when a higher source gives the key (the variable, or
/// --api-key-file); a profile's bad timing setting is named as the profile's, not as a flag never passed.
#[test]
fn higher_sources_win_over_an_unreadable_profile_key_and_profile_settings_are_named_as_such() {
    let server = emulator();
    let dir = std::env::temp_dir().join(format!("sendkit-precedence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    let missing = dir.join("missing.key");
    std::fs::write(
        &file,
        format!(
            "default_profile = \"p\"\n[profiles.p]\nbase_url = \"{}\"\napi_key_file = \"{}\"\n\
             [profiles.zero]\nbase_url = \"{}\"\napi_key = \"{KEY}\"\nattempt_timeout = \"0\"\n",
            server.base_url(),
            missing.display(),
            server.base_url()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let by_variable = with_profiles(&file, &["get", "pending_1"], &[("SENDKIT_API_KEY", KEY)]);
    assert_eq!(code(&by_variable), 0, "{}", text(&by_variable.stderr));
    let key_file = dir.join("good.key");
    write_private(&key_file, KEY);
    let by_flag = with_profiles(&file, &["get", "pending_1", "--api-key-file", key_file.to_str().unwrap()], &[]);
    assert_eq!(code(&by_flag), 0, "{}", text(&by_flag.stderr));
    // With nothing above it, the profile's unreadable file is the error, naming it.
    let alone = with_profiles(&file, &["get", "pending_1"], &[]);
    assert_eq!(code(&alone), 2);
    assert!(text(&alone.stderr).contains("cannot read it"), "{}", text(&alone.stderr));
    let zero = with_profiles(&file, &["get", "pending_1", "--profile", "zero"], &[]);
    let said = text(&zero.stderr);
    assert_eq!(code(&zero), 2, "{said}");
    assert!(said.contains("profile zero in") && said.contains("attempt_timeout:"), "{said}");
    assert!(!said.contains("--attempt-timeout"), "names a flag never passed: {said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Input that should never reach the server does not: a byte-order mark on the first line, a `# note` after an
/// ID; an ID with a space, a `/`, a control character or past any job ID's length is refused (exit 2) before any
/// request, a line of its own with `--json`, and the rest of the batch is still done.
#[test]
fn ids_from_a_file_are_read_as_written_and_bad_ones_are_refused_before_any_request() {
    let server = emulator();
    let output = sendkit(&server, &["cancel", "-"], "\u{feff}pending_1   # the March batch\nprocessing_1#x\n");
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(server.job("pending_1").unwrap().status, JobStatus::Cancelled);
    assert_eq!(server.job("processing_1").unwrap().status, JobStatus::Cancelled);
    let requests = server.ledger().requests;
    let long = "j".repeat(300);
    for bad in ["pending 1", "a/b", "a\u{7}b", ".", long.as_str()] {
        let refused = sendkit(&server, &["cancel", "-", "--json"], &format!("{bad}\n"));
        assert_eq!(code(&refused), 2, "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("standard input, line 1: "), "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("is not a job ID"), "{}", text(&refused.stderr));
        let lines = records(&refused);
        assert_eq!((lines.len(), &lines[0]["outcome"]), (1, &serde_json::json!("invalid_input")));
        assert_eq!(lines[0]["jobId"], bad, "the line names the input it answers");
    }
    assert_eq!(server.ledger().requests, requests, "nothing was sent");

    // The good lines of a file with a bad one are still done; `--file` and `@PATH` read files as `-` reads stdin.
    let dir = std::env::temp_dir().join(format!("sendkit-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ids.txt");
    std::fs::write(&file, "pending_2  # note\nnot an id\nmissing\n").unwrap();
    server.insert_job(Job::new("pending_2", JobType::EmailVerification, JobStatus::Pending));
    let mixed = sendkit(&server, &["cancel", "--file", file.to_str().unwrap(), "--json"], "");
    assert_eq!(code(&mixed), 2, "a refused line outranks not found: {}", text(&mixed.stderr));
    assert!(text(&mixed.stderr).contains("ids.txt, line 2: \"not an id\""), "{}", text(&mixed.stderr));
    let lines = records(&mixed);
    let mut outcomes: Vec<(&str, &str)> =
        lines.iter().map(|line| (line["jobId"].as_str().unwrap(), line["outcome"].as_str().unwrap())).collect();
    outcomes.sort();
    assert_eq!(outcomes, [("missing", "not_found"), ("not an id", "invalid_input"), ("pending_2", "cancelled")]);
    assert_eq!(server.job("pending_2").unwrap().status, JobStatus::Cancelled);
    let at = sendkit(&server, &["get", &format!("@{}", file.display()), "--json"], "");
    assert_eq!(records(&at).len(), 3);
    // Windows line ends are line ends; a line that is not UTF-8 is refused alone.
    std::fs::write(&file, b"pending_1\r\n\xff\xfe_job\r\ncompleted_1\r\n").unwrap();
    let odd = sendkit(&server, &["get", "--file", file.to_str().unwrap(), "--json"], "");
    assert_eq!(code(&odd), 2, "{}", text(&odd.stderr));
    let mut outcomes: Vec<String> = records(&odd).iter().map(|line| line["outcome"].to_string()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["\"found\"", "\"found\"", "\"invalid_input\""], "{}", text(&odd.stderr));
    assert!(text(&odd.stderr).contains("line 2: ") && text(&odd.stderr).contains("not UTF-8"), "{}", text(&odd.stderr));
    let unreadable = sendkit(&server, &["get", "--file", dir.join("none.txt").to_str().unwrap()], "");
    assert_eq!(code(&unreadable), 2);
    assert!(text(&unreadable.stderr).contains("cannot read job IDs from"), "{}", text(&unreadable.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SENDKIT_CONFIG naming a file that is not there is said, not silently ignored.
#[test]
fn a_config_file_named_but_missing_is_an_error() {
    let missing = std::env::temp_dir().join(format!("sendkit-missing-{}.toml", std::process::id()));
    let output = with_profiles(&missing, &["get", "pending_1"], &[("SENDKIT_API_KEY", KEY)]);
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("SENDKIT_CONFIG names"), "{}", text(&output.stderr));
}

/// `grep ... | sendkit cancel -` when nothing matched: nothing to do, exit 0; no IDs and no `-` stays a usage error.
#[test]
fn empty_standard_input_is_nothing_to_do() {
    let server = emulator();
    for command in ["cancel", "get", "wait"] {
        let output = sendkit(&server, &[command, "-"], "");
        assert_eq!(code(&output), 0, "{command}: {}", text(&output.stderr));
    }
    assert_eq!(
        text(&sendkit(&server, &["cancel", "-"], "\n# nothing\n").stderr),
        "sendkit: no job IDs in the input: nothing to do\n"
    );
    assert_eq!(server.ledger().requests, 0);
}

/// `--output ids --json` asks for two formats: refused before any request, not one of them dropped in silence.
#[test]
fn two_output_formats_at_once_are_refused() {
    let server = emulator();
    let output = sendkit(
        &server,
        &["enrich", "--lead", "507f1f77bcf86cd799439011", "--type", "email", "--output", "ids", "--json"],
        "",
    );
    assert_eq!(code(&output), 2, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("leave out --json"), "{}", text(&output.stderr));
    assert_eq!(server.ledger().requests, 0);
}

/// A key file as its owner keeps it: mode 600.
fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A key file others can read is refused, as a profiles file holding a key is; and `sendkit config --json` is
/// JSON, naming each setting's source, and says where it looked for a profiles file.
#[cfg(unix)]
#[test]
fn a_readable_key_file_is_refused_and_config_speaks_json() {
    use std::os::unix::fs::PermissionsExt;
    let server = emulator();
    let dir = std::env::temp_dir().join(format!("sendkit-modes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key");
    std::fs::write(&key_file, KEY).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = sendkit(&server, &["get", "pending_1", "--api-key-file", key_file.to_str().unwrap()], "");
    assert_eq!(code(&refused), 2);
    assert!(text(&refused.stderr).contains("other users can read it"), "{}", text(&refused.stderr));
    let missing = dir.join("none.toml");
    let shown = with_profiles(&missing, &["config", "--json"], &[("SENDKIT_API_KEY", KEY)]);
    // SENDKIT_CONFIG names a file that is not there: said (exit 2), not shown as settings.
    assert_eq!(code(&shown), 2);
    let mut command = command(&server, &["config", "--json"]);
    let output = command.env("XDG_CONFIG_HOME", &dir).output().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&output.stdout).expect("config --json is JSON");
    assert_eq!(config["apiKey"]["from"], "SENDKIT_API_KEY");
    assert_eq!(config["baseUrl"]["value"], server.base_url());
    assert!(config["profile"]["value"].as_str().unwrap().contains("no profiles file at"), "{config}");
    assert!(!text(&output.stdout).contains(KEY));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A wrong key on a batch of 50: the refusal stops the batch (a few in flight at most), the hint is said once, and
/// the rest are reported not attempted because the key was refused.
#[test]
fn a_refused_key_stops_a_batch_and_is_said_once() {
    let server = emulator();
    let ids: String = (0..50).map(|i| format!("job_{i}\n")).collect();
    let mut child = command(&server, &["cancel", "-", "--concurrency", "2"])
        .env("SENDKIT_API_KEY", "sk_test_wrong_0042")
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(ids.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let errors = text(&output.stderr);
    assert_eq!(code(&output), 5, "{errors}");
    assert!(server.ledger().requests <= 2, "{} requests for a key refused at once", server.ledger().requests);
    assert_eq!(errors.matches("hint:").count(), 1, "{errors}");
    assert!(errors.contains("stopped, the API key was refused: 4"), "{errors}");
}
