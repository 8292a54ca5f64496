//! Rules for ServiceEntry.

use weft_config::model::networking::ServiceEntry;

use crate::Checker;

pub fn check(_spec: &ServiceEntry, _c: &mut Checker) {}
