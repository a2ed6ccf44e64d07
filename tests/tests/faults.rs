//! The fault matrix: every fault the emulator can play, for each call, through both adapters. The result is the
//! right typed error or a correct retry; nothing is lost, nothing is done twice.

use std::time::Duration;

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{jiff, EnrichRequest, EnrichmentType, Job, JobStatus, JobType, Timestamp};
use sendkit_proto::{Error, TransportErrorKind};
use sendkit_tests::{settings, Adapter, Connect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Cancel,
    Get,
    Enrich,
}

const CALLS: [Call; 3] = [Call::Cancel, Call::Get, Call::Enrich];

impl Call {
    fn route(self) -> Route {
        match self {
            Call::Cancel => Route::Cancel,
            Call::Get => Route::Get,
            Call::Enrich => Route::Enrich,
        }
    }
}

/// What a fault should lead to, for one call.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The call succeeds (after retries where the fault allows them), and its effect happened exactly once.
    Success,
    /// The call fails with this error, and (for cancel and enrich) its effect happened `effects` times.
    Fails(fn(&Error) -> bool, u64),
}

const JOB: &str = "job_1";
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(400);
const BODY_LIMIT: u64 = 64 * 1024;

fn perform(client: &dyn Adapter, call: Call) -> Result<(), Error> {
    match call {
        Call::Cancel => client.cancel_job(JOB).map(|job| assert_eq!(job.status, JobStatus::Cancelled)),
        Call::Get => client.get_job(JOB).map(|job| assert_eq!(job.id, JOB)),
        Call::Enrich => client
            .enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]))
            .map(|created| assert_eq!(created.total_credits_charged, 1)),
    }
}

/// How many times the call's effect happened, by the emulator's ledger.
fn effects(server: &MockServer, call: Call) -> u64 {
    let ledger = server.ledger();
    match call {
        Call::Cancel => ledger.cancels.get(JOB).copied().unwrap_or(0),
        Call::Get => 0,
        Call::Enrich => ledger.enrich_calls,
    }
}

fn check(connect: Connect, fault: fn(Route) -> Fault, expect: fn(Call) -> Expect) {
    for call in CALLS {
        let server = MockServer::start();
        server.insert_job(Job::new(JOB, JobType::EmailVerification, JobStatus::Processing));
        server.inject(fault(call.route()));
        let config =
            settings(&server).attempt_timeout(ATTEMPT_TIMEOUT).body_limit(BODY_LIMIT).build().expect("valid settings");
        let result = perform(&*connect(config), call);
        let done = effects(&server, call);
        match expect(call) {
            Expect::Success => {
                assert!(result.is_ok(), "{call:?}: {result:?}");
                if call != Call::Get {
                    assert_eq!(done, 1, "{call:?} took effect {done} times");
                }
            }
            Expect::Fails(matches, times) => {
                let error = result.expect_err(&format!("{call:?} should fail"));
                assert!(matches(&error), "{call:?}: unexpected {error:?}");
                if call != Call::Get {
                    assert_eq!(done, times, "{call:?} took effect {done} times");
                }
            }
        }
        assert_eq!(server.ledger().faults_served, 1, "{call:?}: each fault here fires once");
    }
}

fn is_timeout(error: &Error) -> bool {
    matches!(error, Error::Transport { source, .. } if source.kind() == TransportErrorKind::Timeout)
        && error.may_have_taken_effect()
}

fn is_lost(error: &Error) -> bool {
    matches!(error, Error::Transport { source, .. }
        if matches!(source.kind(), TransportErrorKind::ConnectionLost | TransportErrorKind::Protocol))
        && error.may_have_taken_effect()
        && error.to_string().contains("may have taken effect")
}

fn is_too_large(error: &Error) -> bool {
    matches!(error, Error::BodyTooLarge { limit: BODY_LIMIT, .. })
}

fn http_date_in(seconds: i64) -> String {
    let at = Timestamp::now() + jiff::SignedDuration::from_secs(seconds);
    at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

mod cases {
    use super::*;

    pub fn throttled_seconds(route: Route) -> Fault {
        Fault::status(429).header("retry-after", "1").on(route).times(1)
    }
    pub fn throttled_date(route: Route) -> Fault {
        Fault::status(429).header("retry-after", &http_date_in(1)).on(route).times(1)
    }
    pub fn html_503(route: Route) -> Fault {
        Fault::status(503).header("content-type", "text/html").body("<html>maintenance</html>").on(route).times(1)
    }
    pub fn empty_500(route: Route) -> Fault {
        Fault::status(500).on(route).times(1)
    }
    pub fn slow_headers(route: Route) -> Fault {
        Fault::status(200).delay(Duration::from_secs(3)).on(route).times(1)
    }
    pub fn stalled_body(route: Route) -> Fault {
        let body = r#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"processing"}}"#;
        Fault::status(200).body(body).stall_body(10, Duration::from_secs(3)).on(route).times(1)
    }
    pub fn truncated_body(route: Route) -> Fault {
        let body = r#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"processing"}}"#;
        Fault::status(200).body(body).truncate_body(20).on(route).times(1)
    }
    pub fn endless_body(route: Route) -> Fault {
        Fault::status(200).endless_body().on(route).times(1)
    }
    pub fn oversized_body(route: Route) -> Fault {
        Fault::status(200).body(vec![b'x'; 4 * 1024 * 1024]).on(route).times(1)
    }
    pub fn reset(route: Route) -> Fault {
        Fault::reset().on(route).times(1)
    }
    pub fn lost_answer(route: Route) -> Fault {
        Fault::lose_answer().on(route).times(1)
    }
    pub fn redirect(route: Route) -> Fault {
        Fault::redirect("http://127.0.0.2:9/v1/enrichment/jobs/job_1/cancel").on(route).times(1)
    }
}

mod expect {
    use super::*;

    pub fn success(_: Call) -> Expect {
        Expect::Success
    }
    pub fn html_503(call: Call) -> Expect {
        let is_503 = |e: &Error| matches!(e, Error::UnexpectedResponse { status, snippet, .. } if status.as_u16() == 503 && snippet == "<html>maintenance</html>");
        if call == Call::Enrich {
            Expect::Fails(is_503, 0)
        } else {
            Expect::Success
        }
    }
    /// A cancel that may have been applied is settled: the read shows the job still cancellable, which proves
    /// nothing about an attempt the server may yet carry out, so the cancel is sent again, and succeeds.
    pub fn empty_500(call: Call) -> Expect {
        if call == Call::Cancel {
            return Expect::Success;
        }
        Expect::Fails(
            |e| matches!(e, Error::UnexpectedResponse { status, snippet, .. } if status.as_u16() == 500 && snippet.is_empty()),
            0,
        )
    }
    pub fn timeout(call: Call) -> Expect {
        // The slow answer was a fault, so nothing was charged; but the client cannot know that.
        if call == Call::Enrich {
            Expect::Fails(is_timeout, 0)
        } else {
            Expect::Success
        }
    }
    pub fn lost(call: Call) -> Expect {
        if call == Call::Enrich {
            Expect::Fails(is_lost, 0)
        } else {
            Expect::Success
        }
    }
    pub fn too_large(call: Call) -> Expect {
        // A 2xx too large to read may hide an applied cancel: settled by a read and a cancel sent again.
        if call == Call::Cancel {
            return Expect::Success;
        }
        Expect::Fails(is_too_large, 0)
    }
    pub fn reset(call: Call) -> Expect {
        if call == Call::Enrich {
            Expect::Fails(|e| matches!(e, Error::Transport { .. }) && e.may_have_taken_effect(), 0)
        } else {
            Expect::Success
        }
    }
    pub fn lost_answer(call: Call) -> Expect {
        // The emulator acted: the enrich was charged once and must not be charged again.
        if call == Call::Enrich {
            Expect::Fails(is_lost, 1)
        } else {
            Expect::Success
        }
    }
    pub fn redirect(_: Call) -> Expect {
        Expect::Fails(|e| matches!(e, Error::Redirect { status, location: Some(_), .. } if status.as_u16() == 307), 0)
    }
}

macro_rules! matrix {
    ($($name:ident => $expect:path),* $(,)?) => {
        mod ureq {
            use super::*;
            $(#[test] fn $name() { check(sendkit_tests::ureq, cases::$name, $expect) })*
        }
        mod hyper {
            use super::*;
            $(#[test] fn $name() { check(sendkit_tests::hyper, cases::$name, $expect) })*
        }
        mod in_memory {
            use super::*;
            $(#[test] fn $name() { check(sendkit_tests::in_memory, cases::$name, $expect) })*
        }
    };
}

matrix!(
    throttled_seconds => expect::success,
    throttled_date => expect::success,
    html_503 => expect::html_503,
    empty_500 => expect::empty_500,
    slow_headers => expect::timeout,
    stalled_body => expect::timeout,
    truncated_body => expect::lost,
    endless_body => expect::too_large,
    oversized_body => expect::too_large,
    reset => expect::reset,
    lost_answer => expect::lost_answer,
    redirect => expect::redirect,
);

/// The emulator's rate limiter can say its budget on every answer (the IETF RateLimit fields), and the SDK shows
/// it to observers on successes, and paces on it: a batch behind it meets far fewer 429s than the requests it makes.
#[test]
fn a_limiter_that_says_its_budget_is_read_on_every_answer() {
    use std::sync::{Arc, Mutex};
    #[derive(Default, Clone)]
    struct Seen(Arc<Mutex<Vec<Option<sendkit_proto::RateLimitStatus>>>>);
    impl sendkit_proto::Observer for Seen {
        fn attempt(&self, record: &sendkit_proto::AttemptRecord<'_>) {
            self.0.lock().unwrap().push(record.rate_limit);
        }
    }
    let server = MockServer::start();
    let ids: Vec<String> = (0..40).map(|i| format!("limited_{i}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Pending));
    }
    server.inject(Fault::rate_limit(20.0, 5).with_rate_limit_headers());
    let seen = Seen::default();
    let config = settings(&server).observer(seen.clone()).build().unwrap();
    let results = sendkit_ureq::Client::new(config).cancel_jobs(ids.iter().cloned(), 4);
    assert!(results.iter().all(|(_, result)| result.is_ok()), "every job cancelled");
    let seen = seen.0.lock().unwrap();
    let budgets: Vec<_> = seen.iter().flatten().collect();
    assert_eq!(budgets.len(), seen.len(), "every answer said the budget");
    assert!(budgets.iter().all(|budget| budget.limit == Some(20)), "{budgets:?}");
    let ledger = server.ledger();
    assert!(ledger.rate_limited * 4 < 40, "{} refusals for 40 cancels", ledger.rate_limited);
}
