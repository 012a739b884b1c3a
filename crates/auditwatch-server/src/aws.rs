//! The AWS-compatible CloudTrail endpoint: `POST /` with `X-Amz-Target:
//! com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents` and an
//! `application/x-amz-json-1.1` body, answering as the botocore model describes, so
//! `aws cloudtrail lookup-events --endpoint-url …` and boto3 work unchanged.
//!
//! Differences from AWS, on purpose: every stored event is searchable (not just 90
//! days), and the caller's account scope applies. Insights events are not stored, so
//! `EventCategory=insight` answers an empty list.
//!
//! `ListPublicKeys` answers the keys the operator configured (`[integrity]
//! public_keys`), so `aws cloudtrail validate-logs` and `auditwatch verify` can take
//! CloudTrail's keys from Auditwatch where AWS is not reachable.

use auditwatch_store::{Attribute, Lookup, StoreError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::error::AwsError;
use crate::query::Queries;
use crate::{ApiError, AppState, Caller, view};

/// The target prefix of CloudTrail's JSON protocol (botocore, the AWS CLI).
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// The short prefix the Smithy-generated SDKs (Rust, Go v2, …) send; AWS accepts both.
pub const SHORT_TARGET_PREFIX: &str = "CloudTrail_20131101.";

/// `POST /` (Signature V4 or a session; the caller needs at least the viewer role).
pub fn routes() -> Routes {
    Routes::aws()
        .post("/", Access::Role(Role::Viewer), dispatch)
        .audit("lookup-events")
}

async fn dispatch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .or_else(|| target.strip_prefix(SHORT_TARGET_PREFIX));
    let result = match operation {
        Some("LookupEvents") => lookup_events(&state, &caller, &body).await,
        Some("ListPublicKeys") => list_public_keys(&state, &body),
        Some(op) => Err(AwsError::new(
            "UnknownOperationException",
            format!(
                "operation {op} is not supported by Auditwatch (LookupEvents and ListPublicKeys are)"
            ),
        )),
        None if target.is_empty() => Err(AwsError::new(
            "MissingAction",
            "missing X-Amz-Target header (this endpoint speaks the CloudTrail JSON 1.1 protocol)",
        )),
        None => Err(AwsError::new(
            "UnknownOperationException",
            format!("unknown target {target}"),
        )),
    };
    match result {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsRequest {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<Value>,
    end_time: Option<Value>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ListPublicKeysRequest {
    start_time: Option<Value>,
    end_time: Option<Value>,
    #[allow(dead_code)]
    next_token: Option<String>,
}

/// The configured keys whose validity overlaps `[StartTime, EndTime]` (both default
/// to now, as on AWS).
fn list_public_keys(state: &AppState, body: &[u8]) -> Result<Value, AwsError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    let req: ListPublicKeysRequest = serde_json::from_slice(body).map_err(|e| {
        AwsError::new(
            "SerializationException",
            format!("the request body is not a ListPublicKeys request: {e}"),
        )
    })?;
    let now = chrono::Utc::now().timestamp();
    let secs = |name: &str, v: &Option<Value>| -> Result<i64, AwsError> {
        v.as_ref()
            .map(|v| timestamp(name, v).map(|us| us.div_euclid(1_000_000)))
            .transpose()
            .map(|t| t.unwrap_or(now))
    };
    let start = secs("StartTime", &req.start_time)?;
    let end = secs("EndTime", &req.end_time)?;
    if start > end {
        return Err(AwsError::new(
            "InvalidTimeRangeException",
            "Start time must be before end time.",
        ));
    }
    let listed = auditwatch_integrity::KeyRing(
        state
            .config()
            .public_keys
            .0
            .iter()
            .filter(|k| {
                k.valid_from.is_none_or(|f| f <= end) && k.valid_to.is_none_or(|t| t >= start)
            })
            .cloned()
            .collect(),
    );
    let mut out = listed.to_json();
    // JSON 1.1 has no nulls: a key without a validity bound leaves the field out.
    if let Some(list) = out["PublicKeyList"].as_array_mut() {
        for k in list {
            if let Some(o) = k.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: Option<String>,
    attribute_value: Option<String>,
}

/// A JSON 1.1 timestamp: epoch seconds (number) or an ISO 8601 string.
fn timestamp(name: &str, v: &Value) -> Result<i64, AwsError> {
    let bad = || {
        AwsError::new(
            "SerializationException",
            format!("{name} must be epoch seconds or an ISO 8601 time"),
        )
    };
    match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or_else(bad)?;
            if !secs.is_finite() || secs.abs() > 1e11 {
                return Err(bad());
            }
            Ok((secs * 1e6).round() as i64)
        }
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_micros())
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

async fn lookup_events(state: &AppState, caller: &Caller, body: &[u8]) -> Result<Value, AwsError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    let req: LookupEventsRequest = serde_json::from_slice(body).map_err(|e| {
        AwsError::new(
            "SerializationException",
            format!("the request body is not a LookupEvents request: {e}"),
        )
    })?;
    if req.lookup_attributes.len() > 1 {
        return Err(AwsError::new(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let mut attributes = Vec::new();
    if let Some(a) = req.lookup_attributes.first() {
        let key = a.attribute_key.as_deref().unwrap_or("");
        let attr: Attribute = key.parse().map_err(|_| {
            AwsError::new(
                "InvalidLookupAttributesException",
                format!(
                    "Invalid AttributeKey {key:?}: use one of {}",
                    Attribute::ALL.map(Attribute::name).join(", ")
                ),
            )
        })?;
        let value = a.attribute_value.clone().unwrap_or_default();
        if value.is_empty() || value.chars().count() > 2000 {
            return Err(AwsError::new(
                "InvalidLookupAttributesException",
                "AttributeValue must be 1 to 2000 characters long.",
            ));
        }
        if attr == Attribute::ReadOnly && !matches!(value.as_str(), "true" | "false") {
            return Err(AwsError::new(
                "InvalidLookupAttributesException",
                "The ReadOnly attribute value must be true or false.",
            ));
        }
        attributes.push((attr, value));
    }
    let max_results = req.max_results.unwrap_or(50);
    if !(1..=50).contains(&max_results) {
        return Err(AwsError::new(
            "InvalidMaxResultsException",
            "MaxResults must be between 1 and 50.",
        ));
    }
    let start = req
        .start_time
        .as_ref()
        .map(|v| timestamp("StartTime", v))
        .transpose()?;
    let end = req
        .end_time
        .as_ref()
        .map(|v| timestamp("EndTime", v))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(AwsError::new(
            "InvalidTimeRangeException",
            "Start time must be before end time.",
        ));
    }
    match req.event_category.as_deref() {
        None => {}
        Some("insight") => return Ok(json!({"Events": []})),
        Some(other) => {
            return Err(AwsError::new(
                "InvalidEventCategoryException",
                format!("EventCategory {other:?} is not valid; the only category is insight."),
            ));
        }
    }
    let lookup = Lookup {
        attributes,
        start,
        end,
        max_results: max_results as usize,
        next_token: req.next_token.filter(|t| !t.is_empty()),
        ..Lookup::default()
    };
    let page = Queries::new(state, caller)
        .search_page(&lookup)
        .await
        .map_err(|e| match e {
            StoreError::InvalidToken(m) => AwsError::new("InvalidNextTokenException", m),
            other => AwsError::from(ApiError::from(other)),
        })?;
    let events: Vec<Value> = view::events(&page.events)?
        .iter()
        .map(|e| {
            let mut o = serde_json::Map::new();
            let mut put = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    o.insert(k.into(), Value::String(v.clone()));
                }
            };
            put("EventId", &e.event_id);
            put("EventName", &e.event_name);
            put("ReadOnly", &e.read_only.map(|b| b.to_string()));
            put("AccessKeyId", &e.access_key_id);
            put("EventSource", &e.event_source);
            put("Username", &e.username);
            o.insert("EventTime".into(), json!((e.time_us as f64) / 1e6));
            let resources: Vec<Value> = e
                .resources
                .iter()
                .map(|(t, a)| {
                    let mut r = serde_json::Map::new();
                    if let Some(t) = t {
                        r.insert("ResourceType".into(), Value::String(t.clone()));
                    }
                    if let Some(a) = a {
                        r.insert("ResourceName".into(), Value::String(a.clone()));
                    }
                    Value::Object(r)
                })
                .collect();
            o.insert("Resources".into(), Value::Array(resources));
            o.insert("CloudTrailEvent".into(), Value::String(e.raw.clone()));
            Value::Object(o)
        })
        .collect();
    let mut out = json!({ "Events": events });
    if let Some(t) = page.next_token {
        out["NextToken"] = Value::String(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp("T", &json!(1_700_000_000)).unwrap(),
            1_700_000_000_000_000
        );
        assert_eq!(timestamp("T", &json!(1.5)).unwrap(), 1_500_000);
        assert_eq!(
            timestamp("T", &json!("2024-01-01T00:00:00Z")).unwrap(),
            1_704_067_200_000_000
        );
        assert!(timestamp("T", &json!(true)).is_err());
        assert!(timestamp("T", &json!(1e300)).is_err());
    }
}
