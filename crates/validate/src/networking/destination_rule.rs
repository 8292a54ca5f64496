//! Rules for DestinationRule.

use weft_config::model::networking::DestinationRule;

use crate::Checker;

pub fn check(_spec: &DestinationRule, _c: &mut Checker) {}
