//! A fleet sharing one key: N `sendkit cancel -` processes behind the emulator's rate limiter (a token bucket that
//! answers a bare 429, as nginx's `limit_req` does), each with its own share of the jobs, none knowing of the
//! others. What the key's budget came to: the share of the limiter's rate the fleet reached, how fairly the
//! processes shared it (Jain's index over their rates), and how many requests were refused for each accepted.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use sendkit_mock::{Fault, MockServer};

use crate::fleet_model::{LONG_FLEETS, OTHER_LIMITS, SHORT_FLEETS};
use sendkit_model::{Job, JobStatus, JobType};

const KEY: &str = "sk_test_fleet_bench";

/// One fleet: how many processes, each at what concurrency, how many jobs each, behind what limiter.
struct Fleet {
    processes: usize,
    concurrency: usize,
    jobs_each: usize,
    per_second: f64,
    burst: u32,
    /// The limiter says its budget on every answer (the IETF RateLimit fields).
    headers: bool,
    /// The limiter is a real nginx `limit_req` in front of the emulator, not the emulator's own.
    nginx: bool,
    /// Each process is given its share with `--max-rate`.
    max_rate: Option<f64>,
}

/// nginx on a loopback port, proxying to the emulator behind `limit_req` keyed by the API key (50 requests a
/// second, burst 5, nodelay, 429): as a gateway in front of the API would. Stopped when dropped.
struct Nginx {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Nginx {
    /// The nginx binary, when installed.
    fn binary() -> Option<std::path::PathBuf> {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .map(std::path::PathBuf::from)
            .into_iter()
            .find(|p| p.exists())
    }

    fn start(binary: &std::path::Path, upstream: &str, fleet: &Fleet) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = std::env::temp_dir().join(format!("sendkit-fleet-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nginx's folder");
        let upstream = upstream.trim_start_matches("http://");
        let config = format!(
            "worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  log_format status '$status';\n  access_log {dir}/access.log status;\n\
             client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             limit_req_zone $http_x_api_key zone=key:1m rate={rate}r/s;\n\
             upstream api {{ server {upstream}; keepalive 64; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      limit_req zone=key burst={burst} nodelay;\n\
             limit_req_status 429;\n      proxy_pass http://api;\n      proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n",
            dir = dir.display(),
            rate = fleet.per_second as u64,
            burst = fleet.burst,
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).expect("nginx.conf");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(&dir)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs");
        // Ready when it accepts.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Nginx { child, dir, port }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests nginx refused (429), from its access log.
    fn refused(&self) -> u64 {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        log.lines().filter(|line| line.trim() == "429").count() as u64
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one fleet did.
struct Outcome {
    seconds: f64,
    share: f64,
    fairness: f64,
    refusals_per_accepted: f64,
    all_cancelled: bool,
}

fn run_fleet(cli: &std::path::Path, fleet: &Fleet) -> Outcome {
    let server = MockServer::builder().api_key(KEY).start().expect("the emulator");
    let total = fleet.processes * fleet.jobs_each;
    let ids: Vec<String> = (0..total).map(|i| format!("fleet_{i}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Pending));
    }
    let nginx =
        fleet.nginx.then(Nginx::binary).flatten().map(|binary| Nginx::start(&binary, &server.base_url(), fleet));
    if nginx.is_none() {
        let limiter = Fault::rate_limit(fleet.per_second, fleet.burst);
        server.inject(if fleet.headers { limiter.with_rate_limit_headers() } else { limiter });
    }
    let base_url = nginx.as_ref().map_or_else(|| server.base_url(), Nginx::base_url);
    let started = Instant::now();
    let children: Vec<_> = ids
        .chunks(fleet.jobs_each)
        .map(|share| {
            let mut command = Command::new(cli);
            command.args(["cancel", "-", "--concurrency", &fleet.concurrency.to_string(), "--deadline", "0"]);
            if let Some(rate) = fleet.max_rate {
                command.args(["--max-rate", &rate.to_string()]);
            }
            let mut child = command
                .env_clear()
                .env("SENDKIT_API_KEY", KEY)
                .env("SENDKIT_BASE_URL", &base_url)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sendkit runs");
            child.stdin.take().expect("stdin").write_all(share.join("\n").as_bytes()).expect("the IDs");
            child
        })
        .collect();
    // Each process's rate: its jobs over the time it took, each process waited for on a thread of its own.
    let waits: Vec<_> = children
        .into_iter()
        .map(|child| {
            std::thread::spawn(move || {
                let output = child.wait_with_output().expect("sendkit ends");
                assert!(output.status.success(), "a fleet process failed");
                started.elapsed().as_secs_f64()
            })
        })
        .collect();
    let rates: Vec<f64> =
        waits.into_iter().map(|wait| fleet.jobs_each as f64 / wait.join().expect("a waiting thread")).collect();
    let seconds = started.elapsed().as_secs_f64();
    let ledger = server.ledger();
    let accepted = ledger.cancels.values().sum::<u64>() as f64;
    // The bucket starts full: the burst is free, the rest comes at the limiter's rate.
    let share = (accepted - f64::from(fleet.burst)).max(0.0) / (seconds * fleet.per_second);
    let sum: f64 = rates.iter().sum();
    let fairness = sum * sum / (rates.len() as f64 * rates.iter().map(|r| r * r).sum::<f64>());
    let all_cancelled = ids.iter().all(|id| server.job(id).is_some_and(|job| job.status == JobStatus::Cancelled));
    Outcome {
        seconds,
        share,
        fairness,
        refusals_per_accepted: nginx.as_ref().map_or(ledger.rate_limited, Nginx::refused) as f64 / accepted.max(1.0),
        all_cancelled,
    }
}

/// How many times the rounds the short fleets run: they last seconds, so how fast the processes find their shares
/// weighs more, and a round reads further from the next (fairness 0.58-0.98 over 22 rounds of the 8 x 8 fleet).
const SHORT_ROUNDS: usize = 3;

/// The groups of the fleet table, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Long,
    Short,
    OtherLimits,
    Shares,
}

/// Fleets whose processes are each given a share of the limit with `--max-rate` (0.95 of the limit over the
/// processes): the short fleets and the slow limiter, where the pacer alone does worst. Without headers.
const SHARED_FLEETS: [(usize, usize, usize, f64); 3] = [(4, 8, 100, 50.0), (8, 8, 100, 100.0), (4, 8, 50, 10.0)];
/// The part of an even share each process of [`SHARED_FLEETS`] is given: under the limit, for the jitter of real
/// processes.
const SHARE: f64 = 0.95;

/// The fleet table: the simulation's fleets ([`LONG_FLEETS`], then [`SHORT_FLEETS`]), each without rate-limit
/// headers (as nginx's `limit_req`), with them, and behind nginx itself when it is installed, then
/// [`OTHER_LIMITS`] without headers, run side by side in each of `rounds` rounds (paired, so that the machine's
/// noise falls on all alike; the short fleets in [`SHORT_ROUNDS`] times as many): medians, and the worst round in
/// brackets.
pub fn run(cli: &std::path::Path, rounds: usize, only: Option<&str>) {
    let all_kinds = [(false, false), (true, false), (false, true)];
    let groups = [
        (Group::Long, &LONG_FLEETS[..]),
        (Group::Short, &SHORT_FLEETS),
        (Group::OtherLimits, &OTHER_LIMITS),
        (Group::Shares, &SHARED_FLEETS),
    ];
    let fleets: Vec<(Group, Fleet)> = groups
        .into_iter()
        .flat_map(|(group, shapes)| shapes.iter().map(move |shape| (group, *shape)))
        .flat_map(|(group, (processes, concurrency, jobs_each, per_second))| {
            let max_rate = (group == Group::Shares).then(|| SHARE * per_second / processes as f64);
            all_kinds.map(|(headers, nginx)| {
                (group, Fleet { processes, concurrency, jobs_each, per_second, burst: 5, headers, nginx, max_rate })
            })
        })
        // nginx's rows when it is installed; the other limits and the shares without headers.
        .filter(|(group, fleet)| {
            (!fleet.nginx || Nginx::binary().is_some())
                && (!fleet.headers || matches!(group, Group::Long | Group::Short))
        })
        .filter(|(_, fleet)| only.is_none_or(|word| label(fleet).contains(word)))
        .collect();
    let rounds = rounds.max(1);
    let mut outcomes: Vec<Vec<Outcome>> = fleets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds * SHORT_ROUNDS {
        for ((group, fleet), seen) in fleets.iter().zip(&mut outcomes) {
            if round < rounds || *group == Group::Short {
                seen.push(run_fleet(cli, fleet));
            }
        }
    }
    println!(
        "Real processes (`sendkit cancel -`) behind the emulator's limiter{}, medians of {rounds} rounds ({} for the \
         short fleets; worst in brackets):",
        if fleets.iter().any(|(_, fleet)| fleet.nginx) { " or a real nginx `limit_req`" } else { "" },
        rounds * SHORT_ROUNDS,
    );
    println!("| processes x concurrency | jobs | limiter | all done | share of the limiter's rate | refusals (429) per accepted | fairness (Jain) |");
    println!("|---|---|---|---|---|---|---|");
    for (group, (headers, nginx)) in [Group::Long, Group::Short, Group::OtherLimits, Group::Shares]
        .into_iter()
        .flat_map(|group| all_kinds.map(|h| (group, h)))
    {
        for ((_, fleet), seen) in fleets
            .iter()
            .zip(&outcomes)
            .filter(|((of, fleet), _)| *of == group && fleet.headers == headers && fleet.nginx == nginx)
        {
            let stat = |value: fn(&Outcome) -> f64, worst_high: bool| {
                let mut values: Vec<f64> = seen.iter().map(value).collect();
                values.sort_by(f64::total_cmp);
                let worst = if worst_high { values[values.len() - 1] } else { values[0] };
                (values[values.len() / 2], worst)
            };
            let (seconds, _) = stat(|o| o.seconds, true);
            let (share, share_worst) = stat(|o| o.share, false);
            let (refusals, refusals_worst) = stat(|o| o.refusals_per_accepted, true);
            let (fairness, fairness_worst) = stat(|o| o.fairness, false);
            let all_cancelled = seen.iter().all(|o| o.all_cancelled);
            println!(
                "| {} | {seconds:.1} s{} | {share:.2} ({share_worst:.2}) | {refusals:.2} ({refusals_worst:.2}) | {fairness:.2} ({fairness_worst:.2}) |",
                label(fleet),
                if all_cancelled { "" } else { " (not all cancelled)" },
            );
        }
    }
}

/// A fleet's first three columns: processes x concurrency, jobs, and the limiter (with each process's share).
fn label(fleet: &Fleet) -> String {
    let limiter = if fleet.headers {
        ", RateLimit headers"
    } else if fleet.nginx {
        ", nginx limit_req"
    } else {
        ""
    };
    let share = fleet.max_rate.map_or(String::new(), |rate| format!(", --max-rate {rate:.3}"));
    format!(
        "{} x {} | {} | {}/s{limiter}{share}",
        fleet.processes,
        fleet.concurrency,
        fleet.processes * fleet.jobs_each,
        fleet.per_second
    )
}
