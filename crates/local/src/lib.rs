//! Local mode (`weft up`): turns Kubernetes-like objects (Deployments whose container runs a
//! local command, Services, ServiceAccounts) into a plan of local workload instances with
//! loopback addresses, and supervises the processes of the mesh (apps, proxies).
//!
//! This crate owns *which processes run and how they are kept alive*. It does not generate
//! xDS, start the control plane or the proxies in process, or touch iptables (`weft-iptables`).

pub mod plan;

pub use plan::{ContainerPorts, Instance, Plan, PlanError, PlanOptions, pods_yaml};
pub mod supervise;

pub use supervise::{
    Output, ProcessSpec, ProcessState, ProcessStatus, SuperviseError, Supervisor,
    SupervisorOptions, resolve_program, who_listens,
};
