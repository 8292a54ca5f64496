//! Rules for Telemetry.

use weft_config::model::telemetry::Telemetry;

use crate::Checker;

pub fn check(_spec: &Telemetry, _c: &mut Checker) {}
