//! How the allocator keeps memory between chunks.
//!
//! A pass allocates and frees buffers of a few MiB all the time: each chunk's
//! columns, parquet's page buffers, the compressed pages. glibc serves such
//! sizes with `mmap` and gives them back to the kernel when freed (its dynamic
//! threshold only rises after the first free), so every new buffer was fresh
//! pages: on the 1 GB benchmark file, 126,000 page faults and 0.68 s of system
//! time, a sixth of the CPU a conversion used. Raising the thresholds lets the
//! freed buffers be reused instead: 32,000 faults, 0.35 s (BENCHMARKS.md,
//! issue 17). The memory a pass holds is bounded by its channels either way;
//! [`release_free_memory`] hands what is left over back after a job.

use std::sync::Once;

/// Buffers up to this size come from the heap, not from their own `mmap`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 64 << 20;
/// Free memory at the top of a heap kept for reuse rather than returned at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 << 20;

static TUNED: Once = Once::new();

static ACCEPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets freed chunk-sized buffers be reused (glibc only; other allocators keep
/// their own policy). Idempotent; called by every conversion. True when the
/// allocator took both thresholds (a refused one leaves its default).
pub(crate) fn keep_freed_buffers() -> bool {
    TUNED.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe
        // and returns 0 for a value it refuses (the default then stays).
        let accepted = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        let accepted = true;
        ACCEPTED.store(accepted, std::sync::atomic::Ordering::Relaxed);
    });
    ACCEPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Returns the free memory the allocator still holds to the kernel: a
/// long-running service calls it after each job, so the buffers kept for reuse
/// during a conversion do not stay resident while it idles.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_twice_and_trimming_leave_allocation_working() {
        assert!(keep_freed_buffers(), "glibc refused the thresholds");
        assert!(keep_freed_buffers());
        let big: Vec<Vec<u8>> = (0..4).map(|i| vec![i as u8; 8 << 20]).collect();
        assert!(big
            .iter()
            .enumerate()
            .all(|(i, b)| b[b.len() - 1] == i as u8));
        drop(big);
        release_free_memory();
        let again = vec![7u8; 8 << 20];
        assert_eq!(
            again.iter().map(|&b| b as usize).sum::<usize>(),
            7 * (8 << 20)
        );
    }
}
