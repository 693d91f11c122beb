//! How far a document's word may be from a query word and still match.
//!
//! Words are compared folded ([`fold`](crate::fold)), character by character. A query word of
//! fewer than 5 characters must match exactly, one of 5 to 8 may carry one typo, one of 9 or more
//! two; a typo is a character inserted, deleted or replaced, or two adjacent characters swapped
//! (the optimal string alignment distance). The last word of a query also matches the start of a
//! longer word, with the same allowance, so that a search works as it is typed.
//!
//! ```
//! use lucarne_search::typo::{allowed, matches};
//!
//! assert_eq!(allowed("ada".chars().count()), 0);
//! assert_eq!(matches("lovelcae", "lovelace", false), Some(1)); // a swap is one typo
//! assert_eq!(matches("lov", "lovelace", true), Some(0)); // as typed
//! assert_eq!(matches("adq", "ada", false), None); // too short for a typo
//! ```

/// Typos allowed in a query word of `chars` characters.
pub fn allowed(chars: usize) -> u8 {
    match chars {
        0..5 => 0,
        5..9 => 1,
        _ => 2,
    }
}

/// The optimal string alignment distance between two words: insertions, deletions,
/// substitutions and swaps of two adjacent characters, each counting one.
pub fn distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the dynamic programme: two back (for swaps), one back, this one.
    let width = b.len() + 1;
    let (mut before, mut last, mut row): (Vec<usize>, Vec<usize>, Vec<usize>) =
        (vec![0; width], (0..width).collect(), vec![0; width]);
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

/// The typos with which a folded document word matches a folded query word (`prefix`: the
/// query word may also be the start of it), or `None`.
pub fn matches(query: &str, word: &str, prefix: bool) -> Option<u8> {
    let q: Vec<char> = query.chars().collect();
    let w: Vec<char> = word.chars().collect();
    let allowed = usize::from(allowed(q.len()));
    let best = if prefix {
        // The closest start of the word; starts shorter or longer than the allowance cannot be
        // close enough.
        let shortest = q.len().saturating_sub(allowed);
        let longest = (q.len() + allowed).min(w.len());
        (shortest..=longest).filter(|&n| n <= w.len()).map(|n| distance(&q, &w[..n])).min()?
    } else {
        distance(&q, &w)
    };
    // At most 2: `allowed` never passes it.
    (best <= allowed).then(|| u8::try_from(best).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_a_swap_once_and_edits_nothing_twice() {
        let d = |a: &str, b: &str| distance(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>());
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("ab", "ba"), 1);
        assert_eq!(d("ca", "abc"), 3); // optimal string alignment, not unrestricted Damerau (2)
        assert_eq!(d("kitten", "sitting"), 3);
    }
}
