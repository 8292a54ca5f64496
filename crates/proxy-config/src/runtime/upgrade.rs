//! Protocol upgrades (`upgrade_configs`): the `Upgrade` tokens a connection manager lets
//! through, a route's `enabled` override, and the decision for one request. CONNECT is not
//! supported and is rejected where it is configured.

use crate::error::{At, Result};
use crate::model::http::UpgradeConfig;
use crate::model::route::RouteUpgradeConfig;

/// Upgrade types (lowercase) with whether each is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrades(Vec<(String, bool)>);

impl Upgrades {
    fn enabled(&self, upgrade: &str) -> Option<bool> {
        self.0
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(upgrade))
            .map(|(_, e)| *e)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn upgrade_type(at: &At<'_>, t: &str) -> Result<String> {
    if t.is_empty() {
        return Err(at.field("upgrade_type").err("must not be empty"));
    }
    if t.eq_ignore_ascii_case("connect") {
        return Err(at
            .field("upgrade_type")
            .err("CONNECT is not supported (only Upgrade-header upgrades such as websocket)"));
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
    Ok(Upgrades(out))
}

/// A route's `upgrade_configs`; `enabled` defaults to true.
pub fn compile_route_upgrades(at: &At<'_>, list: &[RouteUpgradeConfig]) -> Result<Upgrades> {
    let mut out = Vec::new();
    for (i, u) in list.iter().enumerate() {
        let uat = at.index(i);
        if u.connect_config.is_some() {
            return Err(uat.field("connect_config").err("CONNECT is not supported"));
        }
        out.push((
            upgrade_type(&uat, &u.upgrade_type)?,
            u.enabled.unwrap_or(true),
        ));
    }
    Ok(Upgrades(out))
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
    fn connect_and_upgrade_filters_are_rejected() {
        let e = hcm(serde_json::json!([{"upgrade_type": "CONNECT"}])).unwrap_err();
        assert!(
            e.to_string().contains("upgrade_configs[0].upgrade_type"),
            "{e}"
        );
        let e =
            hcm(serde_json::json!([{"upgrade_type": "websocket", "filters": [{}]}])).unwrap_err();
        assert!(e.to_string().contains("upgrade_configs[0].filters"), "{e}");
        let e =
            route(serde_json::json!([{"upgrade_type": "x", "connect_config": {}}])).unwrap_err();
        assert!(e.to_string().contains("connect_config"), "{e}");
    }
}
