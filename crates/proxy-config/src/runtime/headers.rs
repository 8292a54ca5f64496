//! Precompiled header mutations (`*_headers_to_add` / `*_headers_to_remove`).

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::error::{At, Result};
use crate::model::core::{AppendAction, HeaderValueOption};
use crate::model::route::HasHeaderMutations;

#[derive(Debug, Clone)]
pub struct HeaderAdd {
    pub name: HeaderName,
    pub value: HeaderValue,
    pub action: AppendAction,
}

#[derive(Debug, Clone, Default)]
pub struct HeaderList {
    pub add: Vec<HeaderAdd>,
    pub remove: Vec<HeaderName>,
}

impl HeaderList {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Removes first, then adds, as Envoy does.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for h in &self.add {
            match h.action {
                AppendAction::AppendIfExistsOrAdd => {
                    headers.append(h.name.clone(), h.value.clone());
                }
                AppendAction::AddIfAbsent => {
                    if !headers.contains_key(&h.name) {
                        headers.insert(h.name.clone(), h.value.clone());
                    }
                }
                AppendAction::OverwriteIfExistsOrAdd => {
                    headers.insert(h.name.clone(), h.value.clone());
                }
                AppendAction::OverwriteIfExists => {
                    if headers.contains_key(&h.name) {
                        headers.insert(h.name.clone(), h.value.clone());
                    }
                }
            }
        }
    }
}

/// Request and response mutations of one level (route config, virtual host, route, weighted
/// cluster).
#[derive(Debug, Clone, Default)]
pub struct HeaderOps {
    pub request: HeaderList,
    pub response: HeaderList,
}

pub fn compile_ops<T: HasHeaderMutations>(at: &At<'_>, src: &T) -> Result<HeaderOps> {
    Ok(HeaderOps {
        request: HeaderList {
            add: compile_adds(&at.field("request_headers_to_add"), src.request_add())?,
            remove: compile_removes(&at.field("request_headers_to_remove"), src.request_remove())?,
        },
        response: HeaderList {
            add: compile_adds(&at.field("response_headers_to_add"), src.response_add())?,
            remove: compile_removes(
                &at.field("response_headers_to_remove"),
                src.response_remove(),
            )?,
        },
    })
}

fn compile_adds(at: &At<'_>, list: &[HeaderValueOption]) -> Result<Vec<HeaderAdd>> {
    let mut out = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let at = at.index(i);
        let name = header_name(&at.field("header.key"), &h.header.key)?;
        let value = HeaderValue::from_str(&h.header.value)
            .map_err(|_| at.field("header.value").err("invalid header value"))?;
        let action = match (h.append_action, h.append) {
            (Some(a), None) => a,
            (None, Some(false)) => AppendAction::OverwriteIfExistsOrAdd,
            (None, _) => AppendAction::AppendIfExistsOrAdd,
            (Some(_), Some(_)) => {
                return Err(at.err("append and append_action are mutually exclusive"));
            }
        };
        out.push(HeaderAdd {
            name,
            value,
            action,
        });
    }
    Ok(out)
}

fn compile_removes(at: &At<'_>, list: &[String]) -> Result<Vec<HeaderName>> {
    list.iter()
        .enumerate()
        .map(|(i, n)| header_name(&at.index(i), n))
        .collect()
}

fn header_name(at: &At<'_>, name: &str) -> Result<HeaderName> {
    if name.starts_with(':') || name.eq_ignore_ascii_case("host") {
        return Err(at.err(format!("pseudo-header or host {name:?} cannot be modified")));
    }
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| at.err(format!("invalid header name {name:?}")))
}
