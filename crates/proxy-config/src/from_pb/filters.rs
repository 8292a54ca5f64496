//! HTTP filter configs (fault, CORS) and `typed_per_filter_config` protobufs into the model.

use std::collections::HashMap;

use weft_xds::pb::envoy::extensions::filters::common::fault::v3 as common_fault;
use weft_xds::pb::envoy::extensions::filters::http::cors::v3 as cors;
use weft_xds::pb::envoy::extensions::filters::http::fault::v3 as fault;
use weft_xds::pb::envoy::r#type::v3 as ty;
use weft_xds::pb::google::protobuf as wkt;

use super::route::string_matcher;
use super::{dur, enum_named, rest, unpack};
use crate::error::{At, Result};
use crate::model::filters as m;

pub(crate) const FAULT_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
pub(crate) const CORS_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
pub(crate) const CORS_POLICY_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

pub(crate) fn fractional(
    at: &At<'_>,
    p: Option<&ty::FractionalPercent>,
) -> Result<Option<m::FractionalPercent>> {
    let Some(p) = p else { return Ok(None) };
    let name = ty::fractional_percent::DenominatorType::try_from(p.denominator)
        .ok()
        .map(|d| d.as_str_name());
    Ok(Some(m::FractionalPercent {
        numerator: p.numerator,
        denominator: enum_named(&at.field("denominator"), name)?,
    }))
}

pub(crate) fn http_fault(at: &At<'_>, f: &fault::HttpFault) -> Result<m::HttpFault> {
    let mut left = f.clone();
    left.delay = None;
    left.abort = None;
    left.max_active_faults = None;
    rest(at, &left)?;
    let delay = f
        .delay
        .as_ref()
        .map(|d| fault_delay(&at.field("delay"), d))
        .transpose()?;
    let abort = f
        .abort
        .as_ref()
        .map(|a| fault_abort(&at.field("abort"), a))
        .transpose()?;
    Ok(m::HttpFault {
        delay,
        abort,
        max_active_faults: f.max_active_faults.map(|v| v.value),
    })
}

fn fault_delay(at: &At<'_>, d: &common_fault::FaultDelay) -> Result<m::FaultDelay> {
    use common_fault::fault_delay::FaultDelaySecifier as S;
    let mut left = *d;
    left.percentage = None;
    left.fault_delay_secifier = None;
    rest(at, &left)?;
    let mut out = m::FaultDelay {
        percentage: fractional(&at.field("percentage"), d.percentage.as_ref())?,
        ..Default::default()
    };
    match &d.fault_delay_secifier {
        Some(S::FixedDelay(v)) => out.fixed_delay = dur(&at.field("fixed_delay"), Some(v))?,
        Some(S::HeaderDelay(_)) => out.header_delay = Some(serde_json::json!({})),
        None => return Err(at.err("one of fixed_delay, header_delay is required")),
    }
    Ok(out)
}

fn fault_abort(at: &At<'_>, a: &fault::FaultAbort) -> Result<m::FaultAbort> {
    use fault::fault_abort::ErrorType as E;
    let mut left = a.clone();
    left.percentage = None;
    left.error_type = None;
    rest(at, &left)?;
    let mut out = m::FaultAbort {
        percentage: fractional(&at.field("percentage"), a.percentage.as_ref())?,
        ..Default::default()
    };
    match &a.error_type {
        Some(E::HttpStatus(s)) => out.http_status = Some(*s),
        Some(E::GrpcStatus(s)) => out.grpc_status = Some(*s),
        Some(E::HeaderAbort(_)) => out.header_abort = Some(serde_json::json!({})),
        None => return Err(at.err("one of http_status, grpc_status, header_abort is required")),
    }
    Ok(out)
}

pub(crate) fn cors_policy(at: &At<'_>, c: &cors::CorsPolicy) -> Result<m::CorsPolicy> {
    let mut left = c.clone();
    left.allow_origin_string_match.clear();
    left.allow_methods.clear();
    left.allow_headers.clear();
    left.expose_headers.clear();
    left.max_age.clear();
    left.allow_credentials = None;
    rest(at, &left)?;
    let allow_origin_string_match = c
        .allow_origin_string_match
        .iter()
        .enumerate()
        .map(|(i, s)| string_matcher(&at.field("allow_origin_string_match").index(i), s))
        .collect::<Result<_>>()?;
    Ok(m::CorsPolicy {
        allow_origin_string_match,
        allow_methods: c.allow_methods.clone(),
        allow_headers: c.allow_headers.clone(),
        expose_headers: c.expose_headers.clone(),
        max_age: c.max_age.clone(),
        allow_credentials: c.allow_credentials.map(|b| b.value),
    })
}

/// `typed_per_filter_config`: fault (`HTTPFault`) and CORS (`CorsPolicy`) overrides.
pub(crate) fn per_filter_configs(
    at: &At<'_>,
    map: &HashMap<String, wkt::Any>,
) -> Result<m::PerFilterConfigs> {
    let mut out = m::PerFilterConfigs::new();
    for (name, any) in map {
        let at = at.field(name);
        let cfg = if weft_xds::same_type(&any.type_url, FAULT_TYPE) {
            m::PerFilterConfig::Fault(http_fault(&at, &unpack(&at, any)?)?)
        } else if weft_xds::same_type(&any.type_url, CORS_POLICY_TYPE) {
            m::PerFilterConfig::Cors(cors_policy(&at, &unpack(&at, any)?)?)
        } else if weft_xds::same_type(&any.type_url, crate::model::rbac::HTTP_RBAC_PER_ROUTE_TYPE) {
            m::PerFilterConfig::Rbac(super::rbac::rbac_per_route(&at, &unpack(&at, any)?)?)
        } else {
            return Err(at.err(format!(
                "unsupported per-filter config type {:?} (HTTPFault, CorsPolicy and RBACPerRoute are supported)",
                any.type_url
            )));
        };
        out.insert(name.clone(), cfg);
    }
    Ok(out)
}
