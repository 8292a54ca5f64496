//! The generator of one configuration generation: translates each distinct proxy view once
//! and packs each distinct resource once, so memory follows the number of distinct views and
//! resources, not proxies × services.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use prost::{Message, Name};
use weft_translate::{Context, Proxy, ProxyView, Resources};
use weft_xds::pb::google::protobuf::Any;

use crate::push::Generator;
use crate::resources::{ProxyResources, TypedResources};

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

    fn intern<T: Message + Name>(&self, name: &str, msg: &T) -> (String, Arc<Any>) {
        let any = weft_xds::pack(msg);
        let mut h = DefaultHasher::new();
        any.value.hash(&mut h);
        let key = (format!("{}|{name}", any.type_url), h.finish());
        let mut packed = self.packed.lock().unwrap_or_else(|p| p.into_inner());
        let shared = packed.entry(key).or_insert_with(|| Arc::new(any)).clone();
        (name.to_string(), shared)
    }

    fn pack(&self, r: &Resources) -> ProxyResources {
        let mut out = ProxyResources::default();
        let mut put = |url: &str, items: Vec<(String, Arc<Any>)>| {
            out.types
                .insert(url.to_string(), TypedResources::new(items));
        };
        use weft_xds::type_url as t;
        put(
            t::LISTENER,
            r.listeners
                .iter()
                .map(|l| self.intern(&l.name, l))
                .collect(),
        );
        put(
            t::ROUTE_CONFIGURATION,
            r.routes.iter().map(|x| self.intern(&x.name, x)).collect(),
        );
        put(
            t::CLUSTER,
            r.clusters.iter().map(|c| self.intern(&c.name, c)).collect(),
        );
        put(
            t::CLUSTER_LOAD_ASSIGNMENT,
            r.endpoints
                .iter()
                .map(|e| self.intern(&e.cluster_name, e))
                .collect(),
        );
        out
    }
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
