//! RING_HASH (Ketama-style consistent hashing): every host owns points on a 64-bit ring in
//! proportion to its weight; a request hash goes to the first point at or after it. Built once
//! per host-set change.

use super::xxhash::xxh64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    /// (point, host index), sorted by point.
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// `keys` name the hosts (their addresses), `weights` are their weights (at least 1).
    /// The ring has at least `min_size` points (scaled so the lightest host gets its share)
    /// and at most about `max_size`.
    pub fn build(keys: &[String], weights: &[u32], min_size: u64, max_size: u64) -> Ring {
        let total: f64 = weights.iter().map(|w| f64::from((*w).max(1))).sum();
        if keys.is_empty() || total == 0.0 {
            return Ring::default();
        }
        let normalized: Vec<f64> = weights
            .iter()
            .map(|w| f64::from((*w).max(1)) / total)
            .collect();
        let min_weight = normalized.iter().copied().fold(f64::MAX, f64::min);
        let scale = ((min_weight * min_size as f64).ceil() / min_weight).min(max_size as f64);
        let mut points = Vec::with_capacity(scale.ceil() as usize + keys.len());
        for (i, key) in keys.iter().enumerate() {
            let count = (scale * normalized[i]).ceil().max(1.0) as u64;
            for n in 0..count {
                let point = xxh64(format!("{key}_{n}").as_bytes(), 0);
                points.push((point, u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Host indexes in ring order from the point owning `hash`: the first is the owner, the
    /// next ones are where a request goes when earlier hosts are unusable.
    pub fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|(p, _)| *p < hash);
        let n = self.points.len();
        (0..n).map(move |k| self.points[(start + k) % n].1 as usize)
    }

    pub fn owner(&self, hash: u64) -> Option<usize> {
        self.walk(hash).next()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:8080", i + 1)).collect()
    }

    pub fn request_hashes(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| xxh64(format!("request-{i}").as_bytes(), 7))
    }

    fn shares(owner: impl Fn(u64) -> usize, hosts: usize, samples: u64) -> Vec<f64> {
        let mut counts = vec![0u64; hosts];
        for h in request_hashes(samples) {
            counts[owner(h)] += 1;
        }
        counts.iter().map(|c| *c as f64 / samples as f64).collect()
    }

    #[test]
    fn ring_size_and_weights() {
        let ring = Ring::build(&keys(4), &[1, 1, 1, 1], 1024, 8 << 20);
        assert!(ring.len() >= 1024, "{}", ring.len());
        let s = shares(|h| ring.owner(h).expect("owner"), 4, 20_000);
        for share in &s {
            assert!((share - 0.25).abs() < 0.06, "{s:?}");
        }
        let ring = Ring::build(&keys(3), &[1, 2, 1], 1024, 8 << 20);
        let s = shares(|h| ring.owner(h).expect("owner"), 3, 20_000);
        assert!((s[1] - 0.5).abs() < 0.07, "{s:?}");
        assert!((s[0] - 0.25).abs() < 0.06, "{s:?}");
    }

    #[test]
    fn max_size_caps_the_ring() {
        let ring = Ring::build(&keys(2), &[1, 1000], 1024, 4096);
        assert!(ring.len() <= 4096 + 2, "{}", ring.len());
    }

    #[test]
    fn same_hash_same_host_and_walk_visits_others() {
        let ring = Ring::build(&keys(3), &[1, 1, 1], 1024, 8 << 20);
        for h in request_hashes(100) {
            assert_eq!(ring.owner(h), ring.owner(h));
            let mut seen: Vec<usize> = ring.walk(h).take(200).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 3);
        }
    }

    #[test]
    fn removing_a_host_moves_mostly_its_own_keys() {
        let all = keys(4);
        let before = Ring::build(&all, &[1, 1, 1, 1], 1024, 8 << 20);
        let after = Ring::build(&all[..3], &[1, 1, 1], 1024, 8 << 20);
        let (mut moved_other, mut kept_total) = (0u64, 0u64);
        for h in request_hashes(20_000) {
            let b = before.owner(h).expect("owner");
            let a = after.owner(h).expect("owner");
            assert!(a < 3);
            if b != 3 {
                kept_total += 1;
                if a != b {
                    moved_other += 1;
                }
            }
        }
        // Keys of the remaining hosts mostly stay (the rebuilt ring adds a few points per
        // remaining host, which takes some keys over); a modulo hash would move about 3/4.
        let moved = moved_other as f64 / kept_total as f64;
        assert!(moved < 0.25, "{moved}");
    }
}
