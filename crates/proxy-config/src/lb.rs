//! Load-balancer choice: pure functions over endpoint weights and load, with the randomness
//! and round-robin position passed in, so they are testable without sockets.

pub mod maglev;
pub mod priority;
pub mod ring_hash;
pub mod xxhash;

/// Endpoint selection policy of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbPolicy {
    RoundRobin,
    Random,
    /// Power of two choices: two random endpoints, the one with fewer active requests wins.
    LeastRequest,
    /// Consistent hashing on a ring (Ketama); requests without a hash pick at random.
    RingHash {
        min_ring_size: u64,
        max_ring_size: u64,
    },
    /// Maglev lookup table of `table_size` (prime) entries; no hash: random.
    Maglev {
        table_size: u64,
    },
    /// ORIGINAL_DST: the host is the connection's original destination.
    ClusterProvided,
}

/// Picks an endpoint index. `weights` are the endpoints' weights (at least 1 each), `active`
/// gives an endpoint's in-flight requests, `tick` is the cluster's round-robin counter value for
/// this pick and `rand(n)` returns a uniform number in `0..n`.
pub fn pick(
    policy: LbPolicy,
    weights: &[u32],
    active: impl Fn(usize) -> u64,
    tick: u64,
    mut rand: impl FnMut(u64) -> u64,
) -> Option<usize> {
    match weights.len() {
        0 => None,
        1 => Some(0),
        n => Some(match policy {
            LbPolicy::RoundRobin => by_weight(weights, tick % total(weights)),
            LbPolicy::Random
            | LbPolicy::RingHash { .. }
            | LbPolicy::Maglev { .. }
            | LbPolicy::ClusterProvided => by_weight(weights, rand(total(weights))),
            LbPolicy::LeastRequest => {
                let a = rand(n as u64) as usize;
                let mut b = rand(n as u64 - 1) as usize;
                if b >= a {
                    b += 1;
                }
                // Weighted least request: compare load per unit of weight.
                let load = |i: usize| (active(i) + 1) as f64 / f64::from(weights[i].max(1));
                if load(b) < load(a) { b } else { a }
            }
        }),
    }
}

fn total(weights: &[u32]) -> u64 {
    weights.iter().map(|w| u64::from((*w).max(1))).sum()
}

/// The index whose cumulative weight range contains `point` (`0..total`).
pub fn by_weight(weights: &[u32], point: u64) -> usize {
    let mut acc = 0u64;
    for (i, w) in weights.iter().enumerate() {
        acc += u64::from((*w).max(1));
        if point < acc {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

/// Picks one of weighted items (weighted clusters); weight 0 items are never picked unless all
/// are 0.
pub fn pick_weighted(weights: &[u32], rand: impl FnOnce(u64) -> u64) -> Option<usize> {
    let sum: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if sum == 0 {
        return (!weights.is_empty()).then_some(0);
    }
    let point = rand(sum);
    let mut acc = 0u64;
    weights.iter().position(|w| {
        acc += u64::from(*w);
        point < acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles_by_weight() {
        let w = [1, 2, 1];
        let picks: Vec<usize> = (0..8)
            .map(|t| pick(LbPolicy::RoundRobin, &w, |_| 0, t, |_| 0).expect("pick"))
            .collect();
        assert_eq!(picks, vec![0, 1, 1, 2, 0, 1, 1, 2]);
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(pick(LbPolicy::Random, &[], |_| 0, 0, |_| 0), None);
        assert_eq!(pick(LbPolicy::LeastRequest, &[5], |_| 9, 3, |_| 0), Some(0));
    }

    #[test]
    fn least_request_prefers_less_loaded_of_two() {
        let w = [1, 1, 1];
        let active = |i: usize| [10, 0, 5][i];
        // rand returns 0 then 0 -> a = 0, b = 1 (skips a).
        let mut seq = [0u64, 0].into_iter();
        let got = pick(LbPolicy::LeastRequest, &w, active, 0, |_| {
            seq.next().unwrap_or(0)
        });
        assert_eq!(got, Some(1));
        // a = 2, b = 0 -> 2 has 5 < 10.
        let mut seq = [2u64, 0].into_iter();
        let got = pick(LbPolicy::LeastRequest, &w, active, 0, |_| {
            seq.next().unwrap_or(0)
        });
        assert_eq!(got, Some(2));
    }

    #[test]
    fn random_respects_weights() {
        let w = [1, 3];
        assert_eq!(pick(LbPolicy::Random, &w, |_| 0, 0, |_| 0), Some(0));
        assert_eq!(pick(LbPolicy::Random, &w, |_| 0, 0, |_| 1), Some(1));
        assert_eq!(pick(LbPolicy::Random, &w, |_| 0, 0, |_| 3), Some(1));
    }

    #[test]
    fn weighted_items() {
        assert_eq!(pick_weighted(&[0, 10], |_| 0), Some(1));
        assert_eq!(pick_weighted(&[30, 70], |_| 29), Some(0));
        assert_eq!(pick_weighted(&[30, 70], |_| 30), Some(1));
        assert_eq!(pick_weighted(&[], |_| 0), None);
    }
}
