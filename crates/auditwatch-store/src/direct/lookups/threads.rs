//! Work dealt over the cores: [`share_out`] splits it into parts of about equal
//! weight, [`on_threads`] runs one scoped thread a part.

/// `work` dealt into at most `n` non-empty parts of about the same `weight` each, the
/// heaviest first to the lightest part.
pub(crate) fn share_out<T>(work: &[T], n: usize, weight: impl Fn(&T) -> usize) -> Vec<Vec<&T>> {
    let mut order: Vec<&T> = work.iter().collect();
    order.sort_by_key(|w| std::cmp::Reverse(weight(w)));
    let mut parts: Vec<(usize, Vec<&T>)> = Vec::new();
    parts.resize_with(n.max(1), || (0, Vec::new()));
    for w in order {
        let lightest = parts
            .iter_mut()
            .min_by_key(|p| p.0)
            .expect("at least one part");
        lightest.0 += weight(w);
        lightest.1.push(w);
    }
    parts
        .into_iter()
        .map(|p| p.1)
        .filter(|w| !w.is_empty())
        .collect()
}

/// `f` of each part, each on a thread of its own when there are several.
pub(crate) fn on_threads<P: Sync, R: Send>(parts: &[P], f: impl Fn(&P) -> R + Sync) -> Vec<R> {
    if parts.len() < 2 {
        return parts.iter().map(f).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.iter().map(|part| scope.spawn(|| f(part))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
