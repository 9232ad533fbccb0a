//! Running the plugins of one point side by side: dealt out to the
//! workers by their home instance (kube-scheduler's `parallelize`).

use super::*;

/// Batches smaller than this run on one worker: a thread costs more than
/// the plugins save.
pub(super) const MIN_PARALLEL_BATCH: usize = 256;

impl ProfileFramework {
    /// Deals plugins (`running`: their positions in a point's list) out to
    /// the workers by their home instance (`slot` gives a position's slot):
    /// one group per worker, each in profile order; one group of all unless
    /// `parallel`.
    pub(super) fn deal(
        &self,
        running: &[usize],
        slot: impl Fn(usize) -> usize,
        parallel: bool,
    ) -> Vec<Vec<usize>> {
        if !parallel || self.workers == 1 {
            return vec![running.to_vec()];
        }
        let mut groups = vec![Vec::new(); self.workers];
        for &position in running {
            groups[self.slots[slot(position)].home].push(position);
        }
        groups.retain(|g| !g.is_empty());
        groups
    }

    /// Runs `f` for each group, in parallel when there is more than one:
    /// the first on this thread, the others on threads of their own.
    pub(super) fn on_workers<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync,
    ) -> Vec<R> {
        let Some((first, others)) = items.split_first() else {
            return Vec::new();
        };
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = others
                .iter()
                .map(|item| scope.spawn(move || f(item)))
                .collect();
            let mut results = vec![f(first)];
            results.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a scheduling worker panicked")),
            );
            results
        })
    }
}
