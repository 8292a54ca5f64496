//! Rules for PeerAuthentication.

use weft_config::model::security::PeerAuthentication;

use crate::Checker;

pub fn check(_spec: &PeerAuthentication, _c: &mut Checker) {}
