//! Rules for Gateway.

use weft_config::model::networking::Gateway;

use crate::Checker;

pub fn check(_spec: &Gateway, _c: &mut Checker) {}
