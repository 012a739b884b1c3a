//! Parsed CloudTrail records → Arrow record batches in the `events` schema.
//!
//! Built column by column: each column walks the rows once, which keeps the code a
//! list of "column name ← field" lines and lets Arrow size its buffers up front.

use std::borrow::Cow;
use std::sync::Arc;

use auditwatch_event::{EventKey, Record, Resource};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, ListArray, RecordBatch, StringBuilder, StructArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::Fields;

use crate::schema::{self, events_schema};

/// A parsed record with what the source knows about it.
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    /// The record.
    pub record: Record<'a>,
    /// The account named by the object key, when the object follows the S3 layout.
    pub account_from_key: Option<&'a str>,
    /// Where the record came from (file path, `s3://` URL, `lookup-api`).
    pub source: &'a str,
}

/// Records of one day converted to Arrow, with their identities.
#[derive(Debug, Clone)]
pub struct DayBatch {
    /// Days since the Unix epoch (UTC) of every row.
    pub day: i32,
    /// The rows in the `events` schema.
    pub batch: RecordBatch,
    /// The identity of each row, in row order.
    pub keys: Vec<EventKey>,
    /// The temporary credentials its rows issued (`AssumeRole*`, `GetSessionToken`,
    /// `GetFederationToken`), for the sessions index.
    pub sessions: Vec<auditwatch_event::identity::Issued>,
}

/// Converts rows, grouped by event day.
pub fn to_day_batches(rows: &[EventRow<'_>]) -> Vec<DayBatch> {
    let mut days: Vec<(i32, Vec<usize>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let day = day_of(row.record.event_time_us);
        match days.iter_mut().find(|(d, _)| *d == day) {
            Some((_, idx)) => idx.push(i),
            None => days.push((day, vec![i])),
        }
    }
    days.into_iter()
        .map(|(day, idx)| {
            let picked: Vec<&EventRow<'_>> = idx.iter().map(|&i| &rows[i]).collect();
            DayBatch {
                day,
                keys: picked.iter().map(|r| r.record.key()).collect(),
                sessions: picked
                    .iter()
                    .filter_map(|r| auditwatch_event::identity::issued(&r.record))
                    .collect(),
                batch: to_batch(&picked),
            }
        })
        .collect()
}

/// Days since the Unix epoch of a µs timestamp.
pub fn day_of(time_us: i64) -> i32 {
    time_us.div_euclid(86_400_000_000) as i32
}

fn strings<T>(items: &[T], f: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    let mut bytes = 0;
    for it in items {
        bytes += f(it).map_or(0, str::len);
    }
    let mut b = StringBuilder::with_capacity(items.len(), bytes);
    for it in items {
        b.append_option(f(it));
    }
    Arc::new(b.finish())
}

fn text<'s>(t: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
    t.as_deref()
}

fn nulls<T>(items: &[T], present: impl Fn(&T) -> bool) -> Option<NullBuffer> {
    let valid: Vec<bool> = items.iter().map(present).collect();
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(NullBuffer::from(valid))
    }
}

fn structure(fields: Fields, arrays: Vec<ArrayRef>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(StructArray::new(fields, arrays, nulls))
}

pub(crate) fn to_batch(rows: &[&EventRow<'_>]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(40);
    columns.push(Arc::new(
        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.record.event_time_us))
            .with_timezone("UTC"),
    ));
    macro_rules! text_col {
        ($($field:ident),*) => {$(
            columns.push(strings(rows, |r| text(&r.record.fields.$field)));
        )*};
    }
    macro_rules! json_col {
        ($($field:ident),*) => {$(
            columns.push(strings(rows, |r| r.record.fields.$field.0));
        )*};
    }
    text_col!(
        event_version,
        event_source,
        event_name,
        aws_region,
        source_ip_address,
        user_agent,
        error_code,
        error_message
    );
    json_col!(
        request_parameters,
        response_elements,
        additional_event_data,
        service_event_details,
        insight_details,
        addendum,
        edge_device_details
    );
    text_col!(
        request_id,
        event_id,
        shared_event_id,
        vpc_endpoint_id,
        vpc_endpoint_account_id,
        event_type,
        api_version,
        recipient_account_id,
        event_category,
        session_credential_from_console
    );
    columns.push(Arc::new(
        rows.iter()
            .map(|r| r.record.fields.read_only.0)
            .collect::<BooleanArray>(),
    ));
    columns.push(Arc::new(
        rows.iter()
            .map(|r| r.record.fields.management_event.0)
            .collect::<BooleanArray>(),
    ));
    columns.push(user_identity(rows));
    columns.push(resources(rows));
    columns.push(tls(rows));
    let usernames: Vec<Option<Cow<'_, str>>> = rows.iter().map(|r| r.record.username()).collect();
    columns.push(strings(&usernames, |u| u.as_deref()));
    let accounts: Vec<Option<Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.record.account_id(r.account_from_key))
        .collect();
    columns.push(strings(&accounts, |a| a.as_deref()));
    columns.push(strings(rows, |r| Some(r.record.raw)));
    columns.push(strings(rows, |r| Some(r.source)));
    RecordBatch::try_new(events_schema(), columns).expect("columns match the events schema")
}

fn user_identity(rows: &[&EventRow<'_>]) -> ArrayRef {
    let ids: Vec<Option<&auditwatch_event::UserIdentity<'_>>> = rows
        .iter()
        .map(|r| r.record.fields.user_identity.as_ref())
        .collect();
    macro_rules! id_col {
        ($field:ident) => {
            strings(&ids, |u| u.and_then(|u| text(&u.$field)))
        };
    }
    let ctx: Vec<Option<&auditwatch_event::SessionContext<'_>>> = ids
        .iter()
        .map(|u| u.and_then(|u| u.session_context.as_ref()))
        .collect();
    let attrs: Vec<Option<&auditwatch_event::SessionAttributes<'_>>> = ctx
        .iter()
        .map(|c| c.and_then(|c| c.attributes.as_ref()))
        .collect();
    let issuer: Vec<Option<&auditwatch_event::SessionIssuer<'_>>> = ctx
        .iter()
        .map(|c| c.and_then(|c| c.session_issuer.as_ref()))
        .collect();
    let attributes = structure(
        schema::attributes_fields(),
        vec![
            strings(&attrs, |a| a.and_then(|a| text(&a.creation_date))),
            strings(&attrs, |a| a.and_then(|a| text(&a.mfa_authenticated))),
        ],
        nulls(&attrs, Option::is_some),
    );
    let session_issuer = structure(
        schema::issuer_fields(),
        vec![
            strings(&issuer, |i| i.and_then(|i| text(&i.kind))),
            strings(&issuer, |i| i.and_then(|i| text(&i.principal_id))),
            strings(&issuer, |i| i.and_then(|i| text(&i.arn))),
            strings(&issuer, |i| i.and_then(|i| text(&i.account_id))),
            strings(&issuer, |i| i.and_then(|i| text(&i.user_name))),
        ],
        nulls(&issuer, Option::is_some),
    );
    let session_context = structure(
        schema::session_context_fields(),
        vec![
            attributes,
            session_issuer,
            strings(&ctx, |c| c.and_then(|c| text(&c.source_identity))),
            strings(&ctx, |c| c.and_then(|c| c.web_id_federation_data.0)),
            strings(&ctx, |c| c.and_then(|c| text(&c.ec2_role_delivery))),
            strings(&ctx, |c| c.and_then(|c| text(&c.assumed_root))),
        ],
        nulls(&ctx, Option::is_some),
    );
    structure(
        schema::user_identity_fields(),
        vec![
            id_col!(kind),
            id_col!(principal_id),
            id_col!(arn),
            id_col!(account_id),
            id_col!(access_key_id),
            id_col!(user_name),
            id_col!(invoked_by),
            id_col!(identity_provider),
            id_col!(credential_id),
            session_context,
            strings(&ids, |u| u.and_then(|u| u.on_behalf_of.0)),
        ],
        nulls(&ids, Option::is_some),
    )
}

fn resources(rows: &[&EventRow<'_>]) -> ArrayRef {
    let lists: Vec<Option<&Vec<Resource<'_>>>> = rows
        .iter()
        .map(|r| r.record.fields.resources.as_ref())
        .collect();
    let flat: Vec<&Resource<'_>> = lists.iter().flatten().flat_map(|l| l.iter()).collect();
    let values = StructArray::new(
        schema::resource_fields(),
        vec![
            strings(&flat, |r| text(&r.arn)),
            strings(&flat, |r| text(&r.account_id)),
            strings(&flat, |r| text(&r.kind)),
        ],
        None,
    );
    let offsets = OffsetBuffer::from_lengths(lists.iter().map(|l| l.map_or(0, |l| l.len())));
    Arc::new(ListArray::new(
        schema::resource_item(),
        offsets,
        Arc::new(values),
        nulls(&lists, Option::is_some),
    ))
}

fn tls(rows: &[&EventRow<'_>]) -> ArrayRef {
    let t: Vec<Option<&auditwatch_event::TlsDetails<'_>>> = rows
        .iter()
        .map(|r| r.record.fields.tls_details.as_ref())
        .collect();
    structure(
        schema::tls_fields(),
        vec![
            strings(&t, |t| t.and_then(|t| text(&t.tls_version))),
            strings(&t, |t| t.and_then(|t| text(&t.cipher_suite))),
            strings(&t, |t| t.and_then(|t| text(&t.client_provided_host_header))),
        ],
        nulls(&t, Option::is_some),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    #[test]
    fn rows_convert_with_nested_fields_and_nulls() {
        let a = r#"{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","eventName":"GetObject",
          "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/sess",
            "sessionContext":{"sessionIssuer":{"userName":"R"}}},
          "resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"ARN":"arn:aws:s3:::b/k"}],
          "recipientAccountId":"111122223333"}"#;
        let b = r#"{"eventVersion":"1.08","eventTime":"2024-01-03T00:00:00Z","eventName":"X"}"#;
        let rows: Vec<EventRow<'_>> = [a, b]
            .iter()
            .map(|t| EventRow {
                record: Record::parse(t).unwrap(),
                account_from_key: None,
                source: "f",
            })
            .collect();
        let days = to_day_batches(&rows);
        assert_eq!(days.len(), 2);
        let batch = &days[0].batch;
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        assert_eq!(col("username").as_string::<i32>().value(0), "sess");
        assert_eq!(col("accountId").as_string::<i32>().value(0), "111122223333");
        let res = col("resources");
        let res = res.as_list::<i32>();
        assert_eq!(res.value(0).len(), 2);
        let none = &days[1].batch;
        assert!(none.column_by_name("userIdentity").unwrap().is_null(0));
        assert!(none.column_by_name("resources").unwrap().is_null(0));
    }
}
