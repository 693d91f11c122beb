//! Waiting for a condition, polled, instead of sleeping a fixed time.

use std::time::{Duration, Instant};

/// How often a condition is polled.
const EVERY: Duration = Duration::from_millis(50);

/// Polls `ok` until it holds (true) or `timeout` passes (false); `ok` is asked once more at the
/// end, so a condition that holds by then counts.
pub fn poll_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if ok() {
            return true;
        }
        std::thread::sleep(EVERY);
    }
    ok()
}

/// Polls `ok` until it holds; fails the test with `timed out waiting for {what}` after
/// `timeout`.
///
/// ```
/// let mut n = 0;
/// lucarne_testing::wait_for("three polls", std::time::Duration::from_secs(5), || {
///     n += 1;
///     n == 3
/// });
/// ```
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
    assert!(poll_until(timeout, ok), "timed out after {timeout:?} waiting for {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_is_polled_until_it_holds_or_the_time_is_up() {
        let mut polls = 0;
        assert!(poll_until(Duration::from_secs(5), || {
            polls += 1;
            polls == 3
        }));
        assert_eq!(polls, 3);
        let started = Instant::now();
        assert!(!poll_until(Duration::from_millis(200), || false));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
