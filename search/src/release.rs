//! Memory a build used and freed, handed back to the system.
//!
//! ```
//! // After a burst of work whose memory is free again (an index built, its input dropped):
//! let handed_back: bool = lucarne_search::release::freed_memory();
//! # let _ = handed_back;
//! ```
//!
//! glibc's allocator keeps what a program frees for later use: it returns memory to the system
//! only from the top of a heap, and it raises its threshold for mapping large blocks on their
//! own each time such a block is freed, so a build's temporaries (tantivy's 1 MiB arena pages,
//! its term hash table, the rows it was given) stay resident in the heap of the
//! thread that used them long after the build. `malloc_trim` walks every arena and returns
//! each whole free page. It is the workspace's one `unsafe` call (`cargo xtask layers` checks
//! that no other file names the `unsafe_code` lint); elsewhere than glibc this does nothing
//! (musl, macOS and Windows have no such call).
//!
//! It locks each arena in turn while it walks it, so it belongs after a burst, not on a hot
//! path: [`SearchIndex::finish_build`](crate::SearchIndex::finish_build) calls it once a build.

/// Returns every whole free page the allocator holds to the system; true when glibc says some
/// memory was returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "malloc_trim: glibc's call to return freed pages (see the module docs)")]
#[must_use = "whether memory was returned (informative: nothing returned is not a failure)"]
pub fn freed_memory() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and reads no memory of ours; glibc locks each
    // arena while it releases that arena's free pages, as every allocator call does.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Does nothing: this allocator has no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
#[must_use = "whether memory was returned (informative: nothing returned is not a failure)"]
pub fn freed_memory() -> bool {
    false
}
