//! Memory freed and kept by the allocator is handed back to the system. Alone in its test
//! binary (its own process): it reads the process's resident memory.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// The process's anonymous resident memory (`RssAnon`), in KiB.
fn anonymous_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("an RssAnon line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of KiB")
}

/// Frees `blocks` blocks of 4 KiB, written to so that they are resident, that a block made
/// after them pins below the heap's top (so glibc cannot shrink the heap by itself); returns
/// the KiB resident before and after `freed_memory`.
fn check(blocks: usize) -> (u64, u64) {
    let freed: Vec<Box<[u8]>> =
        (0..blocks).map(|i| vec![u8::try_from(i % 251).unwrap_or(1); 4096].into()).collect();
    let pin = vec![1_u8; 4096].into_boxed_slice();
    drop(freed);
    let before = anonymous_kib();
    let handed_back = lucarne_search::release::freed_memory();
    let after = anonymous_kib();
    assert!(handed_back, "glibc returned nothing");
    assert_eq!(pin.iter().map(|&b| u64::from(b)).sum::<u64>(), 4096, "a live block is untouched");
    (before, after)
}

#[test]
fn the_pages_freed_under_a_live_block_are_returned() {
    // 64 MiB in blocks glibc serves from its heap (under its 128 KiB mmap threshold).
    let (before, after) = check(16_384);
    assert!(
        after + 48 * 1024 <= before,
        "resident {before} KiB before, {after} KiB after: under 48 MiB returned"
    );
}
