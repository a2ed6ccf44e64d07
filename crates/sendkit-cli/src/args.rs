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

/// A command line for the SendKit enrichment jobs API.
#[derive(Debug, Parser)]
#[command(name = "sendkit", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes: shown apart, after each command's own, under a heading of their own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Client options")]
pub struct Global {
    /// Print the API's objects as JSON, one document per line
    #[arg(long, global = true)]
    pub json: bool,
    /// Say which settings are in use and log each request: method, URL, status, attempt, time, request ID, the
    /// wait before a retry (never the key)
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Where the API is [env: SENDKIT_BASE_URL] [default: https://api.sendkit.ai]
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// The workspace for a platform key (sk_user_...) [env: SENDKIT_WORKSPACE_ID]
    #[arg(long, global = true, value_name = "ID")]
    pub workspace: Option<String>,
    /// Read the API key from this file (surrounding whitespace trimmed) instead of SENDKIT_API_KEY
    #[arg(long, global = true, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// The profile to use from the profiles file [env: SENDKIT_PROFILE] (see `sendkit config --help`)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// How long one attempt may take: 30s, 2m, 1.5 (seconds), 250ms [default: 30s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub attempt_timeout: Option<Duration>,
    /// How long one call may take, retries included; 0 for no limit [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration_or_zero)]
    pub deadline: Option<Duration>,
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

Example:
  sendkit config --profile staging")]
    Config,
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
    #[command(after_help = "Examples:
  sendkit cancel bulk_email_verification_1710000000000_abc1234
  sendkit cancel job_1 job_2 job_3 --concurrency 2
  cat job_ids.txt | sendkit cancel - --json")]
    Cancel {
        /// Job IDs; `-` reads them from standard input, one per line (blank lines and `#` comments skipped); an
        /// ID given twice is cancelled once
        #[arg(required = true, value_name = "JOB_ID")]
        job_ids: Vec<String>,
        /// How many cancels may be under way at once [default: the profile's, else 8]
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
    },
    /// Show jobs' status and progress
    #[command(after_help = "Examples:
  sendkit get bulk_email_verification_1710000000000_abc1234 --json
  sendkit get job_1 job_2
  cat job_ids.txt | sendkit get -")]
    Get {
        /// Job IDs; `-` reads them from standard input, one per line (blank lines and `#` comments skipped)
        #[arg(required = true, value_name = "JOB_ID")]
        job_ids: Vec<String>,
    },
    /// Create jobs: one per enrichment type, over the given leads
    #[command(after_help = "Example:
  sendkit enrich --lead 507f1f77bcf86cd799439011 --lead 507f1f77bcf86cd799439012 --type email --type segGateway --wait
  sendkit enrich --lead 507f1f77bcf86cd799439011 --type email --output ids | sendkit wait -")]
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
    },
    /// Wait for jobs to finish, showing their progress
    #[command(after_help = "Example:
  sendkit wait job_1 job_2 --timeout 300")]
    Wait {
        /// Job IDs; `-` reads them from standard input, one per line (blank lines and `#` comments skipped)
        #[arg(required = true, value_name = "JOB_ID")]
        job_ids: Vec<String>,
        #[command(flatten)]
        wait_options: WaitOptions,
    },
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
