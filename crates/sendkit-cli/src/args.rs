//! The command line, as clap reads it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sendkit_ureq::model::EnrichmentType;

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0    every job succeeded
  1    any other failure: a server error, no connection, a timeout, a job that ended failed
  2    usage error: bad arguments or configuration
  3    a job could not be cancelled: it had already finished
  4    a job was not found (or expired)
  5    authentication: the key was refused (401, 403)
  6    rate limited
  7    unknown outcome: a cancel or enrich may have taken effect
  8    a wait ended at its --timeout before the job finished
  130  interrupted (Ctrl-C)
When jobs fail in different ways, the code is the first that applies of:
130, 7, 2, 5, 6, 1, 8, 4, 3.
A job already cancelled is what a cancel asks for: it counts as done (0).

Configuration:
  SENDKIT_API_KEY (or --api-key-file), SENDKIT_BASE_URL (or --base-url),
  SENDKIT_WORKSPACE_ID (or --workspace), HTTPS_PROXY / ALL_PROXY / NO_PROXY,
  SENDKIT_DANGER_ALLOW_INSECURE_HTTP=1 for plain http to a host that is not loopback.
  The key is never printed.";

/// What `--json` prints, for the commands that take job IDs: said in their `--help`.
pub(crate) const JSON_LINES: &str = r#"With --json, one line on stdout per job ID given, each with the same keys:
  {"jobId":"job_1","outcome":"cancelled","ok":true,"mayHaveTakenEffect":false,
   "job":{"id":"job_1","status":"cancelled",...},"httpStatus":null,
   "code":null,"message":null,"requestId":null,"error":null}
  {"jobId":"job_2","outcome":"not_found","ok":false,"mayHaveTakenEffect":false,
   "job":null,"httpStatus":404,"code":"JOB_NOT_FOUND","message":"Job not found",
   "requestId":"req_1","error":"cancel_job job_2: HTTP 404 ..."}
jobId is the ID as given; job is the API's object, as sent, when there is one;
ok says whether the job counts as done. outcome is one of: cancelled,
already_cancelled (ok), found (get), finished (wait: ok when completed),
created (enrich), not_cancellable, not_found, may_have_taken_effect,
in_flight (interrupted with the call under way), not_attempted,
invalid_input (refused before any request), unauthorized, rate_limited,
wait_timed_out, interrupted, failed. The server's status, code, message and
request ID are filled when it answered; error is the message stderr shows."#;

/// A command line for the SendKit enrichment jobs API.
#[derive(Debug, Parser)]
#[command(name = "sendkit", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The client's options: taken by the commands that call the API (and `config`, which shows them), after the
/// command (`sendkit cancel ID --json`) or before it (`sendkit --json cancel ID`); shown after each command's own
/// options, under a heading of their own, and not at all by the commands that make no call (`mock`,
/// `completions`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Client options")]
pub struct Global {
    /// Print the API's objects as JSON, one document per line
    #[arg(long)]
    pub json: bool,
    /// Say which settings are in use and log each request: method, URL, status, attempt, time, request ID, the
    /// wait before a retry (never the key)
    #[arg(long, short)]
    pub verbose: bool,
    /// Where the API is [env: SENDKIT_BASE_URL] [default: https://api.sendkit.ai]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The workspace for a platform key (sk_user_...) [env: SENDKIT_WORKSPACE_ID]
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Read the API key from this file (surrounding whitespace trimmed) instead of SENDKIT_API_KEY
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// The profile to use from the profiles file [env: SENDKIT_PROFILE] (see `sendkit config --help`)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// How long one attempt may take: 30s, 2m, 1.5 (seconds), 250ms [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub attempt_timeout: Option<Duration>,
    /// How long one call may take, retries included; 0 for no limit [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = duration_or_zero)]
    pub deadline: Option<Duration>,
    /// Send at most this many requests a second: this process's share of a key's limit, when several split it
    /// (2.5 each for four processes behind 10 a second); 0 for no limit but the server's, over a profile's
    /// [default: no limit but the server's]
    #[arg(long, value_name = "PER_SECOND", value_parser = per_second_or_zero)]
    pub max_rate: Option<f64>,
}

impl Global {
    /// These options with those given after the command: a value given there wins, a switch given either place
    /// is on.
    pub fn with(&self, after: &Global) -> Global {
        Global {
            json: self.json || after.json,
            verbose: self.verbose || after.verbose,
            base_url: after.base_url.clone().or_else(|| self.base_url.clone()),
            workspace: after.workspace.clone().or_else(|| self.workspace.clone()),
            api_key_file: after.api_key_file.clone().or_else(|| self.api_key_file.clone()),
            profile: after.profile.clone().or_else(|| self.profile.clone()),
            attempt_timeout: after.attempt_timeout.or(self.attempt_timeout),
            deadline: after.deadline.or(self.deadline),
            max_rate: after.max_rate.or(self.max_rate),
        }
    }
}

/// A number of requests a second, or zero for no limit: `2.5`, `0`. (The SDK refuses a rate under an hour's one
/// request, and says so.)
pub(crate) fn per_second_or_zero(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a number of requests a second, such as 2.5 (or 0 for no limit)")),
    }
}

/// A duration as people write one: `30s`, `2m`, `1h`, `250ms`, or a bare number of seconds (`1.5`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let duration = duration_or_zero(text)?;
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

pub(crate) fn duration_or_zero(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let unclear = || format!("{text:?} is not a duration: write 30s, 2m, 1h, 250ms or a number of seconds");
    let value: f64 = number.trim().parse().map_err(|_| unclear())?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(unclear()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| unclear())
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The calls of the API.
    #[command(flatten)]
    Api(ApiCommand),
    /// Run the emulator of the API on this machine, to try the tool and the SDK with no account
    #[cfg(feature = "mock")]
    #[command(after_help = format!("Example:
  sendkit mock --addr 127.0.0.1:8080
  # then, in another terminal:
  export SENDKIT_BASE_URL=http://127.0.0.1:8080 SENDKIT_API_KEY=sk_test_sendkit_mock
  sendkit enrich --lead 507f1f77bcf86cd799439011 --type email

{}", sendkit_mock::FAULTS_HELP))]
    Mock {
        /// Where to listen
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The key to accept; sk_user_... is a platform key
        #[arg(long, default_value = sendkit_mock::DEFAULT_API_KEY)]
        api_key: String,
        /// With a platform key, the only workspace ID to accept
        #[arg(long)]
        workspace_id: Option<String>,
        /// Keep time still (jobs never progress); by default jobs move on real time
        #[arg(long)]
        manual_clock: bool,
        /// Seed for faults armed with a fraction
        #[arg(long)]
        fault_seed: Option<u64>,
    },
    /// Show the settings in force and where each comes from: flag, environment, profile or default (never the key)
    #[command(after_help = "The profiles file is SENDKIT_CONFIG, else sendkit/config.toml in the platform's config
directory ($XDG_CONFIG_HOME, %APPDATA%, or ~/.config). Precedence: flags, then environment variables, then the
profile (--profile, SENDKIT_PROFILE, else the file's default_profile, else [profiles.default]), then defaults.

  default_profile = \"staging\"
  [profiles.staging]
  base_url = \"https://staging.sendkit.example\"
  workspace = \"ws_42\"
  api_key_file = \"/home/me/.sendkit/staging.key\"   # or api_key = \"sk_...\" (file mode 600 only)
  attempt_timeout = \"10s\"
  deadline = \"1m\"
  concurrency = 16
  max_rate = 12.5                     # requests a second: this share of the key's limit

Example:
  sendkit config --profile staging")]
    Config {
        #[command(flatten)]
        client: Global,
    },
    /// Print a completion script for a shell
    #[command(after_help = "Example:
  sendkit completions bash > ~/.local/share/bash-completion/completions/sendkit")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The commands that call the API, through a client built from the global settings.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Cancel jobs that are pending or processing
    #[command(after_help = format!("Examples:
  sendkit cancel bulk_email_verification_1710000000000_abc1234
  sendkit cancel job_1 job_2 job_3 --concurrency 2
  sendkit cancel --file job_ids.txt --json
  cat job_ids.txt | sendkit cancel - --json
{JSON_LINES}"))]
    Cancel {
        #[command(flatten)]
        ids: JobIds,
        /// How many cancels may be under way at once [default: the profile's, else 8]
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
        #[command(flatten)]
        client: Global,
    },
    /// Show jobs' status and progress
    #[command(after_help = format!("Examples:
  sendkit get bulk_email_verification_1710000000000_abc1234 --json
  sendkit get job_1 job_2
  sendkit get @job_ids.txt
{JSON_LINES}"))]
    Get {
        #[command(flatten)]
        ids: JobIds,
        #[command(flatten)]
        client: Global,
    },
    /// Create jobs: one per enrichment type, over the given leads
    #[command(after_help = format!("Example:
  sendkit enrich --lead 507f1f77bcf86cd799439011 --lead 507f1f77bcf86cd799439012 --type email --type segGateway --wait
  sendkit enrich --lead 507f1f77bcf86cd799439011 --type email --output ids | sendkit wait -
With --json, a line per created job (outcome \"created\", the API's entry for it
as \"job\"); with --wait, only the line each job's wait ends with.
{JSON_LINES}"))]
    Enrich {
        /// Lead IDs (24 hexadecimal digits); repeat the flag or separate with commas
        #[arg(long = "lead", required = true, value_delimiter = ',', value_name = "ID")]
        leads: Vec<String>,
        /// Enrichment types; repeat the flag or separate with commas
        #[arg(long = "type", required = true, value_delimiter = ',', value_name = "TYPE")]
        types: Vec<EnrichmentKind>,
        /// Wait for the jobs to finish, showing their progress
        #[arg(long)]
        wait: bool,
        /// `ids`: print only the created jobs' IDs, one per line, for piping into cancel, get or wait
        #[arg(long, value_name = "FORMAT")]
        output: Option<Output>,
        #[command(flatten)]
        wait_options: WaitOptions,
        #[command(flatten)]
        client: Global,
    },
    /// Wait for jobs to finish, showing their progress
    #[command(after_help = format!("Example:
  sendkit wait job_1 job_2 --timeout 300
{JSON_LINES}"))]
    Wait {
        #[command(flatten)]
        ids: JobIds,
        #[command(flatten)]
        wait_options: WaitOptions,
        #[command(flatten)]
        client: Global,
    },
}

/// The jobs a command is about: given as arguments, on standard input, or in files.
#[derive(Debug, Clone, Args)]
pub struct JobIds {
    /// Job IDs; `-` reads them from standard input and `@PATH` from a file, one per line (blank lines and `# notes`
    /// skipped); an ID given twice is done once, and a line that cannot be a job ID is refused before any request
    #[arg(value_name = "JOB_ID", required_unless_present = "files")]
    pub job_ids: Vec<String>,
    /// Read job IDs from this file, one per line, as `-` reads standard input; may be repeated
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

/// How long to wait, and how often to look.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitOptions {
    /// How long to wait in all: 10m, 300s, 90 (seconds)
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = duration)]
    pub timeout: Duration,
    /// How long between the first polls (growing to 15s)
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = duration)]
    pub poll: Duration,
    /// How many polls may be under way at once, however many jobs are waited for
    #[arg(long = "poll-concurrency", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub poll_concurrency: u16,
}

/// What `enrich --output` prints instead of its usual lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The created jobs' IDs, one per line.
    Ids,
}

/// The enrichment types, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnrichmentKind {
    /// Find and verify the lead's email (1 credit per lead)
    #[value(name = "email")]
    Email,
    /// Find the lead's phone number (20 credits per lead)
    #[value(name = "phoneEnrichment")]
    PhoneEnrichment,
    /// Secure email gateway detection (free)
    #[value(name = "segGateway")]
    SegGateway,
    /// Email service provider detection (free)
    #[value(name = "espDetection")]
    EspDetection,
}

impl From<EnrichmentKind> for EnrichmentType {
    fn from(kind: EnrichmentKind) -> Self {
        match kind {
            EnrichmentKind::Email => EnrichmentType::Email,
            EnrichmentKind::PhoneEnrichment => EnrichmentType::PhoneEnrichment,
            EnrichmentKind::SegGateway => EnrichmentType::SegGateway,
            EnrichmentKind::EspDetection => EnrichmentType::EspDetection,
        }
    }
}

impl ApiCommand {
    /// The client options given after the command.
    pub fn client(&self) -> &Global {
        match self {
            Self::Cancel { client, .. }
            | Self::Get { client, .. }
            | Self::Enrich { client, .. }
            | Self::Wait { client, .. } => client,
        }
    }
}
