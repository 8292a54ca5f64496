//! The destinations of a VirtualService with their field paths, shared by the analyzers that
//! look up hosts and subsets.

use weft_config::model::networking::{Destination, VirtualService};

/// One destination and where it is written.
#[derive(Debug, Clone, Copy)]
pub struct RouteDestination<'a> {
    pub destination: &'a Destination,
    /// Index of the rule in its list (`http[i]`), for messages that name the rule.
    pub rule: usize,
    /// Path of the `destination` object (`spec.http[0].route[1].destination`).
    pub path_prefix: &'static str,
    pub route: Option<usize>,
}

impl RouteDestination<'_> {
    /// The path of `field` inside the destination (`spec.tcp[0].route[1].destination.host`).
    pub fn field(&self, field: &str) -> String {
        match (self.path_prefix, self.route) {
            ("mirror", _) => format!("spec.http[{}].mirror.{field}", self.rule),
            ("mirrors", Some(j)) => {
                format!("spec.http[{}].mirrors[{j}].destination.{field}", self.rule)
            }
            (kind, Some(j)) => format!("spec.{kind}[{}].route[{j}].destination.{field}", self.rule),
            (kind, None) => format!("spec.{kind}[{}].{field}", self.rule),
        }
    }

    pub fn host(&self) -> Option<&str> {
        self.destination.host.as_deref().filter(|h| !h.is_empty())
    }
}

/// Route destinations in Istio's order: TCP, TLS, then HTTP.
pub fn route_destinations<'a>(vs: &'a VirtualService) -> Vec<RouteDestination<'a>> {
    let mut out = Vec::new();
    let mut add = |kind: &'static str, rule: usize, route: usize, d: Option<&'a Destination>| {
        if let Some(destination) = d {
            out.push(RouteDestination {
                destination,
                rule,
                path_prefix: kind,
                route: Some(route),
            });
        }
    };
    for (i, r) in vs.tcp.iter().enumerate() {
        for (j, rd) in r.route.iter().enumerate() {
            add("tcp", i, j, rd.destination.as_ref());
        }
    }
    for (i, r) in vs.tls.iter().enumerate() {
        for (j, rd) in r.route.iter().enumerate() {
            add("tls", i, j, rd.destination.as_ref());
        }
    }
    for (i, r) in vs.http.iter().enumerate() {
        for (j, rd) in r.route.iter().enumerate() {
            add("http", i, j, rd.destination.as_ref());
        }
    }
    out
}

/// HTTP mirror destinations (`mirror` and `mirrors[].destination`).
pub fn mirror_destinations(vs: &VirtualService) -> Vec<RouteDestination<'_>> {
    let mut out = Vec::new();
    for (i, r) in vs.http.iter().enumerate() {
        if let Some(m) = &r.mirror {
            out.push(RouteDestination {
                destination: m,
                rule: i,
                path_prefix: "mirror",
                route: None,
            });
        }
        for (j, m) in r.mirrors.iter().enumerate() {
            if let Some(destination) = &m.destination {
                out.push(RouteDestination {
                    destination,
                    rule: i,
                    path_prefix: "mirrors",
                    route: Some(j),
                });
            }
        }
    }
    out
}
