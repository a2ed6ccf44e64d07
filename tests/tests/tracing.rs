//! The spans a call leaves, with the adapters' `tracing` feature. A test binary of its own, with one test: tracing
//! caches per call site whether anyone listens, so spans from tests on other threads would race with this one.

use std::sync::{Arc, Mutex};

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_tests::{settings, Connect};

/// A span as a subscriber sees it: its ID, name and every field recorded.
type SeenSpan = (u64, String, Vec<String>);

/// Spans in order of creation, and events (their message and fields) in order.
#[derive(Default, Clone)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>, Arc<Mutex<Vec<String>>>);

struct Recorder(Spans);

struct Fields<'a>(&'a mut Vec<String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.0 .0.lock().unwrap().push((id.into_u64(), attrs.metadata().name().to_owned(), fields));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0 .1.lock().unwrap().push(format!("{} {}", event.metadata().level(), fields.join(" ")));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut spans = self.0 .0.lock().unwrap();
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(span, _, _)| *span == id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

fn spans_of_one_call(connect: Connect, spans: &Spans) {
    spans.0.lock().unwrap().clear();
    spans.1.lock().unwrap().clear();
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    server.inject(Fault::status(503).on(Route::Cancel).times(1));
    let key = server.api_key().to_owned();
    let client = connect(settings(&server).build().unwrap());
    client.cancel_job("job_1").unwrap();
    // An event as each attempt ends, so that a plain fmt() subscriber shows them without span events.
    let events: Vec<String> = spans.1.lock().unwrap().iter().filter(|e| e.contains("sendkit:")).cloned().collect();
    assert_eq!(
        events,
        [
            "INFO message=sendkit: attempt answered http.response.status_code=503",
            "INFO message=sendkit: retrying in 1ms sendkit.next_wait_ms=1",
            "DEBUG message=sendkit: attempt answered http.response.status_code=200",
        ],
        "{events:#?}"
    );
    assert!(events.iter().all(|line| !line.contains(&key)));
    let spans = spans.0.lock().unwrap().clone();
    let shown: Vec<String> = spans.iter().map(|(_, name, fields)| format!("{name} {}", fields.join(" "))).collect();
    let (url, port) = (format!("{}/v1/enrichment/jobs/job_1/cancel", server.base_url()), server.addr().port());
    let attempt = |resend: u32| {
        format!(
            "sendkit.attempt http.request.method=POST url.full={url} server.address=\"127.0.0.1\" server.port={port} \
             http.request.resend_count={resend}"
        )
    };
    assert_eq!(
        shown,
        [
            "sendkit.call sendkit.operation=\"cancel_job\" sendkit.job_id=\"job_1\"".to_owned(),
            format!("{} sendkit.request_id=\"req_1\" http.response.status_code=503 sendkit.next_wait_ms=1", attempt(0)),
            format!("{} sendkit.request_id=\"req_2\" http.response.status_code=200", attempt(1)),
        ],
    );
    assert!(shown.iter().all(|line| !line.contains(&key)));
}

#[test]
fn spans_per_call_and_attempt_without_secrets() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Recorder(spans.clone())))
        .expect("the only subscriber in this test binary");
    spans_of_one_call(sendkit_tests::ureq, &spans);
    spans_of_one_call(sendkit_tests::hyper, &spans);
}
