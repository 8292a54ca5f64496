//! The typed object model: one Rust type per Istio and Kubernetes kind, and the table that
//! says which group, versions and scope each kind has.
//!
//! Istio types follow the field names of Istio's protobuf API in their YAML (camelCase) form
//! and reject unknown fields. Kubernetes types carry the fields a mesh needs and reject unknown
//! ones too, so a typo in a Service port is caught as early as a typo in a VirtualService.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod kube;
pub mod mesh;
pub mod networking;
pub mod security;
pub mod telemetry;

/// Body of an Istio object: everything but `apiVersion`, `kind` and `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IstioBody<S: Default + DeserializeOwned> {
    /// `spec:` with nothing after it (null) is an empty spec, as Kubernetes reads it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: S,
    /// Written by controllers; never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + DeserializeOwned,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// What the loader knows about one kind.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: Kind,
    pub name: &'static str,
    /// API group; `""` is Kubernetes' core group.
    pub group: &'static str,
    /// Served versions, preferred first.
    pub versions: &'static [&'static str],
    pub scope: Scope,
    /// Parsed and checked but not acted on by weft (EnvoyFilter).
    pub unsupported: bool,
}

/// Decoding a body failed at a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

fn decode<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        crate::hint::field_error(path, e.into_inner().to_string())
    })
}

/// Decodes `value`, collecting every field error rather than the first: after an error the
/// offending field is removed and decoding retried (at most `MAX_FIELD_ERRORS` times), so a
/// user sees all typos of an object in one run.
fn decode_all<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, Vec<FieldError>> {
    const MAX_FIELD_ERRORS: usize = 20;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let e = match decode::<T>(&value) {
            Ok(v) if errors.is_empty() => return Ok(v),
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
        if let Some(field) = missing_field(&e.message) {
            // A missing field cannot be fixed by removing more, so this is the last error.
            // When the field is missing only because a bad value was removed above, the
            // user has already been told about it.
            let path = if e.path.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", e.path)
            };
            if !removed.contains(&path) {
                errors.push(e);
            }
            return Err(errors);
        }
        if errors.last() == Some(&e)
            || errors.len() >= MAX_FIELD_ERRORS
            || !remove_at(&mut value, &crate::yaml::parse_path(&e.path))
        {
            errors.push(e);
            errors.dedup();
            return Err(errors);
        }
        removed.push(e.path.clone());
        errors.push(e);
    }
}

/// The field named by serde's "missing field" error, as tidied by `hint::field_error`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field \"")?.split('"').next()
}

/// Removes the node at `path`; false when there is nothing to remove (the error is about a
/// missing field or the whole value, so retrying cannot find more).
fn remove_at(value: &mut serde_json::Value, path: &[crate::yaml::PathSegment]) -> bool {
    use crate::yaml::PathSegment;
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        let next = match (seg, node) {
            (PathSegment::Key(k), serde_json::Value::Object(m)) => m.get_mut(k),
            (PathSegment::Index(i), serde_json::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match (last, node) {
        (PathSegment::Key(k), serde_json::Value::Object(m)) => m.remove(k).is_some(),
        // Replacing keeps later indexes stable; an empty object decodes as a defaulted item
        // or fails again at the same index, which ends the loop via the error count.
        (PathSegment::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
            a[*i] = serde_json::Value::Object(Default::default());
            true
        }
        _ => false,
    }
}

macro_rules! kinds {
    ($( $variant:ident => $ty:ty, $group:literal, [$($v:literal),+], $scope:ident, $unsupported:literal; )+) => {
        /// Every kind weft understands.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Kind { $($variant),+ }

        /// The decoded body of an object.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Body {
            $($variant($ty),)+
            /// A kind weft does not know, passed through untouched.
            Unknown(serde_json::Value),
        }

        /// The table of kinds.
        pub const KINDS: &[KindInfo] = &[
            $(KindInfo {
                kind: Kind::$variant,
                name: stringify!($variant),
                group: $group,
                versions: &[$($v),+],
                scope: Scope::$scope,
                unsupported: $unsupported,
            },)+
        ];

        impl Body {
            /// The kind of a known body.
            pub fn kind(&self) -> Option<Kind> {
                match self {
                    $(Body::$variant(_) => Some(Kind::$variant),)+
                    Body::Unknown(_) => None,
                }
            }

            /// Decodes `value` (the object without apiVersion, kind and metadata) as `kind`,
            /// returning every field error found.
            pub fn decode(kind: Kind, value: serde_json::Value) -> Result<Body, Vec<FieldError>> {
                match kind {
                    $(Kind::$variant => decode_all::<$ty>(value).map(Body::$variant),)+
                }
            }
        }
    };
}

use IstioBody as I;
kinds! {
    VirtualService => I<networking::VirtualService>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    DestinationRule => I<networking::DestinationRule>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    Gateway => I<networking::Gateway>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    ServiceEntry => I<networking::ServiceEntry>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    Sidecar => I<networking::Sidecar>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    WorkloadEntry => I<networking::WorkloadEntry>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    WorkloadGroup => I<networking::WorkloadGroup>, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], Namespaced, false;
    EnvoyFilter => I<networking::EnvoyFilter>, "networking.istio.io", ["v1alpha3"], Namespaced, true;
    PeerAuthentication => I<security::PeerAuthentication>, "security.istio.io", ["v1", "v1beta1"], Namespaced, false;
    RequestAuthentication => I<security::RequestAuthentication>, "security.istio.io", ["v1", "v1beta1"], Namespaced, false;
    AuthorizationPolicy => I<security::AuthorizationPolicy>, "security.istio.io", ["v1", "v1beta1"], Namespaced, false;
    Telemetry => I<telemetry::Telemetry>, "telemetry.istio.io", ["v1", "v1alpha1"], Namespaced, false;
    Namespace => kube::Namespace, "", ["v1"], Cluster, false;
    Service => kube::Service, "", ["v1"], Namespaced, false;
    Pod => kube::Pod, "", ["v1"], Namespaced, false;
    Secret => kube::Secret, "", ["v1"], Namespaced, false;
    ConfigMap => kube::ConfigMap, "", ["v1"], Namespaced, false;
    ServiceAccount => kube::ServiceAccount, "", ["v1"], Namespaced, false;
    Deployment => kube::Deployment, "apps", ["v1"], Namespaced, false;
    ReplicaSet => kube::ReplicaSet, "apps", ["v1"], Namespaced, false;
    EndpointSlice => kube::EndpointSlice, "discovery.k8s.io", ["v1"], Namespaced, false;
    MutatingWebhookConfiguration => kube::MutatingWebhookConfiguration, "admissionregistration.k8s.io", ["v1"], Cluster, false;
}

impl Kind {
    pub fn info(self) -> &'static KindInfo {
        // The table is generated in the same order as the enum.
        &KINDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Looks a kind up by its name (`VirtualService`).
    pub fn from_name(name: &str) -> Option<Kind> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.kind)
    }
}
