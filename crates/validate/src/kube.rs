//! Rules for the Kubernetes kinds a mesh depends on (Service ports, Pod and Deployment shape).

use weft_config::model::kube::{Deployment, Pod, Service};

use crate::Checker;

pub fn check_service(_svc: &Service, _c: &mut Checker) {}

pub fn check_pod(_pod: &Pod, _c: &mut Checker) {}

pub fn check_deployment(_d: &Deployment, _c: &mut Checker) {}
