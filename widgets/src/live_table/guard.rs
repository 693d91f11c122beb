//! A click lands on the row the user aimed at: when the rows move under a pointer that stays
//! still (a live change re-sorts the table, the row clicked a moment ago leaves the filtered
//! view), the row that arrives under it ignores clicks for a moment, so the second click of a
//! double click never acts on another order. Moving the pointer onto a row aims at it at once.

use iced_core::time::{Duration, Instant};

/// How long a row that arrived under a still pointer ignores clicks.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);

/// What brought the row under the pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The pointer moved onto it.
    Pointer,
    /// The rows moved while the pointer stood still.
    Rows,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Under {
    /// The row's key (`None`: no row).
    key: Option<String>,
    since: Instant,
    cause: Cause,
}

/// Which row is under the pointer, since when, and why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Guard {
    under: Option<Under>,
}

impl Guard {
    /// The pointer moved; `key` is the row now under it.
    pub(crate) fn pointer_moved(&mut self, key: Option<&str>, now: Instant) {
        self.under = Some(Under { key: key.map(str::to_owned), since: now, cause: Cause::Pointer });
    }

    /// The table was drawn with `key` under the pointer: another row than before means the rows
    /// moved under it.
    pub(crate) fn drawn(&mut self, key: Option<&str>, now: Instant) {
        match &self.under {
            Some(under) if under.key.as_deref() == key => {}
            Some(_) => {
                self.under = Some(Under { key: key.map(str::to_owned), since: now, cause: Cause::Rows })
            }
            // Nothing known of the pointer yet: the row is where it was found.
            None => {
                self.under = Some(Under { key: key.map(str::to_owned), since: now, cause: Cause::Pointer })
            }
        }
    }

    /// Whether a press on row `key` at `now` is meant for it.
    pub(crate) fn allows(&self, key: &str, now: Instant) -> bool {
        match &self.under {
            Some(Under { key: Some(under), since, cause: Cause::Rows }) if under == key => {
                now.saturating_duration_since(*since) >= SETTLE
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        Moved(Option<&'static str>),
        Drawn(Option<&'static str>),
        /// A press on this row: whether it counts.
        Press(&'static str, bool),
    }

    /// Runs `steps`, each at its time in milliseconds.
    fn check(steps: &[(u64, Step)]) {
        let start = Instant::now();
        let mut guard = Guard::default();
        for (i, (ms, step)) in steps.iter().enumerate() {
            let now = start + Duration::from_millis(*ms);
            match step {
                Step::Moved(key) => guard.pointer_moved(*key, now),
                Step::Drawn(key) => guard.drawn(*key, now),
                Step::Press(key, counts) => {
                    assert_eq!(guard.allows(key, now), *counts, "step {i}: press on {key}")
                }
            }
        }
    }

    #[test]
    fn a_row_that_slid_under_a_still_pointer_ignores_clicks_for_a_moment() {
        use Step::*;
        check(&[
            (0, Moved(Some("o-1"))),
            (100, Press("o-1", true)),
            // o-1 left the view: o-2 slid under the pointer.
            (120, Drawn(Some("o-2"))),
            (300, Press("o-2", false)),
            (619, Press("o-2", false)),
            (620, Press("o-2", true)),
        ]);
    }

    #[test]
    fn moving_the_pointer_onto_a_row_aims_at_it_at_once() {
        use Step::*;
        check(&[
            (0, Drawn(Some("o-1"))),
            (10, Press("o-1", true)),
            (20, Drawn(Some("o-2"))),
            (30, Press("o-2", false)),
            (40, Moved(Some("o-2"))),
            (41, Press("o-2", true)),
            // Redrawn with the same row under the pointer: nothing changes.
            (50, Drawn(Some("o-2"))),
            (51, Press("o-2", true)),
            // Another row than the one that slid under: not guarded.
            (60, Drawn(Some("o-3"))),
            (61, Press("o-4", true)),
        ]);
    }
}
