//! The simulation as a test: the named late-effect case through both drivers, and a sweep of seeds. `cargo xtask
//! ci` runs 100,000 seeds besides; `cargo xtask sim --seeds N` runs more.

use sendkit_sim::{late_effect, run, Driver};

/// Attempt 1 reaches a slow server and times out; attempts 2 and 3 are reset; the read sees the job `pending`;
/// the server then carries out attempt 1. The outcome must not say "did not take effect": it was cancelled.
#[test]
fn the_late_effect_is_never_reported_as_no_effect() {
    for driver in [Driver::Blocking, Driver::Async] {
        let report = late_effect(driver);
        assert!(report.violations.is_empty(), "{driver:?}: {:?}\n{:#?}", report.violations, report.requests);
        assert_eq!(report.outcomes, ["cancelled"], "{driver:?}: {:#?}", report.requests);
    }
}

#[test]
fn two_thousand_seeded_schedules_keep_every_promise() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..2_000 {
        let report = run(seed);
        assert!(
            report.violations.is_empty(),
            "seed {seed} ({}): {:?}; reproduce: cargo xtask sim --seed {seed}",
            report.what,
            report.violations
        );
        kinds.extend(report.requests.iter().map(|request| request.fault));
    }
    assert_eq!(kinds.len(), sendkit_sim::Fault::WEIGHTS.len(), "every kind of fault was drawn: {kinds:?}");
}

#[test]
fn a_seed_replays_its_schedule_exactly() {
    for seed in [7, 4460, 43795] {
        let (first, second) = (run(seed), run(seed));
        assert_eq!(first.requests, second.requests, "seed {seed}");
        assert_eq!(first.outcomes, second.outcomes, "seed {seed}");
    }
}
