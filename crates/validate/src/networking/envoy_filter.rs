//! Rules for EnvoyFilter.

use weft_config::model::networking::EnvoyFilter;

use crate::Checker;

pub fn check(_spec: &EnvoyFilter, _c: &mut Checker) {}
