//! Rules for VirtualService.

use weft_config::model::networking::VirtualService;

use crate::Checker;

pub fn check(_spec: &VirtualService, _c: &mut Checker) {}
