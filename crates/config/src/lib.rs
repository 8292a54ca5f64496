//! weft's configuration model: every Istio kind (networking, security, telemetry), the
//! Kubernetes kinds a mesh looks at, and Istio's MeshConfig, plus loading of YAML and JSON
//! with the file and line of every object and field.
//!
//! This crate owns *reading* configuration and nothing else: it does not validate semantics
//! (that is `weft-validate`), relate objects to each other (`weft-analyze`), or translate them
//! (the control plane). It does no network I/O.

pub mod diag;
mod hint;
pub mod load;
pub mod meta;
pub mod model;
pub mod object;
pub mod types;
pub mod yaml;

pub use diag::{ObjectRef, Problem, Severity};
pub use hint::closest;
pub use load::{LoadOptions, Loaded, load_paths, load_str};
pub use meta::ObjectMeta;
pub use model::{Body, Kind};
pub use object::{Object, Origin};
pub use types::{Duration, IntOrString, Quantity};
