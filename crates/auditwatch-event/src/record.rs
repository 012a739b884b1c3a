//! A CloudTrail record as typed, borrowed fields, plus the derived `username`,
//! `accountId` and identity key.
//!
//! Parsing is lenient where CloudTrail is inconsistent (a scalar where a string was
//! expected becomes its text; nested payloads stay JSON text) and strict where the
//! record would be meaningless: an event needs an `eventTime` we can read. Unknown
//! fields are ignored here and never lost: the caller keeps the record's text.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::lenient::{Flag, Json, Text};

/// One CloudTrail record, borrowing from its JSON text.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The record exactly as read.
    pub raw: &'a str,
    /// `eventTime`, parsed, in microseconds since the Unix epoch.
    pub event_time_us: i64,
    /// All the CloudTrail fields this model names.
    pub fields: Fields<'a>,
}

/// The fields of a record that become typed columns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Fields<'a> {
    #[serde(borrow, default)]
    pub event_version: Text<'a>,
    #[serde(borrow, default)]
    pub event_time: Text<'a>,
    /// Logstash exports move `eventTime` here; used only when `eventTime` is absent.
    #[serde(borrow, default, rename = "@timestamp")]
    pub logstash_timestamp: Text<'a>,
    #[serde(borrow, default)]
    pub event_source: Text<'a>,
    #[serde(borrow, default)]
    pub event_name: Text<'a>,
    #[serde(borrow, default)]
    pub aws_region: Text<'a>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    pub source_ip_address: Text<'a>,
    #[serde(borrow, default)]
    pub user_agent: Text<'a>,
    #[serde(borrow, default)]
    pub error_code: Text<'a>,
    #[serde(borrow, default)]
    pub error_message: Text<'a>,
    #[serde(borrow, default)]
    pub request_parameters: Json<'a>,
    #[serde(borrow, default)]
    pub response_elements: Json<'a>,
    #[serde(borrow, default)]
    pub additional_event_data: Json<'a>,
    #[serde(borrow, default)]
    pub service_event_details: Json<'a>,
    #[serde(borrow, default)]
    pub insight_details: Json<'a>,
    #[serde(borrow, default)]
    pub addendum: Json<'a>,
    #[serde(borrow, default)]
    pub edge_device_details: Json<'a>,
    #[serde(borrow, default, rename = "requestID")]
    pub request_id: Text<'a>,
    #[serde(borrow, default, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow, default, rename = "sharedEventID")]
    pub shared_event_id: Text<'a>,
    #[serde(borrow, default)]
    pub vpc_endpoint_id: Text<'a>,
    #[serde(borrow, default)]
    pub vpc_endpoint_account_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_type: Text<'a>,
    #[serde(borrow, default)]
    pub api_version: Text<'a>,
    #[serde(borrow, default)]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_category: Text<'a>,
    #[serde(borrow, default)]
    pub session_credential_from_console: Text<'a>,
    #[serde(default)]
    pub read_only: Flag,
    #[serde(default)]
    pub management_event: Flag,
    #[serde(borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    pub resources: Option<Vec<Resource<'a>>>,
    #[serde(borrow, default)]
    pub tls_details: Option<TlsDetails<'a>>,
}

/// `userIdentity`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub principal_id: Text<'a>,
    #[serde(borrow, default)]
    pub arn: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub access_key_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
    #[serde(borrow, default)]
    pub invoked_by: Text<'a>,
    #[serde(borrow, default)]
    pub identity_provider: Text<'a>,
    #[serde(borrow, default)]
    pub credential_id: Text<'a>,
    #[serde(borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
    #[serde(borrow, default)]
    pub on_behalf_of: Json<'a>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub attributes: Option<SessionAttributes<'a>>,
    #[serde(borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    pub source_identity: Text<'a>,
    #[serde(borrow, default)]
    pub web_id_federation_data: Json<'a>,
    #[serde(borrow, default)]
    pub ec2_role_delivery: Text<'a>,
    #[serde(borrow, default)]
    pub assumed_root: Text<'a>,
}

/// `userIdentity.sessionContext.attributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SessionAttributes<'a> {
    #[serde(borrow, default)]
    pub creation_date: Text<'a>,
    #[serde(borrow, default)]
    pub mfa_authenticated: Text<'a>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub principal_id: Text<'a>,
    #[serde(borrow, default)]
    pub arn: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
}

/// One entry of `resources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct Resource<'a> {
    #[serde(borrow, default, rename = "ARN")]
    pub arn: Text<'a>,
    #[serde(borrow, default, rename = "accountId")]
    pub account_id: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Text<'a>,
}

/// `tlsDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TlsDetails<'a> {
    #[serde(borrow, default)]
    pub tls_version: Text<'a>,
    #[serde(borrow, default)]
    pub cipher_suite: Text<'a>,
    #[serde(borrow, default)]
    pub client_provided_host_header: Text<'a>,
}

impl<'a> Record<'a> {
    /// Parses one record from its JSON text.
    pub fn parse(raw: &'a str) -> Result<Self, String> {
        let fields: Fields<'a> = serde_json::from_str(raw).map_err(|e| {
            let msg = e.to_string();
            if msg.starts_with("invalid type") && msg.contains("expected struct Fields") {
                "record is not a JSON object".to_string()
            } else {
                format!("invalid JSON: {msg}")
            }
        })?;
        let Some(time) = fields
            .event_time
            .as_deref()
            .or(fields.logstash_timestamp.as_deref())
        else {
            return Err("no eventTime".into());
        };
        let event_time_us =
            parse_time_us(time).ok_or_else(|| format!("eventTime {time:?} is not a timestamp"))?;
        if fields.event_version.is_none()
            && fields.event_name.is_none()
            && fields.event_source.is_none()
        {
            return Err(
                "not a CloudTrail record: no eventVersion, eventName or eventSource".into(),
            );
        }
        Ok(Self {
            raw,
            event_time_us,
            fields,
        })
    }

    /// The event's day (UTC), which names its partition.
    pub fn day(&self) -> NaiveDate {
        DateTime::<Utc>::from_timestamp_micros(self.event_time_us)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }

    /// The "User name" of CloudTrail Event history (DESIGN §2).
    pub fn username(&self) -> Option<Cow<'a, str>> {
        let id = self.fields.user_identity.as_ref()?;
        let kind = id.kind.as_deref().unwrap_or("");
        let last_arn_part = || {
            id.arn
                .as_ref()
                .and_then(|arn| arn.rsplit_once('/').map(|(_, s)| s.to_string()))
                .filter(|s| !s.is_empty())
                .map(Cow::Owned)
        };
        let fallback = || id.user_name.0.clone().or_else(|| id.principal_id.0.clone());
        match kind {
            "IAMUser" => fallback(),
            "Root" => Some(Cow::Borrowed("root")),
            "AssumedRole" => last_arn_part()
                .or_else(|| {
                    id.principal_id
                        .as_ref()
                        .and_then(|p| p.split_once(':').map(|(_, s)| Cow::Owned(s.to_string())))
                })
                .or_else(fallback),
            "FederatedUser" => last_arn_part().or_else(fallback),
            "AWSService" => id.invoked_by.0.clone().or_else(fallback),
            _ => fallback(),
        }
    }

    /// The account the event belongs to: the one in the S3 key when known, else
    /// `recipientAccountId`, else (old records without it) `userIdentity.accountId`.
    pub fn account_id(&self, from_key: Option<&'a str>) -> Option<Cow<'a, str>> {
        from_key
            .map(Cow::Borrowed)
            .or_else(|| self.fields.recipient_account_id.0.clone())
            .or_else(|| {
                self.fields
                    .user_identity
                    .as_ref()
                    .and_then(|u| u.account_id.0.clone())
            })
    }

    /// The identity used to drop duplicates: `eventID` (a UUID packed into 128 bits, or
    /// a 128-bit hash of any other text), or a hash of the whole record when it has none.
    pub fn key(&self) -> EventKey {
        match self.fields.event_id.as_deref() {
            Some(id) => EventKey::of_event_id(id),
            None => EventKey::of_raw(self.raw),
        }
    }
}

/// The 128-bit identity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub u128);

impl EventKey {
    /// The key of an `eventID`.
    pub fn of_event_id(id: &str) -> Self {
        parse_uuid(id)
            .map(EventKey)
            .unwrap_or_else(|| EventKey(xxhash_rust::xxh3::xxh3_128(id.as_bytes()) | 1 << 127))
    }

    /// The key of a record without `eventID`: a hash of its exact text.
    pub fn of_raw(raw: &str) -> Self {
        EventKey(xxhash_rust::xxh3::xxh3_128(raw.as_bytes()) | 1 << 127)
    }
}

fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    // Keep the top bit for hashed ids so the two key spaces never meet.
    Some(v & !(1 << 127))
}

/// Parses CloudTrail's `eventTime` (RFC 3339, usually `YYYY-MM-DDTHH:MM:SSZ`) into µs.
pub fn parse_time_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[19] == b'Z' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Some(v)
        };
        if b[13] == b':' && b[16] == b':' {
            let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
            let t = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
            return Some(t.and_utc().timestamp_micros());
        }
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record<'_> {
        Record::parse(json).unwrap()
    }

    #[test]
    fn usernames_follow_event_history() {
        let cases = [
            (
                r#"{"type":"IAMUser","userName":"alice","principalId":"AID"}"#,
                Some("alice"),
            ),
            (
                r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#,
                Some("root"),
            ),
            (
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/bob@x.com"}"#,
                Some("bob@x.com"),
            ),
            (
                r#"{"type":"AssumedRole","principalId":"AROAX:sess"}"#,
                Some("sess"),
            ),
            (
                r#"{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/carol"}"#,
                Some("carol"),
            ),
            (
                r#"{"type":"AWSService","invokedBy":"s3.amazonaws.com"}"#,
                Some("s3.amazonaws.com"),
            ),
            (
                r#"{"type":"SAMLUser","userName":"dave","principalId":"P"}"#,
                Some("dave"),
            ),
            (r#"{"type":"SomethingNew","principalId":"P9"}"#, Some("P9")),
            (r#"{"type":"AWSAccount"}"#, None),
        ];
        for (identity, want) in cases {
            let json = format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","userIdentity":{identity}}}"#
            );
            assert_eq!(rec(&json).username().as_deref(), want, "{identity}");
        }
    }

    #[test]
    fn account_prefers_key_then_recipient_then_identity() {
        let json = r#"{"eventVersion":"1.0","eventTime":"2024-01-02T03:04:05Z","recipientAccountId":"222","userIdentity":{"accountId":"333"}}"#;
        let r = rec(json);
        assert_eq!(r.account_id(Some("111")).as_deref(), Some("111"));
        assert_eq!(r.account_id(None).as_deref(), Some("222"));
        let json = r#"{"eventVersion":"1.0","eventTime":"2024-01-02T03:04:05Z","userIdentity":{"accountId":"333"}}"#;
        assert_eq!(rec(json).account_id(None).as_deref(), Some("333"));
    }

    #[test]
    fn times_parse_in_every_form() {
        assert_eq!(parse_time_us("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_time_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(parse_time_us("1970-01-01T01:00:01+01:00"), Some(1_000_000));
        assert_eq!(parse_time_us("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_time_us("yesterday"), None);
    }

    #[test]
    fn lenient_scalars_and_kept_json() {
        let json = r#"{"eventVersion":1.05,"eventTime":"2024-01-02T03:04:05Z","eventName":null,
            "readOnly":"true","requestParameters":{"a": [1, 2]},"responseElements":null,
            "errorCode":404}"#;
        let r = rec(json);
        assert_eq!(r.fields.event_version.as_deref(), Some("1.05"));
        assert_eq!(r.fields.event_name.as_deref(), None);
        assert_eq!(r.fields.read_only.0, Some(true));
        assert_eq!(
            r.fields.request_parameters.as_deref(),
            Some(r#"{"a": [1, 2]}"#)
        );
        assert_eq!(r.fields.response_elements.as_deref(), None);
        assert_eq!(r.fields.error_code.as_deref(), Some("404"));
    }

    #[test]
    fn bad_records_say_why() {
        assert!(
            Record::parse(r#"{"eventName":"X"}"#)
                .unwrap_err()
                .contains("eventTime")
        );
        assert!(
            Record::parse(r#"{"eventTime":"x","eventName":"X"}"#)
                .unwrap_err()
                .contains("timestamp")
        );
        assert!(
            Record::parse(r#"{"eventTime":"2024-01-02T03:04:05Z"}"#)
                .unwrap_err()
                .contains("CloudTrail")
        );
        assert!(Record::parse(r#"[1]"#).is_err());
        assert!(
            Record::parse(
                r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"X","userIdentity":"me"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn keys_pack_uuids_and_hash_the_rest() {
        let a = EventKey::of_event_id("3038ebd2-c98a-4c65-9b6e-e22506292313");
        let b = EventKey::of_event_id("3038EBD2-C98A-4C65-9B6E-E22506292313");
        assert_eq!(a, b);
        assert_eq!(a.0 >> 127, 0);
        let c = EventKey::of_event_id("not-a-uuid");
        assert_eq!(c.0 >> 127, 1);
        assert_ne!(c, EventKey::of_event_id("not-a-uuid2"));
    }
}
