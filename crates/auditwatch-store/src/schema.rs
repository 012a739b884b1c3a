//! The Arrow schema of the `events` table (DESIGN §2), CloudTrail's own names.
//!
//! Standard Parquet types only (UTF-8 strings, booleans, UTC microsecond timestamps,
//! structs and lists), so DuckDB, Spark and Athena read the lake unchanged.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The time type of `eventTime`.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// Fields of `userIdentity.sessionContext.attributes`.
pub fn attributes_fields() -> Fields {
    Fields::from(vec![s("creationDate"), s("mfaAuthenticated")])
}

/// Fields of `userIdentity.sessionContext.sessionIssuer`.
pub fn issuer_fields() -> Fields {
    Fields::from(vec![
        s("type"),
        s("principalId"),
        s("arn"),
        s("accountId"),
        s("userName"),
    ])
}

/// Fields of `userIdentity.sessionContext`.
pub fn session_context_fields() -> Fields {
    Fields::from(vec![
        Field::new("attributes", DataType::Struct(attributes_fields()), true),
        Field::new("sessionIssuer", DataType::Struct(issuer_fields()), true),
        s("sourceIdentity"),
        s("webIdFederationData"),
        s("ec2RoleDelivery"),
        s("assumedRoot"),
    ])
}

/// Fields of `userIdentity`.
pub fn user_identity_fields() -> Fields {
    Fields::from(vec![
        s("type"),
        s("principalId"),
        s("arn"),
        s("accountId"),
        s("accessKeyId"),
        s("userName"),
        s("invokedBy"),
        s("identityProvider"),
        s("credentialId"),
        Field::new(
            "sessionContext",
            DataType::Struct(session_context_fields()),
            true,
        ),
        s("onBehalfOf"),
    ])
}

/// Fields of one `resources` entry.
pub fn resource_fields() -> Fields {
    Fields::from(vec![s("ARN"), s("accountId"), s("type")])
}

/// The list item of `resources` (named `element`, as Parquet's list spec does).
pub fn resource_item() -> Arc<Field> {
    Arc::new(Field::new(
        "element",
        DataType::Struct(resource_fields()),
        true,
    ))
}

/// Fields of `tlsDetails`.
pub fn tls_fields() -> Fields {
    Fields::from(vec![
        s("tlsVersion"),
        s("cipherSuite"),
        s("clientProvidedHostHeader"),
    ])
}

/// The payload columns: each holds its field's JSON exactly as the record has it
/// (a slice of the record's text), `null` when absent.
pub const PAYLOAD_COLUMNS: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "insightDetails",
    "addendum",
    "edgeDeviceDetails",
];

/// Column names of the top-level string columns, in table order after `eventTime`
/// (the payload columns among them).
pub const STRING_COLUMNS: &[&str] = &[
    "eventVersion",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "insightDetails",
    "addendum",
    "edgeDeviceDetails",
    "requestID",
    "eventID",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventType",
    "apiVersion",
    "recipientAccountId",
    "eventCategory",
    "sessionCredentialFromConsole",
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("eventTime", time_type(), false)];
    fields.extend(STRING_COLUMNS.iter().map(|n| s(n)));
    fields.push(Field::new("readOnly", DataType::Boolean, true));
    fields.push(Field::new("managementEvent", DataType::Boolean, true));
    fields.push(Field::new(
        "userIdentity",
        DataType::Struct(user_identity_fields()),
        true,
    ));
    fields.push(Field::new(
        "resources",
        DataType::List(resource_item()),
        true,
    ));
    fields.push(Field::new(
        "tlsDetails",
        DataType::Struct(tls_fields()),
        true,
    ));
    fields.push(s("username"));
    fields.push(s("accountId"));
    fields.push(Field::new("raw", DataType::Utf8, false));
    fields.push(Field::new("source", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
});

/// The schema of the `events` table.
pub fn events_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The schema of the `events` table with every text leaf of `userIdentity` a
/// dictionary of 32-bit codes: given to the Parquet reader, it fills those leaves from
/// the columns' dictionary pages, each distinct value once, without a copy per row.
pub fn coded_identity_schema() -> SchemaRef {
    fn coded(t: &DataType) -> DataType {
        match t {
            DataType::Utf8 => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            DataType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| Arc::new(f.as_ref().clone().with_data_type(coded(f.data_type()))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let events = events_schema();
    let fields: Fields = events
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "userIdentity" => Arc::new(f.as_ref().clone().with_data_type(coded(f.data_type()))),
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, events.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_columns_are_string_columns_of_the_table() {
        for p in PAYLOAD_COLUMNS {
            assert!(STRING_COLUMNS.contains(p), "{p}");
            assert_eq!(
                events_schema().field_with_name(p).unwrap().data_type(),
                &DataType::Utf8
            );
        }
    }
}
