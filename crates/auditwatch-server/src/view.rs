//! Rows of the `events` table as plain Rust values, read once from Arrow for every
//! consumer of the server (UI tables, exports, the tracker and AWS shapes).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};

use crate::ApiError;

/// One event, the fields the server shows.
#[derive(Debug, Clone, Default)]
pub struct EventView {
    /// eventTime, µs since the epoch.
    pub time_us: i64,
    /// eventID.
    pub event_id: Option<String>,
    /// eventName.
    pub event_name: Option<String>,
    /// eventSource.
    pub event_source: Option<String>,
    /// The derived username.
    pub username: Option<String>,
    /// The derived accountId.
    pub account_id: Option<String>,
    /// awsRegion.
    pub region: Option<String>,
    /// sourceIPAddress.
    pub source_ip: Option<String>,
    /// userAgent.
    pub user_agent: Option<String>,
    /// errorCode.
    pub error_code: Option<String>,
    /// errorMessage.
    pub error_message: Option<String>,
    /// readOnly.
    pub read_only: Option<bool>,
    /// eventType.
    pub event_type: Option<String>,
    /// userIdentity.type.
    pub identity_type: Option<String>,
    /// userIdentity.arn.
    pub identity_arn: Option<String>,
    /// userIdentity.accessKeyId.
    pub access_key_id: Option<String>,
    /// resources: (type, ARN).
    pub resources: Vec<(Option<String>, Option<String>)>,
    /// requestParameters (JSON text).
    pub request_parameters: Option<String>,
    /// The record as read.
    pub raw: String,
    /// Where it came from.
    pub source: String,
}

/// A column read as text (absent columns read as null).
struct Col(Option<ArrayRef>);

impl Col {
    fn new(array: Option<&ArrayRef>) -> Result<Self, ApiError> {
        array
            .map(|a| cast(a, &DataType::Utf8).map_err(ApiError::internal))
            .transpose()
            .map(Col)
    }

    fn get(&self, i: usize) -> Option<String> {
        let a = self.0.as_ref()?;
        let s = a.as_string::<i32>();
        (!s.is_null(i)).then(|| s.value(i).to_string())
    }
}

fn child<'a>(s: Option<&'a StructArray>, name: &str) -> Option<&'a ArrayRef> {
    s.and_then(|s| s.column_by_name(name))
}

/// Reads every row of `batch` (a batch of the `events` schema).
pub fn events(batch: &RecordBatch) -> Result<Vec<EventView>, ApiError> {
    let col = |n: &str| Col::new(batch.column_by_name(n));
    let time = batch
        .column_by_name("eventTime")
        .ok_or_else(|| ApiError::internal("eventTime column missing"))?
        .as_primitive::<TimestampMicrosecondType>();
    let identity = batch.column_by_name("userIdentity").map(|c| c.as_struct());
    let (id, name, src, user, acct, region, ip, ua, err, msg, ty, params, raw, source) = (
        col("eventID")?,
        col("eventName")?,
        col("eventSource")?,
        col("username")?,
        col("accountId")?,
        col("awsRegion")?,
        col("sourceIPAddress")?,
        col("userAgent")?,
        col("errorCode")?,
        col("errorMessage")?,
        col("eventType")?,
        col("requestParameters")?,
        col("raw")?,
        col("source")?,
    );
    let id_type = Col::new(child(identity, "type"))?;
    let id_arn = Col::new(child(identity, "arn"))?;
    let id_key = Col::new(child(identity, "accessKeyId"))?;
    let read_only = batch.column_by_name("readOnly").map(|c| c.as_boolean());
    let resources = batch
        .column_by_name("resources")
        .map(|c| c.as_list::<i32>());
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut res = Vec::new();
        if let Some(list) = resources
            && !list.is_null(i)
        {
            let items = list.value(i);
            let items = items.as_struct();
            let arn = Col::new(items.column_by_name("ARN"))?;
            let ty = Col::new(items.column_by_name("type"))?;
            for j in 0..items.len() {
                res.push((ty.get(j), arn.get(j)));
            }
        }
        out.push(EventView {
            time_us: time.value(i),
            event_id: id.get(i),
            event_name: name.get(i),
            event_source: src.get(i),
            username: user.get(i),
            account_id: acct.get(i),
            region: region.get(i),
            source_ip: ip.get(i),
            user_agent: ua.get(i),
            error_code: err.get(i),
            error_message: msg.get(i),
            read_only: read_only.and_then(|r| (!r.is_null(i)).then(|| r.value(i))),
            event_type: ty.get(i),
            identity_type: id_type.get(i),
            identity_arn: id_arn.get(i),
            access_key_id: id_key.get(i),
            resources: res,
            request_parameters: params.get(i),
            raw: raw.get(i).unwrap_or_default(),
            source: source.get(i).unwrap_or_default(),
        });
    }
    Ok(out)
}

impl EventView {
    /// The first resource, as a name people read (ARN, else type).
    pub fn first_resource(&self) -> Option<&str> {
        self.resources
            .iter()
            .find_map(|(t, a)| a.as_deref().or(t.as_deref()))
    }

    /// Why the call failed, when it did: its error code, or `Failure` for a console
    /// sign-in that AWS records as a success with `responseElements.ConsoleLogin`
    /// `Failure` (CloudTrail gives failed sign-ins no error code).
    pub fn outcome(&self) -> Option<String> {
        if let Some(code) = &self.error_code {
            return Some(code.clone());
        }
        if self.event_name.as_deref() == Some("ConsoleLogin") {
            let r = self.record();
            if r.pointer("/responseElements/ConsoleLogin")
                .and_then(|v| v.as_str())
                == Some("Failure")
            {
                return Some("Failure".into());
            }
        }
        None
    }

    /// The record parsed as JSON (the raw text is valid JSON by construction).
    pub fn record(&self) -> serde_json::Value {
        serde_json::from_str(&self.raw).unwrap_or(serde_json::Value::String(self.raw.clone()))
    }
}
