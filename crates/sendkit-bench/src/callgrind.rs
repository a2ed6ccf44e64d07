//! What a callgrind profile (`--dump-instr=yes`) says of the code a run executes: how many distinct 64-byte lines
//! of machine code ran at least so many times. On this machine the hot path at concurrency 16 pays for code more
//! than for instructions: raw hyper given 33 KiB more code to run on every call (2.6% more instructions) lost 8.7%
//! of its rate there, 3% at concurrency 1 and 2% at 64 (BENCHMARKS.md, "The hot path at concurrency 16: the code
//! run on every call"). So `--instructions` counts both.

use std::collections::{HashMap, HashSet};

/// The bytes of a cache line: the unit in which a core fetches code.
const LINE: u64 = 64;

/// The distinct cache lines of code, in bytes, that hold an instruction executed at least `times` times, in the
/// callgrind profile `text` (written with `--dump-instr=yes`; the first event is taken to be `Ir`). `None` when the
/// text is not such a profile.
pub fn code_run_at_least(text: &str, times: u64) -> Option<u64> {
    let mut executed: HashMap<(u32, u64), u64> = HashMap::new();
    let mut positions = 0;
    let mut object = 0;
    // The positions of the line before: instruction address, then source line (unused).
    let mut last = [0u64; 2];
    // The line after `calls=` gives the call site and the callee's inclusive cost, not an instruction's own.
    let mut call_cost_next = false;
    for line in text.lines() {
        if let Some(names) = line.strip_prefix("positions:") {
            positions = names.split_whitespace().count();
            if positions > 2 || names.split_whitespace().next().is_none_or(|first| first != "instr") {
                return None;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("ob=") {
            object = compressed_id(rest)?;
            continue;
        }
        if line.starts_with("calls=") {
            call_cost_next = true;
            continue;
        }
        let Some(first) = line.bytes().next() else { continue };
        if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'*')) {
            continue;
        }
        if positions == 0 {
            return None;
        }
        let mut fields = line.split_whitespace();
        for previous in last.iter_mut().take(positions) {
            *previous = subposition(fields.next()?, *previous)?;
        }
        let cost = fields.next().map_or(Some(0), |ir| ir.parse::<u64>().ok())?;
        if std::mem::take(&mut call_cost_next) {
            continue;
        }
        *executed.entry((object, last[0])).or_default() += cost;
    }
    if positions == 0 {
        return None;
    }
    let lines: HashSet<(u32, u64)> = executed
        .into_iter()
        .filter(|(_, count)| *count >= times)
        .map(|((object, address), _)| (object, address / LINE))
        .collect();
    Some(lines.len() as u64 * LINE)
}

/// The number in a compressed name, `(7)` or `(7) /path/of/it`.
fn compressed_id(field: &str) -> Option<u32> {
    field.strip_prefix('(')?.split(')').next()?.parse().ok()
}

/// A position column: absolute (`0x1f40`, `17`), relative to the line before (`+4`, `-0x10`), or the same (`*`).
fn subposition(field: &str, previous: u64) -> Option<u64> {
    let number = |digits: &str| match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => digits.parse::<u64>().ok(),
    };
    match field.as_bytes().first()? {
        b'*' => Some(previous),
        b'+' => previous.checked_add(number(&field[1..])?),
        b'-' => previous.checked_sub(number(&field[1..])?),
        _ => number(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "# callgrind format
version: 1
positions: instr line
events: Ir Ge
summary: 1000

ob=(1) /bench
fl=(1) ???
fn=(1) hot
0x1000 0 3000 2
+4 0 3000
+60 * 3000
-0x40 0 10
fn=(2) caller
0x2000 0 3000
calls=3000 0x1000 0
* 0 9000
ob=(2) /libc
fn=(3) once
0x1000 0 1
";

    #[test]
    fn counts_each_line_of_code_run_enough_once() {
        // Object 1: lines 0x1000 (two instructions, and one run 10 times) and 0x1040, and the caller's line 0x2000;
        // the caller's inclusive cost of the call is not its own. Object 2's line at the same address ran once.
        assert_eq!(code_run_at_least(PROFILE, 3000), Some(3 * 64));
        assert_eq!(code_run_at_least(PROFILE, 1), Some(4 * 64));
        // Counted by instruction: 0x1000 ran 3,010 times, every other instruction at most 3,000.
        assert_eq!(code_run_at_least(PROFILE, 3001), Some(64));
        assert_eq!(code_run_at_least(PROFILE, 3011), Some(0));
    }

    #[test]
    fn refuses_what_is_not_a_profile_by_instruction() {
        assert_eq!(code_run_at_least("events: Ir\n0x10 5\n", 1), None);
        assert_eq!(code_run_at_least("positions: line\nevents: Ir\n10 5\n", 1), None);
        assert_eq!(code_run_at_least("positions: instr\nevents: Ir\n0xzz 5\n", 1), None);
    }

    #[test]
    fn subpositions() {
        assert_eq!(subposition("0x10", 0), Some(16));
        assert_eq!(subposition("+4", 16), Some(20));
        assert_eq!(subposition("-0x4", 20), Some(16));
        assert_eq!(subposition("*", 7), Some(7));
        assert_eq!(subposition("-9", 7), None);
    }
}
