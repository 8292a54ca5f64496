//! Local mode (`weft up`): turns Kubernetes-like objects (Deployments whose container runs a
//! local command, Services, ServiceAccounts) into a plan of local workload instances with
//! loopback addresses, and supervises the processes of the mesh (apps, proxies).
//!
//! This crate owns *which processes run and how they are kept alive*. It does not generate
//! xDS, start the control plane or the proxies in process, or touch iptables (`weft-iptables`).
//!
//! # Design
//!
//! Two independent pieces, used in this order by `weft up`:
//!
//! - [`plan`] is pure: objects in, [`Plan`] out, no I/O. Each replica of an `apps/v1`
//!   Deployment becomes an [`Instance`] with two loopback addresses: `pod_ip`, where its
//!   sidecar listens and which the rest of the mesh uses as the endpoint, and `app_ip`, where
//!   the app itself listens behind the sidecar. Addresses are handed out in a stable order
//!   (namespace, Deployment, index) so that a restart of `weft up` gives every instance the
//!   same addresses. The app learns them, and where its outbound HTTP proxy is, from its
//!   environment (`INSTANCE_IP`, `APP_IP`, `HTTP_PROXY`, ...), with Kubernetes' own `$(VAR)`
//!   expansion in `command`, `args` and `env`. [`pods_yaml`] writes the instances as running
//!   v1 Pods, so the control plane discovers local workloads exactly like cluster ones.
//!   Anything only a cluster can provide (`valueFrom`, `envFrom`) is rejected with
//!   `FILE:LINE: Deployment ns/name: field.path: message`, like every weft diagnostic.
//! - [`supervise`] does the I/O: a [`Supervisor`] runs each process (an app from
//!   [`Instance::process_spec`], a proxy, the control plane) in its own process group, prefixes
//!   its output lines with its name, restarts it with exponential back-off, and at shutdown
//!   stops whole groups (SIGTERM, then SIGKILL after a grace period) and reaps every child.
//!   The one `unsafe` call (`kill(2)`) lives in a small module that refuses the pids that
//!   would signal more than a child's group. [`who_listens`] reads `/proc` to name the
//!   process holding a port that `weft up` needs.
//!
//! Linux only: process groups and `/proc` are what make "stop everything, including what the
//! apps started" and "who holds this port" reliable.

pub mod plan;
pub mod supervise;

pub use plan::{ContainerPorts, Instance, Plan, PlanError, PlanOptions, pods_yaml};
pub use supervise::{
    Output, ProcessSpec, ProcessState, ProcessStatus, SuperviseError, Supervisor,
    SupervisorOptions, resolve_program, who_listens,
};
