//! Protocol upgrades (`upgrade_configs`): the `Upgrade` tokens a connection manager lets
//! through, a route's `enabled` override, and the decision for one request. CONNECT is the
//! upgrade type `connect`; it is supported when terminated here (a route's CONNECT entry
//! with `connect_config`), not forwarded upstream as a CONNECT request.

use crate::error::{At, Result};
use crate::model::http::UpgradeConfig;
use crate::model::route::RouteUpgradeConfig;

/// Upgrade types (lowercase) with whether each is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrades {
    types: Vec<(String, bool)>,
    /// A route's CONNECT entry has `connect_config`: CONNECT is terminated here.
    terminate_connect: bool,
}

impl Upgrades {
    fn enabled(&self, upgrade: &str) -> Option<bool> {
        self.types
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(upgrade))
            .map(|(_, e)| *e)
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// Whether a CONNECT request on a route is terminated: the manager lists CONNECT and the
/// route's CONNECT entry (with `connect_config`) is enabled.
pub fn connect_terminated(hcm: &Upgrades, route: &Upgrades) -> bool {
    route.terminate_connect && upgrade_allowed(hcm, route, "connect")
}

fn upgrade_type(at: &At<'_>, t: &str) -> Result<String> {
    if t.is_empty() {
        return Err(at.field("upgrade_type").err("must not be empty"));
    }
    Ok(t.to_ascii_lowercase())
}

/// The connection manager's `upgrade_configs`; `enabled` defaults to true.
pub fn compile_hcm_upgrades(at: &At<'_>, list: &[UpgradeConfig]) -> Result<Upgrades> {
    let mut out = Vec::new();
    for (i, u) in list.iter().enumerate() {
        let uat = at.index(i);
        if !u.filters.is_empty() {
            return Err(uat
                .field("filters")
                .err("upgrade-specific filter chains are not supported"));
        }
        out.push((
            upgrade_type(&uat, &u.upgrade_type)?,
            u.enabled.unwrap_or(true),
        ));
    }
    Ok(Upgrades {
        types: out,
        terminate_connect: false,
    })
}

/// A route's `upgrade_configs`; `enabled` defaults to true.
pub fn compile_route_upgrades(at: &At<'_>, list: &[RouteUpgradeConfig]) -> Result<Upgrades> {
    let mut out = Upgrades::default();
    for (i, u) in list.iter().enumerate() {
        let uat = at.index(i);
        let kind = upgrade_type(&uat, &u.upgrade_type)?;
        let connect = kind == "connect";
        match (connect, u.connect_config.is_some()) {
            (true, false) => {
                return Err(uat.field("connect_config").err(
                    "required for CONNECT: CONNECT is terminated here, not forwarded upstream",
                ));
            }
            (false, true) => {
                return Err(uat
                    .field("connect_config")
                    .err("only for upgrade_type CONNECT"));
            }
            _ => {}
        }
        let enabled = u.enabled.unwrap_or(true);
        out.terminate_connect |= connect && enabled;
        out.types.push((kind, enabled));
    }
    Ok(out)
}

/// Whether a request asking for `upgrade` may be upgraded: the connection manager must list
/// the type; the route's entry for it, when there is one, decides over the manager's
/// `enabled`.
pub fn upgrade_allowed(hcm: &Upgrades, route: &Upgrades, upgrade: &str) -> bool {
    let Some(default) = hcm.enabled(upgrade) else {
        return false;
    };
    route.enabled(upgrade).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcm(json: serde_json::Value) -> Result<Upgrades> {
        let list: Vec<UpgradeConfig> = serde_json::from_value(json).expect("model");
        compile_hcm_upgrades(&At::new("hcm").field("upgrade_configs"), &list)
    }

    fn route(json: serde_json::Value) -> Result<Upgrades> {
        let list: Vec<RouteUpgradeConfig> = serde_json::from_value(json).expect("model");
        compile_route_upgrades(&At::new("route").field("upgrade_configs"), &list)
    }

    #[test]
    fn route_entries_override_the_managers_enabled() {
        let ws = hcm(serde_json::json!([{"upgrade_type": "websocket"}])).expect("hcm");
        let off =
            hcm(serde_json::json!([{"upgrade_type": "WebSocket", "enabled": false}])).expect("hcm");
        let none = Upgrades::default();
        let on_route = route(serde_json::json!([{"upgrade_type": "websocket"}])).expect("route");
        let off_route = route(serde_json::json!([{"upgrade_type": "websocket", "enabled": false}]))
            .expect("route");
        assert!(upgrade_allowed(&ws, &none, "WebSocket"));
        assert!(!upgrade_allowed(&ws, &none, "h2c"));
        assert!(!upgrade_allowed(&ws, &off_route, "websocket"));
        assert!(!upgrade_allowed(&off, &none, "websocket"));
        assert!(upgrade_allowed(&off, &on_route, "websocket"));
        assert!(
            !upgrade_allowed(&none, &on_route, "websocket"),
            "the manager must list it"
        );
    }

    #[test]
    fn connect_is_terminated_only_with_connect_config() {
        let on = hcm(serde_json::json!([{"upgrade_type": "CONNECT"}])).expect("hcm");
        let terminated =
            route(serde_json::json!([{"upgrade_type": "CONNECT", "connect_config": {}}]))
                .expect("route");
        let disabled = route(serde_json::json!([
            {"upgrade_type": "CONNECT", "connect_config": {}, "enabled": false}
        ]))
        .expect("route");
        assert!(connect_terminated(&on, &terminated));
        assert!(!connect_terminated(&on, &disabled));
        assert!(!connect_terminated(&on, &Upgrades::default()));
        assert!(!connect_terminated(&Upgrades::default(), &terminated));
        let e = route(serde_json::json!([{"upgrade_type": "CONNECT"}])).unwrap_err();
        assert!(
            e.to_string().contains("upgrade_configs[0].connect_config"),
            "{e}"
        );
    }

    #[test]
    fn upgrade_filters_and_stray_connect_config_are_rejected() {
        let e =
            hcm(serde_json::json!([{"upgrade_type": "websocket", "filters": [{}]}])).unwrap_err();
        assert!(e.to_string().contains("upgrade_configs[0].filters"), "{e}");
        let e =
            route(serde_json::json!([{"upgrade_type": "x", "connect_config": {}}])).unwrap_err();
        assert!(e.to_string().contains("connect_config"), "{e}");
    }
}
