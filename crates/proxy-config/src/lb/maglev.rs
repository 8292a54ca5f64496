//! MAGLEV: a lookup table of a prime number of entries filled from each host's permutation
//! (offset and skip from two hashes of its name), in turns weighted by host weight. A request
//! hash indexes the table. Built once per host-set change.

use super::xxhash::xxh64;

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// `size` must be prime (checked when the cluster is compiled).
    pub fn build(keys: &[String], weights: &[u32], size: u64) -> Maglev {
        let n = keys.len();
        if n == 0 || size < 2 {
            return Maglev::default();
        }
        let m = usize::try_from(size).unwrap_or(65537);
        let perms: Vec<(u64, u64)> = keys
            .iter()
            .map(|k| {
                let offset = xxh64(k.as_bytes(), 0) % size;
                let skip = xxh64(k.as_bytes(), 1) % (size - 1) + 1;
                (offset, skip)
            })
            .collect();
        let max_weight = f64::from(weights.iter().copied().max().unwrap_or(1).max(1));
        let share: Vec<f64> = weights
            .iter()
            .map(|w| f64::from((*w).max(1)) / max_weight)
            .collect();
        let mut table = vec![EMPTY; m];
        let mut next = vec![0u64; n];
        let mut claimed = vec![0u64; n];
        let mut filled = 0usize;
        let mut turn = 0u64;
        while filled < m {
            turn += 1;
            for i in 0..n {
                // A host takes a slot in this turn while it is below its weighted share.
                if claimed[i] as f64 >= turn as f64 * share[i] {
                    continue;
                }
                let (offset, skip) = perms[i];
                loop {
                    let slot = ((offset + next[i] * skip) % size) as usize;
                    next[i] += 1;
                    if table[slot] == EMPTY {
                        table[slot] = u32::try_from(i).unwrap_or(EMPTY - 1);
                        claimed[i] += 1;
                        filled += 1;
                        break;
                    }
                }
                if filled == m {
                    break;
                }
            }
        }
        Maglev { table }
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The host for `hash`; `attempt` > 0 re-hashes to find another host when the first is
    /// unusable.
    pub fn lookup(&self, hash: u64, attempt: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let h = if attempt == 0 {
            hash
        } else {
            xxh64(&hash.to_le_bytes(), attempt)
        };
        Some(self.table[(h % self.table.len() as u64) as usize] as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring_hash::tests::{keys, request_hashes};
    use super::*;

    fn shares(t: &Maglev, hosts: usize) -> Vec<f64> {
        let mut counts = vec![0u64; hosts];
        for h in request_hashes(20_000) {
            counts[t.lookup(h, 0).expect("host")] += 1;
        }
        counts.iter().map(|c| *c as f64 / 20_000.0).collect()
    }

    #[test]
    fn table_is_full_and_balanced() {
        let t = Maglev::build(&keys(4), &[1, 1, 1, 1], 65537);
        assert!(t.table.iter().all(|e| *e != EMPTY));
        let s = shares(&t, 4);
        for share in &s {
            assert!((share - 0.25).abs() < 0.03, "{s:?}");
        }
    }

    #[test]
    fn weights_are_respected() {
        let t = Maglev::build(&keys(3), &[1, 2, 1], 65537);
        let s = shares(&t, 3);
        assert!((s[1] - 0.5).abs() < 0.04, "{s:?}");
        assert!((s[0] - 0.25).abs() < 0.04, "{s:?}");
    }

    #[test]
    fn removing_a_host_moves_mostly_its_own_keys() {
        let all = keys(4);
        let before = Maglev::build(&all, &[1, 1, 1, 1], 65537);
        let after = Maglev::build(&all[..3], &[1, 1, 1], 65537);
        let (mut moved, mut others) = (0u64, 0u64);
        for h in request_hashes(20_000) {
            let b = before.lookup(h, 0).expect("host");
            if b != 3 {
                others += 1;
                if after.lookup(h, 0) != Some(b) {
                    moved += 1;
                }
            }
        }
        let moved = moved as f64 / others as f64;
        assert!(moved < 0.1, "{moved}");
    }

    #[test]
    fn rehash_finds_other_hosts() {
        let t = Maglev::build(&keys(3), &[1, 1, 1], 65537);
        let h = 12345;
        let first = t.lookup(h, 0).expect("host");
        assert!((1..20).any(|a| t.lookup(h, a) != Some(first)));
    }
}
