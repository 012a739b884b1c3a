//! What an SQS message says: which S3 objects to read.
//!
//! Three shapes reach a queue, each possibly wrapped in an SNS envelope
//! (`{"Type": "Notification", "Message": "<the JSON as a string>"}`):
//! - S3 event notifications (`{"Records": [{"eventSource": "aws:s3", "s3": {…}}]}`),
//!   whose keys are URL-encoded, and the `s3:TestEvent` S3 sends when notifications
//!   are configured;
//! - CloudTrail's own SNS delivery message (`{"s3Bucket": …, "s3ObjectKey": [...]}`);
//! - anything else is not understood, and says why.

use serde::Deserialize;
use serde_json::Value;

/// One S3 object a message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: String,
    /// The key, decoded.
    pub key: String,
    /// The size, when the notification gives it.
    pub size: Option<u64>,
    /// The ETag (without quotes), when the notification gives it.
    pub etag: Option<String>,
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Read these objects (an object-created notification or a CloudTrail delivery).
    Objects(Vec<ObjectRef>),
    /// Nothing to read: a test event, or only removals and other event kinds.
    Nothing(String),
}

/// Largest message body accepted (SQS's own limit is 256 KiB; SNS adds escaping).
pub const MAX_BODY: usize = 1 << 20;

/// Reads one message body.
pub fn parse(body: &str) -> Result<Notice, String> {
    if body.len() > MAX_BODY {
        return Err(format!(
            "message of {} bytes exceeds {MAX_BODY}",
            body.len()
        ));
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let value = unwrap_sns(value)?;
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notice::Nothing("s3:TestEvent".into()));
    }
    if let Some(bucket) = value.get("s3Bucket") {
        return cloudtrail_delivery(bucket, value.get("s3ObjectKey"));
    }
    if let Some(records) = value.get("Records") {
        return s3_event(records);
    }
    Err("neither an S3 event notification nor a CloudTrail delivery message".into())
}

/// Takes the message out of an SNS envelope (once); anything else passes unchanged.
fn unwrap_sns(value: Value) -> Result<Value, String> {
    if value.get("Type").and_then(Value::as_str) != Some("Notification") {
        return Ok(value);
    }
    let inner = value
        .get("Message")
        .and_then(Value::as_str)
        .ok_or("SNS notification without a Message string")?;
    serde_json::from_str(inner).map_err(|e| format!("SNS Message is not JSON: {e}"))
}

fn cloudtrail_delivery(bucket: &Value, keys: Option<&Value>) -> Result<Notice, String> {
    let bucket = bucket.as_str().ok_or("s3Bucket is not a string")?;
    let keys = keys
        .and_then(Value::as_array)
        .ok_or("s3ObjectKey is not a list")?;
    let objects = keys
        .iter()
        .map(|k| {
            k.as_str()
                .map(|key| ObjectRef {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    size: None,
                    etag: None,
                })
                .ok_or_else(|| "s3ObjectKey holds a non-string".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Notice::Objects(objects))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    #[serde(default)]
    event_source: String,
    #[serde(default)]
    event_name: String,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    size: Option<u64>,
    e_tag: Option<String>,
}

fn s3_event(records: &Value) -> Result<Notice, String> {
    let records: Vec<S3Record> = serde_json::from_value(records.clone())
        .map_err(|e| format!("not an S3 event notification: {e}"))?;
    let mut objects = Vec::new();
    let mut other = Vec::new();
    for r in records {
        let created = r.event_name.starts_with("ObjectCreated:");
        match r.s3 {
            Some(s3) if r.event_source == "aws:s3" && created => objects.push(ObjectRef {
                bucket: s3.bucket.name,
                key: decode_key(&s3.object.key),
                size: s3.object.size,
                etag: s3.object.e_tag.map(|e| e.trim_matches('"').to_string()),
            }),
            _ => other.push(r.event_name),
        }
    }
    if objects.is_empty() {
        return Ok(Notice::Nothing(format!(
            "no object-created records ({})",
            other.join(", ")
        )));
    }
    Ok(Notice::Objects(objects))
}

/// S3 notifications carry keys form-URL-encoded (`+` for a space, `%XX` escapes).
fn decode_key(key: &str) -> String {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, v)| {
            // `=` is always escaped by S3; a literal one would split name and value.
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"trail"},"object":{"key":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/a+b%3Dc.json.gz","size":1024,"eTag":"0123abcd"}}}]}"#;

    fn one(n: Notice) -> ObjectRef {
        match n {
            Notice::Objects(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn s3_notification_with_encoded_key() {
        let o = one(parse(CREATED).unwrap());
        assert_eq!(o.bucket, "trail");
        assert_eq!(
            o.key,
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/a b=c.json.gz"
        );
        assert_eq!((o.size, o.etag.as_deref()), (Some(1024), Some("0123abcd")));
    }

    #[test]
    fn sns_wrapped_notification() {
        let wrapped = serde_json::json!({"Type": "Notification", "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": CREATED});
        let o = one(parse(&wrapped.to_string()).unwrap());
        assert_eq!(o.bucket, "trail");
    }

    #[test]
    fn cloudtrail_delivery_message() {
        let body = r#"{"s3Bucket":"trail","s3ObjectKey":["AWSLogs/1/CloudTrail/x.json.gz","AWSLogs/1/CloudTrail/y.json.gz"]}"#;
        let Notice::Objects(v) = parse(body).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].key, "AWSLogs/1/CloudTrail/y.json.gz");
        let wrapped = serde_json::json!({"Type": "Notification", "Message": body});
        assert!(matches!(parse(&wrapped.to_string()).unwrap(), Notice::Objects(v) if v.len() == 2));
    }

    #[test]
    fn test_events_and_removals_ask_for_nothing() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"trail","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse(test).unwrap(), Notice::Nothing("s3:TestEvent".into()));
        let removed = CREATED.replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert!(
            matches!(parse(&removed).unwrap(), Notice::Nothing(r) if r.contains("ObjectRemoved"))
        );
    }

    #[test]
    fn garbage_is_explained() {
        assert!(parse("hello").unwrap_err().contains("not JSON"));
        assert!(parse("{}").unwrap_err().contains("neither"));
        assert!(
            parse(r#"{"s3Bucket":"b","s3ObjectKey":"k"}"#)
                .unwrap_err()
                .contains("list")
        );
        assert!(
            parse(r#"{"Type":"Notification"}"#)
                .unwrap_err()
                .contains("SNS")
        );
        assert!(
            parse(&"x".repeat(MAX_BODY + 1))
                .unwrap_err()
                .contains("exceeds")
        );
    }
}
