//! The generator of one configuration generation: translates each distinct proxy view once
//! and packs each distinct resource once, so memory follows the number of distinct views and
//! resources, not proxies × services.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use prost::{Message, Name};
use weft_translate::{Context, Proxy, ProxyView, Resources};
use weft_xds::pb::envoy::config::route::v3::RouteConfiguration;
use weft_xds::pb::google::protobuf::Any;

use crate::push::Generator;
use crate::resources::{ProxyResources, TypedResources, bytes_hash};

type Cell = Arc<OnceLock<Arc<ProxyResources>>>;

/// Resources from `weft-translate` for one [`Context`].
#[derive(Debug)]
pub struct MeshGenerator {
    ctx: Arc<Context>,
    views: Mutex<HashMap<ProxyView, Cell>>,
    packed: Mutex<HashMap<(String, u64), Arc<Any>>>,
}

impl MeshGenerator {
    pub fn new(ctx: Arc<Context>) -> Self {
        MeshGenerator {
            ctx,
            views: Mutex::new(HashMap::new()),
            packed: Mutex::new(HashMap::new()),
        }
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Number of distinct views generated so far.
    pub fn views(&self) -> usize {
        self.views.lock().map(|v| v.len()).unwrap_or_default()
    }

    /// Packs `msg` once per distinct content; `hash` is its content hash when its encoding
    /// is not canonical (map fields), else the bytes are hashed.
    fn intern<T: Message + Name>(
        &self,
        name: &str,
        msg: &T,
        hash: Option<u64>,
    ) -> (String, Arc<Any>, u64) {
        let any = weft_xds::pack(msg);
        let hash = hash.unwrap_or_else(|| bytes_hash(&any));
        let key = (format!("{}|{name}", any.type_url), hash);
        let mut packed = self.packed.lock().unwrap_or_else(|p| p.into_inner());
        let shared = packed.entry(key).or_insert_with(|| Arc::new(any)).clone();
        (name.to_string(), shared, hash)
    }

    fn pack(&self, r: &Resources) -> ProxyResources {
        use weft_xds::type_url as t;
        let mut out = ProxyResources::default();
        let mut put = |url: &str, items: Vec<(String, Arc<Any>, u64)>| {
            out.types
                .insert(url.to_string(), TypedResources::with_hashes(items));
        };
        let listeners = r.listeners.iter().map(|l| self.intern(&l.name, l, None));
        put(t::LISTENER, listeners.collect());
        let routes = r
            .routes
            .iter()
            .map(|x| self.intern(&x.name, x, Some(route_hash(x))));
        put(t::ROUTE_CONFIGURATION, routes.collect());
        let clusters = r.clusters.iter().map(|c| self.intern(&c.name, c, None));
        put(t::CLUSTER, clusters.collect());
        let endpoints = r
            .endpoints
            .iter()
            .map(|e| self.intern(&e.cluster_name, e, None));
        put(t::CLUSTER_LOAD_ASSIGNMENT, endpoints.collect());
        let secrets = r.secrets.iter().map(|s| self.intern(&s.name, s, None));
        put(t::SECRET, secrets.collect());
        out
    }
}

/// A hash of a route configuration that does not depend on the iteration order of its
/// `typed_per_filter_config` maps (prost encodes maps in hash-map order).
pub fn route_hash(rc: &RouteConfiguration) -> u64 {
    fn take_map(map: &mut HashMap<String, Any>, h: &mut DefaultHasher) {
        let mut entries: Vec<(String, Any)> = map.drain().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, any) in entries {
            key.hash(h);
            bytes_hash(&any).hash(h);
        }
    }
    let mut copy = rc.clone();
    let mut h = DefaultHasher::new();
    for vh in &mut copy.virtual_hosts {
        take_map(&mut vh.typed_per_filter_config, &mut h);
        for r in &mut vh.routes {
            take_map(&mut r.typed_per_filter_config, &mut h);
        }
    }
    take_map(&mut copy.typed_per_filter_config, &mut h);
    copy.encode_to_vec().hash(&mut h);
    h.finish()
}

impl Generator for MeshGenerator {
    fn generate(&self, proxy: &Proxy) -> Arc<ProxyResources> {
        let view = ProxyView::of(&self.ctx, proxy);
        let cell: Cell = {
            let mut views = self.views.lock().unwrap_or_else(|p| p.into_inner());
            views.entry(view.clone()).or_default().clone()
        };
        // Concurrent connections with the same view wait here for one translation.
        cell.get_or_init(|| Arc::new(self.pack(&weft_translate::generate(&self.ctx, &view))))
            .clone()
    }
}
