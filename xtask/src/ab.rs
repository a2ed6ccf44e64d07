//! `cargo xtask ab BEFORE AFTER`: two builds of `sendkit-bench` side by side, run after run, to tell whether a
//! change to the hot path moved it.
//!
//! One run of a build reads the SDK's paired ratio to the raw client within about ±1% of its own median, yet the
//! next run of the same build may read 2-3% apart: how the runtimes' threads sit on the cores is fixed for a run
//! and changes between runs. A difference of 1% between two builds therefore needs many runs of each, alternated
//! (ABBA, so that a drift over the minutes weighs on both alike), and the mean of the differences pair by pair
//! with its standard error. BENCHMARKS.md ("The hot path at concurrency 16: what the gap is not") has the figures.

use std::path::PathBuf;
use std::process::Command;

/// What to compare, as given on the command line.
#[derive(Debug, PartialEq)]
struct Plan {
    before: PathBuf,
    after: PathBuf,
    pairs: usize,
    rounds: usize,
    only: String,
    row: String,
}

const USAGE: &str = "usage: cargo xtask ab BEFORE AFTER [--pairs 20] [--rounds 40] [--only \"hyper c=16\"] \
                     [--row \"sendkit-hyper c=16\"]   (BEFORE and AFTER: sendkit-bench binaries of two builds)";

fn plan(args: &[String]) -> Result<Plan, String> {
    let mut paths = Vec::new();
    let (mut pairs, mut rounds) = (20, 40);
    let (mut only, mut row) = ("hyper c=16".to_owned(), "sendkit-hyper c=16".to_owned());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        let count = |text: String| text.parse::<usize>().ok().filter(|n| *n > 0);
        match arg.as_str() {
            "--pairs" => {
                pairs = count(value()?).ok_or_else(|| format!("--pairs is a whole number above 0\n{USAGE}"))?
            }
            "--rounds" => {
                rounds = count(value()?).ok_or_else(|| format!("--rounds is a whole number above 0\n{USAGE}"))?
            }
            "--only" => only = value()?,
            "--row" => row = value()?,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}\n{USAGE}")),
            path => paths.push(PathBuf::from(path)),
        }
    }
    let [before, after]: [PathBuf; 2] =
        paths.try_into().map_err(|_| format!("give two sendkit-bench binaries\n{USAGE}"))?;
    Ok(Plan { before, after, pairs, rounds, only, row })
}

/// The paired median of `row` in a table `sendkit-bench` printed: the first figure in bold on that row (its
/// "paired: SDK / raw" column).
fn paired_median(table: &str, row: &str) -> Option<f64> {
    let line = table.lines().find(|line| line.starts_with(&format!("| {row} |")))?;
    let (_, after) = line.split_once("**")?;
    let (figure, _) = after.split_once("**")?;
    figure.trim().parse().ok()
}

/// What the pairs say: each build's median, and the mean of the differences (after less before) with its standard
/// error, and how many pairs read higher after.
#[derive(Debug, PartialEq)]
struct Summary {
    median_before: f64,
    median_after: f64,
    mean_difference: f64,
    standard_error: f64,
    higher_after: usize,
}

fn summary(pairs: &[(f64, f64)]) -> Option<Summary> {
    if pairs.len() < 2 {
        return None;
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len() % 2 == 0 {
            (values[middle - 1] + values[middle]) / 2.0
        } else {
            values[middle]
        }
    };
    let differences: Vec<f64> = pairs.iter().map(|(before, after)| after - before).collect();
    let n = differences.len() as f64;
    let mean = differences.iter().sum::<f64>() / n;
    let variance = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(Summary {
        median_before: median(pairs.iter().map(|pair| pair.0).collect()),
        median_after: median(pairs.iter().map(|pair| pair.1).collect()),
        mean_difference: mean,
        standard_error: (variance / n).sqrt(),
        higher_after: differences.iter().filter(|d| **d > 0.0).count(),
    })
}

/// One run of `binary`: the paired median of the plan's row.
fn measure(binary: &PathBuf, plan: &Plan) -> Result<f64, String> {
    let rounds = plan.rounds.to_string();
    let output =
        crate::run(Command::new(binary).args(["--rounds", &rounds, "--server", "fixed", "--only", &plan.only]))?;
    if !output.status.success() {
        return Err(format!("{} failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr)));
    }
    let table = String::from_utf8_lossy(&output.stdout);
    paired_median(&table, &plan.row)
        .ok_or_else(|| format!("{} printed no paired median for the row {:?}", binary.display(), plan.row))
}

/// Runs the plan: pair after pair, the builds in turn (before then after, then after then before), printing each
/// pair and then the summary.
pub fn ab(args: &[String]) -> Result<(), String> {
    let plan = plan(args)?;
    println!(
        "{} against {}: {:?}, paired median of the SDK to raw, {} rounds a run, {} pairs in ABBA order",
        plan.after.display(),
        plan.before.display(),
        plan.row,
        plan.rounds,
        plan.pairs
    );
    let mut pairs = Vec::with_capacity(plan.pairs);
    for pair in 0..plan.pairs {
        let (before, after) = if pair % 2 == 0 {
            let before = measure(&plan.before, &plan)?;
            (before, measure(&plan.after, &plan)?)
        } else {
            let after = measure(&plan.after, &plan)?;
            (measure(&plan.before, &plan)?, after)
        };
        println!("pair {:>3}: before {before:.3}, after {after:.3}", pair + 1);
        pairs.push((before, after));
    }
    match summary(&pairs) {
        Some(s) => println!(
            "medians: before {:.3}, after {:.3}; after less before, pair by pair: {:+.2}% (± {:.2}%, one standard \
             error), higher after in {} of {}",
            s.median_before,
            s.median_after,
            s.mean_difference * 100.0,
            s.standard_error * 100.0,
            s.higher_after,
            pairs.len()
        ),
        None => println!("one pair says nothing of the spread: ask for at least two (--pairs)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "| contender | ops/s (median) | p50 | p99 | CPU per call | SDK / raw | SDK / raw + timeout | paired: SDK / raw | paired: SDK / raw + timeout |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| sendkit-hyper c=16 | 65424 | 194 µs | 586 µs | 23.4 µs | 0.928 | 0.976 | **0.928** [0.913–0.937] (0.825–1.051) | **0.965** [0.952–0.978] (0.862–1.096) |
| sendkit-hyper c=1 | 15962 | 65 µs | 126 µs | 48.2 µs | 0.950 | 0.971 | **0.975** [0.965–0.984] (0.900–1.065) | **0.990** [0.985–1.000] (0.913–1.078) |";

    #[test]
    fn a_rows_paired_median_is_its_first_figure_in_bold() {
        assert_eq!(paired_median(TABLE, "sendkit-hyper c=16"), Some(0.928));
        assert_eq!(paired_median(TABLE, "sendkit-hyper c=1"), Some(0.975));
        assert_eq!(paired_median(TABLE, "sendkit-hyper c=64"), None, "a row the table lacks");
        assert_eq!(paired_median("| sendkit-hyper c=16 | 65424 |", "sendkit-hyper c=16"), None, "no bold figure");
    }

    #[test]
    fn the_summary_is_the_mean_difference_with_its_standard_error() {
        let s = summary(&[(0.94, 0.95), (0.96, 0.95), (0.93, 0.96), (0.95, 0.98)]).unwrap();
        assert_eq!((s.median_before, s.median_after), (0.945, 0.955));
        // Differences 0.01, -0.01, 0.03, 0.03: mean 0.015, sample deviation 0.0191, over the root of 4.
        assert!((s.mean_difference - 0.015).abs() < 1e-12, "{s:?}");
        assert!((s.standard_error - 0.019_148_542 / 2.0).abs() < 1e-6, "{s:?}");
        assert_eq!(s.higher_after, 3);
        assert_eq!(summary(&[(0.9, 0.95)]), None, "one pair has no spread");
    }

    #[test]
    fn the_command_line_names_two_builds_and_may_change_the_rest() {
        let args = |line: &[&str]| line.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>();
        let plan = plan(&args(&["a", "b", "--pairs", "30", "--only", "hyper c=64", "--row", "sendkit-hyper c=64"]));
        assert_eq!(
            plan.unwrap(),
            Plan {
                before: "a".into(),
                after: "b".into(),
                pairs: 30,
                rounds: 40,
                only: "hyper c=64".into(),
                row: "sendkit-hyper c=64".into()
            }
        );
        assert!(super::plan(&args(&["a"])).unwrap_err().contains("give two sendkit-bench binaries"));
        assert!(super::plan(&args(&["a", "b", "--pairs", "0"])).unwrap_err().contains("--pairs is a whole number"));
        assert!(super::plan(&args(&["a", "b", "--pairs"])).unwrap_err().contains("--pairs needs a value"));
        assert!(super::plan(&args(&["a", "b", "--fast"])).unwrap_err().contains("unknown option --fast"));
    }
}
