//! The hosts of a cluster grouped for choice: priority levels (ascending), each with its
//! weights, localities and, for RING_HASH/MAGLEV, the ring or table built once per host-set
//! change. Choice itself reads host health (EDS status, outlier ejection) at pick time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use weft_proxy_config::lb::maglev::Maglev;
use weft_proxy_config::lb::priority::{self, Level};
use weft_proxy_config::lb::ring_hash::Ring;
use weft_proxy_config::lb::{self, LbPolicy, pick_weighted};
use weft_proxy_config::runtime::Cluster;
use weft_proxy_config::runtime::cluster::DEFAULT_OVERPROVISIONING;

use super::{Host, PickContext};

#[derive(Debug, Default)]
pub struct Members {
    pub hosts: Vec<Arc<Host>>,
    levels: Vec<LevelSet>,
    overprovisioning: u32,
}

#[derive(Debug)]
struct LevelSet {
    /// Indexes into `Members::hosts`.
    hosts: Vec<usize>,
    /// (locality weight, positions in `hosts`) per locality.
    localities: Vec<(u32, Vec<usize>)>,
    ring: Option<Ring>,
    maglev: Option<Maglev>,
    /// Every host has the same weight: round robin, random and least request need no
    /// per-pick weight table.
    equal_weights: bool,
}

impl Members {
    pub fn new(hosts: Vec<Arc<Host>>, cfg: &Cluster) -> Members {
        let mut by_priority: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            by_priority.entry(h.ep.priority).or_default().push(i);
        }
        let levels = by_priority
            .into_values()
            .map(|idx| LevelSet::new(&hosts, idx, cfg))
            .collect();
        let overprovisioning = hosts
            .first()
            .map_or(DEFAULT_OVERPROVISIONING, |h| h.ep.overprovisioning);
        Members {
            hosts,
            levels,
            overprovisioning,
        }
    }

    /// Chooses a host: priority level (with panic), locality, then the cluster's policy among
    /// the usable hosts not in `ctx.avoid` (the avoid list is dropped if it excludes all).
    pub fn choose(
        &self,
        cfg: &Cluster,
        ctx: &PickContext<'_>,
        tick: u64,
        rand: &mut dyn FnMut(u64) -> u64,
    ) -> Option<Arc<Host>> {
        if let Some(host) = self.choose_uniform(cfg, ctx, tick, rand) {
            return Some(host);
        }
        let counts: Vec<Level> = self.levels.iter().map(|l| l.count(&self.hosts)).collect();
        let (li, panic) = priority::choose(
            &counts,
            self.overprovisioning,
            cfg.panic_threshold,
            rand(100),
        )?;
        let level = &self.levels[li];
        let positions = level.positions(&self.hosts, cfg, self.overprovisioning, rand);
        let usable = |p: usize| panic || self.hosts[level.hosts[p]].usable();
        let not_avoided = |p: usize| !ctx.avoid.contains(&self.hosts[level.hosts[p]].addr);
        let mut allowed = vec![false; level.hosts.len()];
        let mut any = false;
        for &p in &positions {
            if usable(p) && not_avoided(p) {
                allowed[p] = true;
                any = true;
            }
        }
        if !any {
            for &p in &positions {
                allowed[p] = usable(p);
                any |= allowed[p];
            }
        }
        if !any {
            return None;
        }
        let p = level.by_policy(cfg, ctx.hash, &allowed, &self.hosts, tick, rand)?;
        Some(self.hosts[level.hosts[p]].clone())
    }

    /// The common shape in O(1) without allocating: one priority level, one locality (or no
    /// locality weighting), equal weights, no hash policy and nothing to avoid. The picked host
    /// must be usable; otherwise (or for any other shape) `None`, and the full choice runs,
    /// which handles health, panic and failover.
    fn choose_uniform(
        &self,
        cfg: &Cluster,
        ctx: &PickContext<'_>,
        tick: u64,
        rand: &mut dyn FnMut(u64) -> u64,
    ) -> Option<Arc<Host>> {
        let [level] = self.levels.as_slice() else {
            return None;
        };
        let n = level.hosts.len() as u64;
        let locality_split = cfg.locality_weighted && level.localities.len() > 1;
        if n == 0 || !level.equal_weights || !ctx.avoid.is_empty() || locality_split {
            return None;
        }
        let host = |p: u64| &self.hosts[level.hosts[p as usize]];
        let chosen = match cfg.lb {
            LbPolicy::RoundRobin => host(tick % n),
            LbPolicy::Random => host(rand(n)),
            LbPolicy::LeastRequest if n == 1 => host(0),
            LbPolicy::LeastRequest => {
                let a = rand(n);
                let b = (a + 1 + rand(n - 1)) % n;
                let (a, b) = (host(a), host(b));
                if !a.usable() || !b.usable() {
                    return None;
                }
                let load = |h: &Host| h.active_rq.load(Ordering::Relaxed);
                if load(b) < load(a) { b } else { a }
            }
            _ => return None,
        };
        chosen.usable().then(|| chosen.clone())
    }

    pub fn find(&self, addr: SocketAddr) -> Option<&Arc<Host>> {
        self.hosts.iter().find(|h| h.addr == addr)
    }
}

impl LevelSet {
    fn new(hosts: &[Arc<Host>], idx: Vec<usize>, cfg: &Cluster) -> LevelSet {
        let keys: Vec<String> = idx.iter().map(|&i| hosts[i].addr.to_string()).collect();
        let weights: Vec<u32> = idx.iter().map(|&i| hosts[i].weight).collect();
        let mut localities: BTreeMap<u32, (u32, Vec<usize>)> = BTreeMap::new();
        for (p, &i) in idx.iter().enumerate() {
            let e = localities
                .entry(hosts[i].ep.locality)
                .or_insert((hosts[i].ep.locality_weight, Vec::new()));
            e.1.push(p);
        }
        let (ring, maglev) = match cfg.lb {
            LbPolicy::RingHash {
                min_ring_size,
                max_ring_size,
            } => (
                Some(Ring::build(&keys, &weights, min_ring_size, max_ring_size)),
                None,
            ),
            LbPolicy::Maglev { table_size } => {
                (None, Some(Maglev::build(&keys, &weights, table_size)))
            }
            _ => (None, None),
        };
        let equal_weights = weights.windows(2).all(|w| w[0] == w[1]);
        LevelSet {
            hosts: idx,
            localities: localities.into_values().collect(),
            ring,
            maglev,
            equal_weights,
        }
    }

    fn count(&self, hosts: &[Arc<Host>]) -> Level {
        let healthy = self.hosts.iter().filter(|&&i| hosts[i].usable()).count();
        Level {
            healthy: healthy as u64,
            total: self.hosts.len() as u64,
        }
    }

    /// Positions eligible by locality: all, or one locality chosen by effective weight.
    fn positions(
        &self,
        hosts: &[Arc<Host>],
        cfg: &Cluster,
        overprovisioning: u32,
        rand: &mut dyn FnMut(u64) -> u64,
    ) -> Vec<usize> {
        if !cfg.locality_weighted || self.localities.len() < 2 {
            return (0..self.hosts.len()).collect();
        }
        let levels: Vec<(u32, Level)> = self
            .localities
            .iter()
            .map(|(w, ps)| {
                let healthy = ps
                    .iter()
                    .filter(|&&p| hosts[self.hosts[p]].usable())
                    .count();
                let level = Level {
                    healthy: healthy as u64,
                    total: ps.len() as u64,
                };
                (*w, level)
            })
            .collect();
        let weights = priority::locality_weights(&levels, overprovisioning);
        match pick_weighted(&weights, &mut *rand) {
            Some(i) if weights[i] > 0 => self.localities[i].1.clone(),
            _ => (0..self.hosts.len()).collect(),
        }
    }

    fn by_policy(
        &self,
        cfg: &Cluster,
        hash: Option<u64>,
        allowed: &[bool],
        hosts: &[Arc<Host>],
        tick: u64,
        rand: &mut dyn FnMut(u64) -> u64,
    ) -> Option<usize> {
        if let (Some(h), Some(ring)) = (hash, &self.ring) {
            return ring.walk(h).find(|&p| allowed[p]);
        }
        if let (Some(h), Some(table)) = (hash, &self.maglev) {
            // Re-hash a bounded number of times, then fall back to any allowed host.
            let found = (0..32u64).find_map(|a| table.lookup(h, a).filter(|&p| allowed[p]));
            if found.is_some() {
                return found;
            }
        }
        let candidates: Vec<usize> = (0..allowed.len()).filter(|&p| allowed[p]).collect();
        let weights: Vec<u32> = candidates
            .iter()
            .map(|&p| hosts[self.hosts[p]].weight)
            .collect();
        let i = lb::pick(
            cfg.lb,
            &weights,
            |i| {
                hosts[self.hosts[candidates[i]]]
                    .active_rq
                    .load(Ordering::Relaxed)
            },
            tick,
            &mut *rand,
        )?;
        candidates.get(i).copied()
    }
}
