//! Percentiles of measured samples, for benchmarks and tests that print them.

/// The index of the `p`-quantile (`p` from 0 to 1) in a sorted sample of `len` values, by
/// nearest rank; 0 for an empty sample.
///
/// ```
/// let sorted = [1, 2, 3, 4, 100];
/// assert_eq!(sorted[lucarne_testing::rank(sorted.len(), 0.5)], 3);
/// assert_eq!(sorted[lucarne_testing::rank(sorted.len(), 0.99)], 100);
/// assert_eq!(lucarne_testing::rank(0, 0.5), 0);
/// ```
pub fn rank(len: usize, p: f64) -> usize {
    let Some(last) = len.checked_sub(1) else { return 0 };
    #[expect(clippy::cast_possible_truncation, reason = "at most `last` after the clamp; `as` saturates")]
    let at = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
    at.min(last)
}
