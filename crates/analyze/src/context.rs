//! The snapshot every analyzer reads: the loaded objects, the problems found while loading and
//! validating them, and indexes built once (objects by kind, namespaces, secrets, gateways).
//! The indexes over service hosts, workloads and subsets live in [`crate::index`].

use std::collections::{BTreeMap, BTreeSet};

use weft_config::model::{kube, networking, security, telemetry};
use weft_config::{Body, Kind, Object, Problem};

use crate::index::{Registry, Workload};

/// Everything an analyzer may look at. Built once per run; analyzers only read it.
#[derive(Debug)]
pub struct Context<'a> {
    objects: Vec<&'a Object>,
    problems: &'a [Problem],
    by_kind: BTreeMap<Kind, Vec<&'a Object>>,
    namespaces: BTreeMap<&'a str, &'a Object>,
    secrets: BTreeSet<(&'a str, &'a str)>,
    gateways: BTreeMap<(&'a str, &'a str), &'a Object>,
    /// Services and ServiceEntries by host.
    pub registry: Registry<'a>,
    /// Pods and the pod templates of Deployments.
    pub workloads: Vec<Workload<'a>>,
    /// `(host FQDN, subset)` pairs defined by DestinationRules.
    pub subsets: BTreeSet<(String, &'a str)>,
}

macro_rules! istio_kind {
    ($fn:ident, $variant:ident, $ty:ty) => {
        #[doc = concat!("Every ", stringify!($variant), " with its spec.")]
        pub fn $fn(&self) -> impl Iterator<Item = (&'a Object, &'a $ty)> + '_ {
            self.of_kind(Kind::$variant).filter_map(|o| match &o.body {
                Body::$variant(b) => Some((o, &b.spec)),
                _ => None,
            })
        }
    };
}

macro_rules! kube_kind {
    ($fn:ident, $variant:ident, $ty:ty) => {
        #[doc = concat!("Every ", stringify!($variant), " with its body.")]
        pub fn $fn(&self) -> impl Iterator<Item = (&'a Object, &'a $ty)> + '_ {
            self.of_kind(Kind::$variant).filter_map(|o| match &o.body {
                Body::$variant(b) => Some((o, b)),
                _ => None,
            })
        }
    };
}

impl<'a> Context<'a> {
    /// Builds the context over `objects` (in load order) and the `problems` found so far.
    pub fn new(objects: impl IntoIterator<Item = &'a Object>, problems: &'a [Problem]) -> Self {
        let objects: Vec<&Object> = objects.into_iter().collect();
        let mut by_kind: BTreeMap<Kind, Vec<&Object>> = BTreeMap::new();
        for o in &objects {
            if let Some(k) = o.known_kind() {
                by_kind.entry(k).or_default().push(o);
            }
        }
        let of = |k: Kind| by_kind.get(&k).into_iter().flatten().copied();
        let namespaces = of(Kind::Namespace).map(|o| (o.name(), o)).collect();
        let secrets = of(Kind::Secret)
            .map(|o| (o.namespace(), o.name()))
            .collect();
        let gateways = of(Kind::Gateway)
            .map(|o| ((o.namespace(), o.name()), o))
            .collect();
        let mut ctx = Context {
            objects,
            problems,
            by_kind,
            namespaces,
            secrets,
            gateways,
            registry: Registry::default(),
            workloads: Vec::new(),
            subsets: BTreeSet::new(),
        };
        ctx.registry = Registry::build(&ctx);
        ctx.workloads = crate::index::workloads(&ctx);
        ctx.subsets = crate::index::subsets(&ctx);
        ctx
    }

    /// Every object, in load order.
    pub fn objects(&self) -> impl Iterator<Item = &'a Object> + '_ {
        self.objects.iter().copied()
    }

    /// Problems found while loading and validating.
    pub fn problems(&self) -> &'a [Problem] {
        self.problems
    }

    /// The objects of one kind, in load order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &'a Object> + '_ {
        self.by_kind.get(&kind).into_iter().flatten().copied()
    }

    /// Whether the input has any object of `kind`.
    pub fn has_kind(&self, kind: Kind) -> bool {
        self.by_kind.get(&kind).is_some_and(|v| !v.is_empty())
    }

    /// The Namespace object named `name`, if the input has one.
    pub fn namespace(&self, name: &str) -> Option<&'a Object> {
        self.namespaces.get(name).copied()
    }

    pub fn secret_exists(&self, namespace: &str, name: &str) -> bool {
        self.secrets.contains(&(namespace, name))
    }

    /// Whether the input has any Secret in `namespace`.
    pub fn has_secrets_in(&self, namespace: &str) -> bool {
        self.secrets.iter().any(|(ns, _)| *ns == namespace)
    }

    /// The Gateway a VirtualService in `namespace` means by `reference` (`name` or `ns/name`).
    pub fn gateway(&self, namespace: &str, reference: &str) -> Option<&'a Object> {
        let (ns, name) = reference.split_once('/').unwrap_or((namespace, reference));
        self.gateways.get(&(ns, name)).copied()
    }

    istio_kind!(virtual_services, VirtualService, networking::VirtualService);
    istio_kind!(
        destination_rules,
        DestinationRule,
        networking::DestinationRule
    );
    istio_kind!(gateway_specs, Gateway, networking::Gateway);
    istio_kind!(service_entries, ServiceEntry, networking::ServiceEntry);
    istio_kind!(sidecars, Sidecar, networking::Sidecar);
    istio_kind!(
        authorization_policies,
        AuthorizationPolicy,
        security::AuthorizationPolicy
    );
    istio_kind!(telemetries, Telemetry, telemetry::Telemetry);
    kube_kind!(services, Service, kube::Service);
    kube_kind!(pods, Pod, kube::Pod);
    kube_kind!(deployments, Deployment, kube::Deployment);
}
