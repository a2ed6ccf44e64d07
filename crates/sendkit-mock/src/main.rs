//! `sendkit-mock`: the emulator as a program, for trying clients by hand or from other languages.
//!
//! ```text
//! cargo run -p sendkit-mock -- --addr 127.0.0.1:8080 --api-key sk_test_123
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use sendkit_mock::{MockBuilder, DEFAULT_API_KEY};

const USAGE: &str =
    "usage: sendkit-mock [--addr HOST:PORT] [--api-key KEY] [--workspace-id ID] [--manual-clock] [--fault-seed N]

Serves an emulator of the SendKit enrichment jobs API until interrupted.
  --addr          where to listen (default 127.0.0.1:8080)
  --api-key       the key to accept (default sk_test_sendkit_mock); sk_user_... is a platform key
  --workspace-id  with a platform key, the only workspace ID to accept (default: any)
  --manual-clock  keep time still (jobs never progress); by default jobs move on real time
  --fault-seed    seed for faults armed with a fraction (default fixed)

Try it: create a job, then cancel it (the key is the default one):
  curl -s -X POST http://127.0.0.1:8080/v1/enrichment/enrich -H 'x-api-key: sk_test_sendkit_mock' \\
       -H 'content-type: application/json' -d '{\"leadIds\":[\"507f1f77bcf86cd799439011\"],\"enrichmentTypes\":[\"email\"]}'
  curl -s -X POST http://127.0.0.1:8080/v1/enrichment/jobs/JOB_ID/cancel -H 'x-api-key: sk_test_sendkit_mock'
";

fn main() -> ExitCode {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut key = DEFAULT_API_KEY.to_owned();
    let mut workspace_id = None;
    let mut manual_clock = false;
    let mut fault_seed = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--addr" => {
                value("--addr").and_then(|v| v.parse().map_err(|e| format!("--addr {v}: {e}"))).map(|a| addr = a)
            }
            "--api-key" => value("--api-key").map(|v| key = v),
            "--workspace-id" => value("--workspace-id").map(|v| workspace_id = Some(v)),
            "--fault-seed" => value("--fault-seed")
                .and_then(|v| v.parse().map_err(|e| format!("--fault-seed {v}: {e}")))
                .map(|seed| fault_seed = Some(seed)),
            "--manual-clock" => {
                manual_clock = true;
                Ok(())
            }
            "-h" | "--help" => {
                println!("{USAGE}\n{}", sendkit_mock::FAULTS_HELP);
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(message) = parsed {
            eprintln!("sendkit-mock: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let mut builder = MockBuilder::default().addr(addr).api_key(key).worker_threads(2);
    if let Some(workspace_id) = workspace_id {
        builder = builder.workspace_id(workspace_id);
    }
    if !manual_clock {
        builder = builder.system_clock();
    }
    if let Some(seed) = fault_seed {
        builder = builder.fault_seed(seed);
    }
    let server = match builder.start() {
        Ok(server) => server,
        Err(err) => {
            eprintln!("sendkit-mock: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The key is the emulator's own, not a user's secret; printing it tells a client what to send.
    println!("sendkit-mock listening on {} (api key {})", server.base_url(), server.api_key());
    server.wait();
    ExitCode::SUCCESS
}
