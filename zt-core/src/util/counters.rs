//! Counters for the hot path: split in per-thread shards on their own cache lines, so adding
//! never contends with another core; reading sums the shards.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter (and per metrics recorder).
pub(crate) const SHARDS: usize = 8;

/// The calling thread's shard, fixed at its first call.
pub(crate) fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A counter split in per-thread shards on their own cache lines: adding never contends with
/// another core; reading sums the shards.
pub(crate) struct ShardedCounter([Padded<AtomicU64>; SHARDS]);

#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub(crate) T);

impl Default for ShardedCounter {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Padded::default()))
    }
}

impl ShardedCounter {
    pub(crate) fn add(&self, n: u64) {
        if let Some(c) = self.0.get(shard_index()) {
            c.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}
