//! The process's allocator: mimalloc, with the node's memory kept once it has been used.
//!
//! mimalloc instead of the system allocator: the node allocates per request (decoded rows,
//! values, keys) on every core at once, and glibc's malloc showed as ~12 % of a node's CPU
//! (arena locking, consolidation); mimalloc's thread-local free lists are made for that.

use std::ffi::{c_int, c_long};

// mimalloc's option calls. The static library the `mimalloc` crate builds and links defines
// them; its bindings declare them only behind a feature that needs another crate.
extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_option_get(option: c_int) -> c_long;
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e` of mimalloc 3, which the
/// bindings do not name). The test below checks it against that option's documented default.
const PURGE_DELAY: c_int = 15;

/// Makes mimalloc keep the pages it frees instead of returning them to the kernel.
///
/// Why: by default mimalloc returns pages that stay free for a second (`madvise`), and a node
/// under steady load frees and reuses pages all the time, so it faulted them back in, zeroed
/// 2 MiB at a time where transparent huge pages apply: 14-18 thousand page faults in 8 s of
/// GETs on two shards, about 1.5 µs of the node's CPU per request and ~5 % of its throughput
/// (BENCHMARKS.md, "The allocator's page churn"). The node's memory is bounded by its
/// configuration (memtables, block cache, bounded queues), so keeping the high-water mark is
/// what a server sized for its host wants; ScyllaDB takes all of its memory at start.
pub fn retain_freed_pages() {
    // SAFETY: setting an option is a plain store that mimalloc reads when it next purges.
    unsafe { mi_option_set(PURGE_DELAY, -1) };
    // SAFETY: reading an option has no preconditions.
    debug_assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_we_set() {
        // mimalloc 3's default purge delay is 1000 ms; any other option at this place has a
        // different default, so a renumbered enum fails here rather than setting the wrong one.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reading an option has no preconditions.
            assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1000);
        }
        retain_freed_pages();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
    }
}
