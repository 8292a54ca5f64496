//! Rules for security.istio.io and telemetry.istio.io kinds.

pub mod authorization_policy;
mod authz_conditions;
mod authz_values;
pub mod peer_authentication;
pub mod request_authentication;
mod shared;
pub mod telemetry;

#[cfg(test)]
pub(crate) mod testing;
