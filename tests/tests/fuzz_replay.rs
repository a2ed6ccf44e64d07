//! The fuzz targets' invariants, replayed as ordinary tests on every committed corpus input and on generated ones:
//! a target that no longer matches the code fails here, in seconds, on the stable toolchain. `cargo xtask fuzz`
//! stays for long, coverage-guided runs of the same invariants.

use std::path::Path;

use proptest::prelude::*;

#[path = "../../fuzz/invariants/job_id.rs"]
mod job_id;
#[path = "../../fuzz/invariants/parse_response.rs"]
mod parse_response;
#[path = "../../fuzz/invariants/retry_after.rs"]
mod retry_after;

/// Every input committed for `target`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    inputs
}

#[test]
fn committed_corpora_hold() {
    for input in corpus("job_id") {
        // libFuzzer hands a `&str` target only inputs that are UTF-8.
        if let Ok(id) = std::str::from_utf8(&input) {
            job_id::check(id);
        }
    }
    for input in corpus("parse_response") {
        parse_response::check(&input);
    }
    for input in corpus("retry_after") {
        retry_after::check(&input);
    }
}

#[test]
fn the_inputs_that_matter_for_retry_after_hold() {
    for value in ["0", "10", "99999999999999999999", "Tue, 14 Nov 2023 22:13:30 GMT", "soon", "-1", " 7 "] {
        retry_after::check(value.as_bytes());
    }
}

#[test]
fn the_inputs_that_matter_for_job_ids_hold() {
    for id in ["", ".", "..", "...", "./", "a/b", "%2E%2E", "job 1", "ü", "?x#y", "\u{0}"] {
        job_id::check(id);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn generated_job_ids_hold(id in any::<String>()) {
        job_id::check(&id);
    }

    #[test]
    fn generated_dotted_job_ids_hold(id in "[./%2Ee]{0,6}") {
        job_id::check(&id);
    }

    #[test]
    fn generated_answers_hold(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_response::check(&data);
    }

    #[test]
    fn generated_retry_after_holds(data in proptest::collection::vec(any::<u8>(), 0..64), digits in "[0-9]{1,12}") {
        retry_after::check(&data);
        retry_after::check(digits.as_bytes());
    }
}
