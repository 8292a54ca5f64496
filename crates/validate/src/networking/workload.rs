//! Rules for WorkloadEntry and WorkloadGroup.

use weft_config::model::networking::{WorkloadEntry, WorkloadGroup};

use crate::Checker;

pub fn check_entry(_spec: &WorkloadEntry, _c: &mut Checker) {}

pub fn check_group(_spec: &WorkloadGroup, _c: &mut Checker) {}
