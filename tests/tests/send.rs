//! The async client's futures are `Send`, as its documentation promises: they can be spawned on a multi-threaded
//! runtime. Checked by the compiler: this file only builds if they are.

use sendkit_hyper::{Client, Config, WaitPolicy};
use sendkit_model::{EnrichRequest, EnrichmentType};

fn spawnable<T: Send>(_: &T) {}

#[test]
fn the_async_clients_futures_can_be_spawned() {
    let client = Client::new(Config::builder("sk_live_0123456789").build().unwrap());
    let cancel = client.cancel_job("job_1");
    let get = client.get_job("job_1");
    let enrich = client.enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]));
    let wait = client.wait_for_job("job_1", WaitPolicy::default(), |_| {});
    let wait_many = client.wait_for_jobs(["job_1"], WaitPolicy::default(), 2, |_| {});
    let cancel_many = client.cancel_jobs(["job_1", "job_2"], 2);
    let progress = sendkit_hyper::BatchProgress::new(1);
    let tracked =
        client.cancel_jobs_tracked(vec!["job_1".into()], 1, &progress, |_, _, _| std::ops::ControlFlow::Continue(()));
    spawnable(&cancel);
    spawnable(&get);
    spawnable(&enrich);
    spawnable(&wait);
    spawnable(&wait_many);
    spawnable(&cancel_many);
    spawnable(&tracked);
}
