//! istioctl-style tables from a proxy's `/config_dump` and the control plane's `/debug/syncz`.
//! Pure functions over JSON, so the formats are unit-tested without a proxy.

use serde_json::Value;

/// Rows of text columns, printed with each column padded to its widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}     ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The config of one `@type` (suffix, e.g. `ClustersConfigDump`) in a config dump.
fn section<'a>(dump: &'a Value, kind: &str) -> Option<&'a Value> {
    dump["configs"]
        .as_array()?
        .iter()
        .find(|c| c["@type"].as_str().is_some_and(|t| t.ends_with(kind)))
}

fn items<'a>(dump: &'a Value, kind: &str, lists: &[&str], key: &str) -> Vec<&'a Value> {
    let Some(s) = section(dump, kind) else {
        return Vec::new();
    };
    lists
        .iter()
        .filter_map(|l| s[*l].as_array())
        .flatten()
        .map(|entry| match key {
            "listener" if !entry["active_state"].is_null() => &entry["active_state"]["listener"],
            _ => &entry[key],
        })
        .collect()
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

pub fn clusters(dump: &Value) -> String {
    let rows = items(
        dump,
        "ClustersConfigDump",
        &["static_clusters", "dynamic_active_clusters"],
        "cluster",
    )
    .into_iter()
    .map(|c| {
        let name = c["name"].as_str().unwrap_or_default();
        let kind = c["type"].as_str().unwrap_or("STATIC").to_string();
        match name.split('|').collect::<Vec<_>>().as_slice() {
            [dir, port, subset, host] => vec![
                host.to_string(),
                dash(port),
                dash(subset),
                dir.to_string(),
                kind,
            ],
            _ => vec![name.to_string(), "-".into(), "-".into(), "-".into(), kind],
        }
    })
    .collect::<Vec<_>>();
    render(
        &["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"],
        &rows,
    )
}

/// Where a filter chain sends traffic: `Route: NAME`, `Inline Route: ...` or `Cluster: NAME`.
fn destination(chain: &Value) -> String {
    let filter = &chain["filters"][0];
    let tc = &filter["typed_config"];
    if let Some(rds) = tc["rds"]["route_config_name"].as_str() {
        return format!("Route: {rds}");
    }
    if let Some(name) = tc["route_config"]["name"].as_str() {
        return format!("Inline Route: {name}");
    }
    if let Some(c) = tc["cluster"].as_str() {
        return format!("Cluster: {c}");
    }
    if tc["weighted_clusters"].is_object() {
        return "Weighted clusters".into();
    }
    filter["name"].as_str().unwrap_or("-").to_string()
}

fn chain_match(chain: &Value) -> String {
    let m = &chain["filter_chain_match"];
    let mut parts = Vec::new();
    if let Some(p) = m["destination_port"].as_u64() {
        parts.push(format!("port {p}"));
    }
    if let Some(t) = m["transport_protocol"].as_str() {
        parts.push(format!("Trans: {t}"));
    }
    if let Some(a) = m["application_protocols"].as_array() {
        let a: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
        parts.push(format!("App: {}", a.join(",")));
    }
    if parts.is_empty() {
        "ALL".into()
    } else {
        parts.join("; ")
    }
}

pub fn listeners(dump: &Value) -> String {
    let mut rows = Vec::new();
    for l in items(
        dump,
        "ListenersConfigDump",
        &["static_listeners", "dynamic_listeners"],
        "listener",
    ) {
        let sa = &l["address"]["socket_address"];
        let addr = sa["address"].as_str().unwrap_or("-").to_string();
        let port = sa["port_value"].as_u64().unwrap_or(0).to_string();
        let chains = l["filter_chains"].as_array().cloned().unwrap_or_default();
        for chain in chains.iter().chain(l.get("default_filter_chain")) {
            rows.push(vec![
                addr.clone(),
                port.clone(),
                chain_match(chain),
                destination(chain),
            ]);
        }
    }
    render(&["ADDRESSES", "PORT", "MATCH", "DESTINATION"], &rows)
}

fn route_match(route: &Value) -> String {
    let m = &route["match"];
    for (key, fmt) in [
        ("prefix", "*"),
        ("path", ""),
        ("path_separated_prefix", "/*"),
    ] {
        if let Some(v) = m[key].as_str() {
            return format!("{v}{fmt}");
        }
    }
    m["safe_regex"]["regex"]
        .as_str()
        .map_or("-".into(), |r| format!("~{r}"))
}

pub fn routes(dump: &Value) -> String {
    let mut rows = Vec::new();
    for rc in items(
        dump,
        "RoutesConfigDump",
        &["dynamic_route_configs"],
        "route_config",
    ) {
        let name = rc["name"].as_str().unwrap_or_default();
        for vh in rc["virtual_hosts"].as_array().into_iter().flatten() {
            let domains: Vec<&str> = vh["domains"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let shown = match domains.as_slice() {
                [] => "-".to_string(),
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} + {} more...", rest.len()),
            };
            for r in vh["routes"].as_array().into_iter().flatten() {
                rows.push(vec![
                    name.to_string(),
                    dash(vh["name"].as_str().unwrap_or_default()),
                    shown.clone(),
                    route_match(r),
                ]);
            }
        }
    }
    render(&["NAME", "VHOST NAME", "DOMAINS", "MATCH"], &rows)
}

pub fn endpoints(dump: &Value) -> String {
    let mut rows = Vec::new();
    for la in items(
        dump,
        "EndpointsConfigDump",
        &["dynamic_endpoint_configs"],
        "endpoint_config",
    ) {
        let cluster = la["cluster_name"].as_str().unwrap_or_default();
        for locality in la["endpoints"].as_array().into_iter().flatten() {
            for ep in locality["lb_endpoints"].as_array().into_iter().flatten() {
                let sa = &ep["endpoint"]["address"]["socket_address"];
                let addr = format!(
                    "{}:{}",
                    sa["address"].as_str().unwrap_or("-"),
                    sa["port_value"].as_u64().unwrap_or(0)
                );
                let health = ep["health_status"]
                    .as_str()
                    .unwrap_or("HEALTHY")
                    .to_string();
                rows.push(vec![addr, health, cluster.to_string()]);
            }
        }
    }
    render(&["ENDPOINT", "STATUS", "CLUSTER"], &rows)
}

/// `SYNCED` (the sent version was ACKed), `NOT SENT`, `STALE` (sent, not ACKed yet) or
/// `NACK` (rejected; the proxy keeps its previous config).
fn sync_state(t: &Value) -> &'static str {
    let sent = t["sent_version"].as_str();
    if sent.is_none() {
        return "NOT SENT";
    }
    if !t["nacked"].is_null() {
        return "NACK";
    }
    if t["acked_version"].as_str() == sent {
        "SYNCED"
    } else {
        "STALE"
    }
}

/// Istio's proxy-status table. The control plane does not track ECDS (it sends none), and its
/// "ISTIOD" column names this control plane.
pub fn proxy_status(syncz: &Value) -> String {
    let mut rows = Vec::new();
    for c in syncz.as_array().into_iter().flatten() {
        let node = c["node_id"].as_str().unwrap_or_default();
        let name = node.split('~').nth(2).unwrap_or(node).to_string();
        let cluster = c["cluster_id"].as_str().unwrap_or("Kubernetes").to_string();
        let mut row = vec![name, cluster];
        for t in ["cds", "lds", "eds", "rds"] {
            row.push(sync_state(&c["types"][t]).to_string());
        }
        row.push("NOT SENT".into());
        row.push("weft-control".into());
        row.push(env!("CARGO_PKG_VERSION").into());
        rows.push(row);
    }
    rows.sort();
    render(
        &[
            "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION",
        ],
        &rows,
    )
}

/// NACK messages, one line per rejected type and proxy.
pub fn nacks(syncz: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in syncz.as_array().into_iter().flatten() {
        for (t, s) in c["types"].as_object().into_iter().flatten() {
            if let Some(m) = s["nacked"]["message"].as_str() {
                out.push(format!(
                    "{} {t}: {m}",
                    c["node_id"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// istioctl's `proxy-config secret` table from the proxy's `/certs`: one row per leaf
/// certificate and per trust bundle.
pub fn secrets(certs: &Value) -> String {
    let mut rows = Vec::new();
    for entry in certs["certificates"].as_array().into_iter().flatten() {
        for (list, kind) in [("cert_chain", "Cert Chain"), ("ca_cert", "CA")] {
            let Some(first) = entry[list].as_array().and_then(|l| l.first()) else {
                continue;
            };
            let text = |k: &str| first[k].as_str().unwrap_or_default().to_string();
            let valid = first["days_until_expiration"]
                .as_str()
                .and_then(|d| d.parse::<u64>().ok())
                .is_some_and(|d| d > 0);
            rows.push(vec![
                text("path"),
                kind.to_string(),
                "ACTIVE".to_string(),
                valid.to_string(),
                text("serial_number"),
                text("expiration_time"),
                text("valid_from"),
            ]);
        }
    }
    render(
        &[
            "RESOURCE NAME",
            "TYPE",
            "STATUS",
            "VALID CERT",
            "SERIAL NUMBER",
            "NOT AFTER",
            "NOT BEFORE",
        ],
        &rows,
    )
}
