//! The plan: which local instances a set of objects describes, and where each listens.
//!
//! Every `apps/v1` Deployment becomes `spec.replicas` (default 1) instances named
//! `<deployment>-<index>`. Instances are numbered in a stable order (namespace, Deployment
//! name, index) and the Nth gets `first_pod_ip + N` (its sidecar; the address other workloads
//! use) and `first_app_ip + N` (the app itself), so the same objects always give the same
//! addresses. Of each pod template the first container with a `command` is run; a template
//! without one is *external*: registered as a pod, not started.
//!
//! The app's environment is, in order: `POD_NAME`, `POD_NAMESPACE`, `INSTANCE_IP`, `APP_IP`,
//! `SERVICE_ACCOUNT`, `HTTP_PROXY`/`http_proxy` (the sidecar's outbound HTTP port),
//! `NO_PROXY`/`no_proxy`, then the container's `env` with `$(VAR)` references expanded against
//! what came before (a redefined name keeps its first position and takes the new value).
//! `command` and `args` are expanded against the whole environment. `valueFrom` and `envFrom`
//! need a cluster and are rejected.
//!
//! [`pods_yaml`] writes the instances as v1 Pods, the form in which the control plane's
//! registry learns about workloads.

mod expand;
mod pods;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use weft_config::model::kube::{Container, Deployment};
use weft_config::{Body, Object, Problem};

pub use pods::{TLS_MODE_LABEL, pods_yaml};

use crate::supervise::ProcessSpec;

/// Where the plan puts instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The pod address (sidecar) of the first instance; the others follow, inside its /16.
    pub first_pod_ip: Ipv4Addr,
    /// The app address of the first instance; the others follow, inside its /16.
    pub first_app_ip: Ipv4Addr,
    /// The sidecar's outbound HTTP proxy port, for `HTTP_PROXY`.
    pub proxy_http_port: u16,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            first_pod_ip: Ipv4Addr::new(127, 10, 0, 1),
            first_app_ip: Ipv4Addr::new(127, 11, 0, 1),
            proxy_http_port: 15080,
        }
    }
}

/// Every instance, in address order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub instances: Vec<Instance>,
}

/// One replica of a Deployment, as a local workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Pod name: `<deployment>-<index>`, e.g. `reviews-v2-0`.
    pub name: String,
    pub deployment: String,
    pub namespace: String,
    /// The pod template's labels.
    pub labels: BTreeMap<String, String>,
    /// The template's `serviceAccountName`, `default` when unset.
    pub service_account: String,
    /// Where the instance's sidecar listens; the endpoint address other workloads use.
    pub pod_ip: Ipv4Addr,
    /// Where the app itself must listen.
    pub app_ip: Ipv4Addr,
    /// `(name, containerPort)` of every container, in order.
    pub ports: Vec<(Option<String>, u16)>,
    /// Program and arguments, expanded; empty for an external instance (registered, not run).
    pub command: Vec<String>,
    /// The environment to add for the app, expanded, in the order described in the module doc.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// Each container's name and ports (what [`pods_yaml`] writes).
    pub containers: Vec<ContainerPorts>,
}

impl Instance {
    /// Registered as a pod but not run: its template has no container with a `command`.
    pub fn is_external(&self) -> bool {
        self.command.is_empty()
    }

    /// How to run the instance's app under the supervisor (restarted when it exits), or
    /// `None` for an external instance.
    pub fn process_spec(&self) -> Option<ProcessSpec> {
        let (program, args) = self.command.split_first()?;
        Some(ProcessSpec {
            name: self.name.clone(),
            program: program.clone(),
            args: args.to_vec(),
            env: self.env.clone(),
            cwd: self.working_dir.clone(),
            restart: true,
        })
    }
}

/// A container of an instance's pod template and the ports it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPorts {
    pub name: String,
    pub ports: Vec<(Option<String>, u16)>,
}

/// Why objects cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A Deployment that cannot run locally; the problem names file, line, object and field.
    #[error("{0}")]
    Object(Box<Problem>),
    /// Options under which instances would share addresses.
    #[error("plan options: {0}")]
    Options(String),
}

impl PlanError {
    fn at(object: &Object, field: &str, message: impl Into<String>) -> Self {
        PlanError::Object(Box::new(object.problem(field, message)))
    }
}

const CONTAINERS: &str = "spec.template.spec.containers";

/// Plans every `apps/v1` Deployment in `objects`.
pub fn plan(objects: &[Object], opts: &PlanOptions) -> Result<Plan, PlanError> {
    check_options(opts)?;
    let mut deployments: Vec<(&Object, &Deployment)> = objects
        .iter()
        .filter(|o| o.api_version == "apps/v1")
        .filter_map(|o| match &o.body {
            Body::Deployment(d) => Some((o, d)),
            _ => None,
        })
        .collect();
    deployments.sort_by(|(a, _), (b, _)| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    check_unique(&deployments)?;
    let mut instances = Vec::new();
    for (object, deployment) in deployments {
        let replicas = replicas(object, deployment)?;
        for index in 0..replicas {
            let ordinal = u32::try_from(instances.len()).unwrap_or(u32::MAX);
            let addresses = Addresses {
                pod_ip: nth_address(object, opts.first_pod_ip, ordinal)?,
                app_ip: nth_address(object, opts.first_app_ip, ordinal)?,
                proxy_http_port: opts.proxy_http_port,
            };
            instances.push(instance(object, deployment, index, &addresses)?);
        }
    }
    Ok(Plan { instances })
}

fn check_options(opts: &PlanOptions) -> Result<(), PlanError> {
    let network = |ip: Ipv4Addr| u32::from(ip) >> 16;
    if network(opts.first_pod_ip) == network(opts.first_app_ip) {
        return Err(PlanError::Options(format!(
            "pod addresses (from {}) and app addresses (from {}) must be in different /16 networks",
            opts.first_pod_ip, opts.first_app_ip
        )));
    }
    Ok(())
}

fn check_unique(deployments: &[(&Object, &Deployment)]) -> Result<(), PlanError> {
    let mut seen = BTreeSet::new();
    for (object, _) in deployments {
        if object.name().is_empty() {
            return Err(PlanError::at(
                object,
                "metadata.name",
                "a name is needed to name instances",
            ));
        }
        if !seen.insert((object.namespace(), object.name())) {
            return Err(PlanError::at(
                object,
                "metadata.name",
                "defined more than once",
            ));
        }
    }
    Ok(())
}

fn replicas(object: &Object, deployment: &Deployment) -> Result<u32, PlanError> {
    let replicas = deployment.spec.replicas.unwrap_or(1);
    u32::try_from(replicas).map_err(|_| {
        PlanError::at(
            object,
            "spec.replicas",
            format!("must not be negative (got {replicas})"),
        )
    })
}

/// `first + ordinal`, which must stay inside the /16 of `first`.
fn nth_address(object: &Object, first: Ipv4Addr, ordinal: u32) -> Result<Ipv4Addr, PlanError> {
    let start = u32::from(first);
    let address = start
        .checked_add(ordinal)
        .filter(|a| a >> 16 == start >> 16);
    address.map(Ipv4Addr::from).ok_or_else(|| {
        PlanError::at(
            object,
            "spec.replicas",
            format!(
                "no address left for instance {} in the /16 of {first}",
                ordinal + 1
            ),
        )
    })
}

struct Addresses {
    pod_ip: Ipv4Addr,
    app_ip: Ipv4Addr,
    proxy_http_port: u16,
}

fn instance(
    object: &Object,
    deployment: &Deployment,
    index: u32,
    addresses: &Addresses,
) -> Result<Instance, PlanError> {
    let template = &deployment.spec.template;
    let pod = &template.spec;
    let name = format!("{}-{index}", object.name());
    let service_account = pod.service_account().to_string();
    let containers = container_ports(object, &pod.containers)?;
    let ports = containers
        .iter()
        .flat_map(|c| c.ports.iter().cloned())
        .collect();
    let mut env = preamble_env(&name, object.namespace(), &service_account, addresses);
    let mut command = Vec::new();
    let mut working_dir = None;
    if let Some((i, container)) = pod
        .containers
        .iter()
        .enumerate()
        .find(|(_, c)| !c.command.is_empty())
    {
        add_container_env(object, i, container, &mut env)?;
        command = container
            .command
            .iter()
            .chain(&container.args)
            .map(|arg| expand::expand(arg, |n| expand::lookup_in(&env, n)))
            .collect();
        working_dir = container.working_dir.as_ref().map(PathBuf::from);
    }
    Ok(Instance {
        name,
        deployment: object.name().to_string(),
        namespace: object.namespace().to_string(),
        labels: template.metadata.labels.clone(),
        service_account,
        pod_ip: addresses.pod_ip,
        app_ip: addresses.app_ip,
        ports,
        command,
        env,
        working_dir,
        containers,
    })
}

/// What every app is told about itself, before its container's own `env`.
fn preamble_env(
    name: &str,
    namespace: &str,
    service_account: &str,
    addresses: &Addresses,
) -> Vec<(String, String)> {
    let proxy = format!("http://{}:{}", addresses.pod_ip, addresses.proxy_http_port);
    let no_proxy = "localhost,127.0.0.1";
    [
        ("POD_NAME", name),
        ("POD_NAMESPACE", namespace),
        ("INSTANCE_IP", &addresses.pod_ip.to_string()),
        ("APP_IP", &addresses.app_ip.to_string()),
        ("SERVICE_ACCOUNT", service_account),
        ("HTTP_PROXY", &proxy),
        ("http_proxy", &proxy),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn container_ports(
    object: &Object,
    containers: &[Container],
) -> Result<Vec<ContainerPorts>, PlanError> {
    let mut out = Vec::with_capacity(containers.len());
    for (i, container) in containers.iter().enumerate() {
        let mut ports = Vec::with_capacity(container.ports.len());
        for (j, port) in container.ports.iter().enumerate() {
            let number = u16::try_from(port.container_port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    PlanError::at(
                        object,
                        &format!("{CONTAINERS}[{i}].ports[{j}].containerPort"),
                        format!("must be between 1 and 65535 (got {})", port.container_port),
                    )
                })?;
            ports.push((port.name.clone(), number));
        }
        out.push(ContainerPorts {
            name: container.name.clone(),
            ports,
        });
    }
    Ok(out)
}

/// Appends the container's `env` to `env`, expanding each value against what is defined so far.
fn add_container_env(
    object: &Object,
    index: usize,
    container: &Container,
    env: &mut Vec<(String, String)>,
) -> Result<(), PlanError> {
    if !container.env_from.is_empty() {
        return Err(PlanError::at(
            object,
            &format!("{CONTAINERS}[{index}].envFrom"),
            "is not supported locally (it needs ConfigMaps or Secrets from a cluster); use env with value",
        ));
    }
    for (j, var) in container.env.iter().enumerate() {
        if var.value_from.is_some() {
            return Err(PlanError::at(
                object,
                &format!("{CONTAINERS}[{index}].env[{j}].valueFrom"),
                format!(
                    "is not supported locally for {} (it needs a cluster); use value",
                    var.name
                ),
            ));
        }
        let raw = var.value.as_deref().unwrap_or("");
        let value = expand::expand(raw, |n| expand::lookup_in(env, n));
        match env.iter_mut().find(|(n, _)| *n == var.name) {
            Some(existing) => existing.1 = value,
            None => env.push((var.name.clone(), value)),
        }
    }
    Ok(())
}
