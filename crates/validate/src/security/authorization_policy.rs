//! Rules for AuthorizationPolicy.

use weft_config::model::security::AuthorizationPolicy;

use crate::Checker;

pub fn check(_spec: &AuthorizationPolicy, _c: &mut Checker) {}
