//! Tuning for the allocator Weir is built to run on. Batches are large, short-lived buffers: mimalloc
//! reuses them where glibc maps and unmaps fresh pages. The binary (`main.rs`) and the benchmarks
//! (`benches/common`) choose it as their global allocator; the library chooses none, so a program that
//! embeds Weir keeps its own.

use libmimalloc_sys::mi_option_t;

/// `mi_option_purge_delay` in mimalloc 3 (libmimalloc-sys 0.1.49), which does not export it.
const PURGE_DELAY: mi_option_t = 15;

/// With mimalloc as the allocator: keeps freed memory for reuse instead of handing it back to the OS
/// after a delay (with another allocator it changes nothing). A job frees and
/// allocates the same batch-sized buffers every batch, so handing them back only buys `madvise` calls
/// and their kernel work (system time in the word-count benchmark: 0.24-0.55 s with this, up to 1.8 s
/// without). The price: the process keeps its peak size, as a JVM keeps its heap.
///
/// ```
/// weir::memory::keep_freed_memory();
/// let v = vec![0u8; 1 << 20];
/// drop(v);
/// ```
pub fn keep_freed_memory() {
    // SAFETY: sets a process-wide option; mimalloc reads options with atomics, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}
