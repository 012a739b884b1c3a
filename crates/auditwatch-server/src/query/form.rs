//! What a search asks, as the API, the pages and exports take it: [`SearchForm`] from
//! the query string ([`Q`]), checked against the search bounds
//! ([`MAX_PARAM_CONDITIONS`] …) and turned into a store [`Lookup`]; times read and
//! written in one format.

use auditwatch_event::timearg;
use auditwatch_store::dimension::Dimension;
use auditwatch_store::{Attribute, Lookup};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// Query-string extractor whose rejections are JSON API errors; repeated keys
/// (`attr=…&attr=…`) fill `Vec` fields.
#[derive(Debug, Clone, Default)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum_extra::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}

/// The filters of a search, as the API, the UI and exports take them.
///
/// Attribute filters (named, or `attr`/`value` pairs) are ANDed with every other filter.
/// Empty values count as absent, so an HTML form can submit every field.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchForm {
    /// Earliest event time: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` (UTC) or
    /// relative (`24h`, `7d`); in the years 1970 to 9999.
    pub start: Option<String>,
    /// Latest event time, same forms; a bare date means the end of that day.
    pub end: Option<String>,
    /// LookupEvents attribute EventId.
    pub event_id: Option<String>,
    /// LookupEvents attribute EventName.
    pub event_name: Option<String>,
    /// LookupEvents attribute ReadOnly (`true`/`false`).
    pub read_only: Option<String>,
    /// LookupEvents attribute Username.
    pub username: Option<String>,
    /// LookupEvents attribute ResourceType (`AWS::S3::Bucket`).
    pub resource_type: Option<String>,
    /// LookupEvents attribute ResourceName (ARN or name).
    pub resource_name: Option<String>,
    /// LookupEvents attribute EventSource (`s3.amazonaws.com`).
    pub event_source: Option<String>,
    /// LookupEvents attribute AccessKeyId.
    pub access_key_id: Option<String>,
    /// More attribute keys (AWS names: EventId, EventName, ReadOnly, Username,
    /// ResourceType, ResourceName, EventSource, AccessKeyId), paired in order with `value`.
    pub attr: Vec<String>,
    /// The values of `attr`, in the same order.
    pub value: Vec<String>,
    /// Text that must appear anywhere in the record (case-sensitive); at most 1 KiB.
    pub q: Option<String>,
    /// Accounts, comma-separated (at most 1000, as for every list).
    pub account: Option<String>,
    /// Regions, comma-separated.
    pub region: Option<String>,
    /// Error codes, comma-separated.
    pub error_code: Option<String>,
    /// `true`: only events with an error code.
    pub errors: Option<String>,
    /// `true`: only failed calls (an error code, or a console sign-in CloudTrail
    /// records as `Failure`).
    pub failed: Option<String>,
    /// Source IP addresses, comma-separated.
    pub source_ip: Option<String>,
    /// The origin behind the calls, directly or through any chain of role sessions:
    /// an IAM user's name or ARN, a root ARN, a SAML or OIDC subject, an Identity
    /// Center user, a service principal, or a source identity; at most 1 KiB.
    pub origin: Option<String>,
    /// `requestParameters` conditions `path=value`, the path dotted from the top
    /// (`bucketName=prod-data`, `filter.name=x`, at most 16 keys); repeatable, at most 20.
    pub param: Vec<String>,
    /// Values to leave out, `field:value` (`username:alice`, `eventName:GetObject`);
    /// the fields are username, eventName, eventSource, sourceIPAddress, errorCode,
    /// accountId, awsRegion, userAgent and eventType. Events without the field are
    /// kept. Repeatable, at most 20.
    pub exclude: Vec<String>,
    /// `newest` (the default) or `oldest` first.
    pub order: Option<String>,
    /// Most events per page (default 50).
    pub limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn list(v: &Option<String>) -> Vec<String> {
    present(v)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Most `requestParameters` conditions (`param=`, or tracker `params` pairs) one
/// search may have. Each is one more ANDed expression; thousands of them nest deeper
/// than a thread's stack.
pub const MAX_PARAM_CONDITIONS: usize = 20;
/// Most attribute conditions (the named ones plus `attr`/`value` pairs) one search may
/// have (AWS's LookupEvents allows one).
pub const MAX_ATTRIBUTE_CONDITIONS: usize = 20;
/// Most values in one list filter (accounts, regions, error codes, source IPs).
pub const MAX_LIST_VALUES: usize = 1000;
/// Longest free-text search (`q`), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Deepest `requestParameters` path (keys of `a.b.c`).
pub const MAX_PARAM_DEPTH: usize = 16;
/// Most exclusions (`exclude=field:value`) one search may have.
pub const MAX_EXCLUSIONS: usize = 20;

fn too_many_exclusions(n: usize) -> ApiError {
    ApiError::limit(format!(
        "{n} exclusions: at most {MAX_EXCLUSIONS} (MAX_EXCLUSIONS) per search"
    ))
}

/// Refuses a lookup beyond the limits above, naming the limit. Every path from query
/// parameters to a [`Lookup`] (search form, tracker) goes through it, before the store
/// builds an expression.
pub fn check_limits(l: &Lookup) -> Result<(), ApiError> {
    if l.params.len() > MAX_PARAM_CONDITIONS {
        return Err(ApiError::limit(format!(
            "{} requestParameters conditions: at most {MAX_PARAM_CONDITIONS} (MAX_PARAM_CONDITIONS) per search",
            l.params.len()
        )));
    }
    if let Some((path, _)) = l.params.iter().find(|(p, _)| p.len() > MAX_PARAM_DEPTH) {
        return Err(ApiError::limit(format!(
            "requestParameters path {:?} has {} keys: at most {MAX_PARAM_DEPTH} (MAX_PARAM_DEPTH)",
            path.join("."),
            path.len()
        )));
    }
    if l.attributes.len() > MAX_ATTRIBUTE_CONDITIONS {
        return Err(ApiError::limit(format!(
            "{} attribute conditions: at most {MAX_ATTRIBUTE_CONDITIONS} (MAX_ATTRIBUTE_CONDITIONS) per search",
            l.attributes.len()
        )));
    }
    for (name, values) in [
        ("account", &l.accounts),
        ("region", &l.regions),
        ("errorCode", &l.error_codes),
        ("sourceIp", &l.source_ips),
    ] {
        if values.len() > MAX_LIST_VALUES {
            return Err(ApiError::limit(format!(
                "{name} lists {} values: at most {MAX_LIST_VALUES} (MAX_LIST_VALUES)",
                values.len()
            )));
        }
    }
    if l.exclude.len() > MAX_EXCLUSIONS {
        return Err(too_many_exclusions(l.exclude.len()));
    }
    if let Some(t) = &l.text
        && t.len() > MAX_TEXT_BYTES
    {
        return Err(ApiError::limit(format!(
            "the free text (q) is {} bytes: at most {MAX_TEXT_BYTES} (MAX_TEXT_BYTES)",
            t.len()
        )));
    }
    if let Some(o) = &l.origin
        && o.len() > MAX_TEXT_BYTES
    {
        return Err(ApiError::limit(format!(
            "the origin is {} bytes: at most {MAX_TEXT_BYTES} (MAX_TEXT_BYTES)",
            o.len()
        )));
    }
    Ok(())
}

/// Parses a truthy/falsy form value (`true`, `on`, `1` / `false`, `off`, `0`, empty).
pub fn flag(name: &str, v: &Option<String>) -> Result<bool, ApiError> {
    match present(v).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "off" | "0") => Ok(false),
        Some("true" | "on" | "1") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// Parses an optional time field; `end` makes a bare date mean the end of that day.
pub fn time_field(name: &str, v: &Option<String>, end: bool) -> Result<Option<i64>, ApiError> {
    present(v)
        .map(|s| {
            timearg::parse(s, Utc::now(), end)
                .map_err(|e| ApiError::invalid(format!("{name}: {e}")))
        })
        .transpose()
}

/// Checks that `end` is not before `start`.
pub fn check_range(start: Option<i64>, end: Option<i64>) -> Result<(), ApiError> {
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::invalid(format!(
            "end ({}) is before start ({})",
            fmt_time(e),
            fmt_time(s)
        )));
    }
    Ok(())
}

/// A µs timestamp as RFC 3339 (UTC, seconds).
pub fn fmt_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

impl SearchForm {
    /// The attributes given by their own parameters (`username=…`, `eventName=…`), as
    /// links name them; present ones only, trimmed.
    pub fn named_attributes(&self) -> impl Iterator<Item = (Attribute, &str)> {
        [
            (Attribute::EventId, &self.event_id),
            (Attribute::EventName, &self.event_name),
            (Attribute::ReadOnly, &self.read_only),
            (Attribute::Username, &self.username),
            (Attribute::ResourceType, &self.resource_type),
            (Attribute::ResourceName, &self.resource_name),
            (Attribute::EventSource, &self.event_source),
            (Attribute::AccessKeyId, &self.access_key_id),
        ]
        .into_iter()
        .filter_map(|(a, v)| present(v).map(|v| (a, v)))
    }

    /// The attribute filters of the form, validated.
    pub fn attributes(&self) -> Result<Vec<(Attribute, String)>, ApiError> {
        let mut out: Vec<(Attribute, String)> = self
            .named_attributes()
            .map(|(a, v)| (a, v.to_string()))
            .collect();
        if self.attr.len() != self.value.len() {
            return Err(ApiError::invalid(format!(
                "{} attr but {} value parameters; give them in pairs",
                self.attr.len(),
                self.value.len()
            )));
        }
        for (k, v) in self.attr.iter().zip(&self.value) {
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() && v.is_empty() {
                continue;
            }
            let a: Attribute = k.parse().map_err(ApiError::from)?;
            if v.is_empty() {
                return Err(ApiError::invalid(format!("attribute {k} has no value")));
            }
            out.push((a, v.to_string()));
        }
        Ok(out)
    }

    /// The exclusions of the form (`field:value`), validated.
    pub fn exclusions(&self) -> Result<Vec<(Dimension, String)>, ApiError> {
        let given: Vec<&String> = self
            .exclude
            .iter()
            .filter(|e| !e.trim().is_empty())
            .collect();
        // Counted before parsing, so a long list is refused without the work.
        if given.len() > MAX_EXCLUSIONS {
            return Err(too_many_exclusions(given.len()));
        }
        given
            .into_iter()
            .map(|e| {
                let (field, value) = e.split_once(':').ok_or_else(|| {
                    ApiError::invalid(format!("exclude {e:?} must look like field:value"))
                })?;
                let column = Dimension::named(field.trim()).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "exclude {e:?}: cannot exclude by {field:?}; use one of {}",
                        Dimension::ALL.map(Dimension::column).join(", ")
                    ))
                })?;
                Ok((column, value.to_string()))
            })
            .collect()
    }

    /// Whether the form asks for the oldest events first.
    pub fn oldest_first(&self) -> Result<bool, ApiError> {
        match present(&self.order) {
            None | Some("newest") => Ok(false),
            Some("oldest") => Ok(true),
            Some(other) => Err(ApiError::invalid(format!(
                "order must be newest or oldest, not {other:?}"
            ))),
        }
    }

    /// The form as a store lookup with at most `max_page` events per page.
    pub fn to_lookup(&self, max_page: usize) -> Result<Lookup, ApiError> {
        let start = time_field("start", &self.start, false)?;
        let end = time_field("end", &self.end, true)?;
        check_range(start, end)?;
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > max_page {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {max_page}, not {limit}"
            )));
        }
        let mut params = Vec::new();
        let conditions = self.param.iter().filter(|p| !p.trim().is_empty()).count();
        if conditions > MAX_PARAM_CONDITIONS {
            return Err(ApiError::limit(format!(
                "{conditions} param conditions: at most {MAX_PARAM_CONDITIONS} (MAX_PARAM_CONDITIONS) per search"
            )));
        }
        if self.attr.len() > MAX_ATTRIBUTE_CONDITIONS {
            return Err(ApiError::limit(format!(
                "{} attr conditions: at most {MAX_ATTRIBUTE_CONDITIONS} (MAX_ATTRIBUTE_CONDITIONS) per search",
                self.attr.len()
            )));
        }
        for p in &self.param {
            if p.trim().is_empty() {
                continue;
            }
            let (path, value) = p.split_once('=').ok_or_else(|| {
                ApiError::invalid(format!("param {p:?} must look like path=value"))
            })?;
            let path: Vec<String> = path.split('.').map(|s| s.trim().to_string()).collect();
            if path.iter().any(String::is_empty) {
                return Err(ApiError::invalid(format!(
                    "param {p:?}: the path has an empty key"
                )));
            }
            params.push((path, value.to_string()));
        }
        let lookup = Lookup {
            attributes: self.attributes()?,
            start,
            end,
            accounts: list(&self.account),
            regions: list(&self.region),
            error_codes: list(&self.error_code),
            errors_only: flag("errors", &self.errors)?,
            failed_only: flag("failed", &self.failed)?,
            source_ips: list(&self.source_ip),
            params,
            text: present(&self.q).map(str::to_string),
            origin: present(&self.origin).map(str::to_string),
            exclude: self.exclusions()?,
            oldest_first: self.oldest_first()?,
            max_results: limit,
            next_token: present(&self.cursor).map(str::to_string),
        };
        check_limits(&lookup)?;
        Ok(lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named() {
        let refused = |f: SearchForm, bound: &str| {
            let e = f.to_lookup(100).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(bound), "{bound}: {}", e.message);
        };
        let params = |n: usize, path: &str| (0..n).map(|i| format!("{path}={i}")).collect();
        refused(
            SearchForm {
                param: params(MAX_PARAM_CONDITIONS + 1, "a.b"),
                ..SearchForm::default()
            },
            "MAX_PARAM_CONDITIONS",
        );
        let deep = vec!["k"; MAX_PARAM_DEPTH + 1].join(".");
        refused(
            SearchForm {
                param: params(1, &deep),
                ..SearchForm::default()
            },
            "MAX_PARAM_DEPTH",
        );
        refused(
            SearchForm {
                attr: vec!["EventName".into(); MAX_ATTRIBUTE_CONDITIONS + 1],
                value: vec!["x".into(); MAX_ATTRIBUTE_CONDITIONS + 1],
                ..SearchForm::default()
            },
            "MAX_ATTRIBUTE_CONDITIONS",
        );
        refused(
            SearchForm {
                source_ip: Some(vec!["10.0.0.1"; MAX_LIST_VALUES + 1].join(",")),
                ..SearchForm::default()
            },
            "MAX_LIST_VALUES",
        );
        refused(
            SearchForm {
                q: Some("x".repeat(MAX_TEXT_BYTES + 1)),
                ..SearchForm::default()
            },
            "MAX_TEXT_BYTES",
        );
        let at_limits = SearchForm {
            param: params(MAX_PARAM_CONDITIONS, &vec!["k"; MAX_PARAM_DEPTH].join(".")),
            attr: vec!["EventName".into(); MAX_ATTRIBUTE_CONDITIONS],
            value: vec!["x".into(); MAX_ATTRIBUTE_CONDITIONS],
            account: Some(vec!["111111111111"; MAX_LIST_VALUES].join(",")),
            q: Some("x".repeat(MAX_TEXT_BYTES)),
            ..SearchForm::default()
        };
        assert!(at_limits.to_lookup(100).is_ok());
    }

    #[test]
    fn forms_validate() {
        let f = SearchForm {
            start: Some("2024-05-02".into()),
            end: Some("2024-05-01".into()),
            ..SearchForm::default()
        };
        assert!(
            f.to_lookup(100)
                .unwrap_err()
                .message
                .contains("before start")
        );
        let f = SearchForm {
            attr: vec!["EventName".into(), "Bogus".into()],
            value: vec!["x".into(), "y".into()],
            ..SearchForm::default()
        };
        assert!(f.to_lookup(100).unwrap_err().message.contains("Bogus"));
        let f = SearchForm {
            event_name: Some("  ".into()),
            attr: vec!["Username".into()],
            value: vec!["alice".into()],
            param: vec!["bucketName=prod".into()],
            errors: Some("on".into()),
            ..SearchForm::default()
        };
        let l = f.to_lookup(100).unwrap();
        assert_eq!(
            l.attributes,
            vec![(Attribute::Username, "alice".to_string())]
        );
        assert_eq!(
            l.params,
            vec![(vec!["bucketName".to_string()], "prod".to_string())]
        );
        assert!(l.errors_only);
        assert_eq!(l.max_results, 50);
        assert!(
            SearchForm {
                limit: Some(101),
                ..SearchForm::default()
            }
            .to_lookup(100)
            .is_err()
        );
    }
}
