//! Rules for RequestAuthentication.

use weft_config::model::security::RequestAuthentication;

use crate::Checker;

pub fn check(_spec: &RequestAuthentication, _c: &mut Checker) {}
