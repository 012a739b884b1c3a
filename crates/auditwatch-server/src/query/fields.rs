//! The fields events are grouped by ([`Field`]) and the shapes of their answers:
//! [`Bucket`]s, and [`Stack`]s for stacked charts.

use auditwatch_store::dimension::Dimension;
use auditwatch_store::direct::counts::Counted;
use datafusion::arrow::datatypes::DataType;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::Expr;
use datafusion::prelude::ident;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::ApiError;

/// Fields that can be grouped by, with their API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Field {
    /// `eventName`.
    #[serde(rename = "eventName")]
    EventName,
    /// `eventSource`.
    #[serde(rename = "eventSource")]
    EventSource,
    /// The derived `username`.
    #[serde(rename = "username")]
    Username,
    /// The derived `accountId`.
    #[serde(rename = "accountId")]
    AccountId,
    /// `awsRegion`.
    #[serde(rename = "awsRegion")]
    AwsRegion,
    /// `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress")]
    SourceIp,
    /// `errorCode`.
    #[serde(rename = "errorCode")]
    ErrorCode,
    /// `userAgent`.
    #[serde(rename = "userAgent")]
    UserAgent,
    /// `eventType`.
    #[serde(rename = "eventType")]
    EventType,
    /// `readOnly`.
    #[serde(rename = "readOnly")]
    ReadOnly,
    /// `userIdentity.type`.
    #[serde(rename = "userIdentity.type")]
    IdentityType,
    /// `userIdentity.arn`.
    #[serde(rename = "userIdentity.arn")]
    IdentityArn,
    /// `userIdentity.accessKeyId`.
    #[serde(rename = "userIdentity.accessKeyId")]
    AccessKeyId,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 13] = [
        Field::EventName,
        Field::EventSource,
        Field::Username,
        Field::AccountId,
        Field::AwsRegion,
        Field::SourceIp,
        Field::ErrorCode,
        Field::UserAgent,
        Field::EventType,
        Field::ReadOnly,
        Field::IdentityType,
        Field::IdentityArn,
        Field::AccessKeyId,
    ];

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            Field::EventName => "eventName",
            Field::EventSource => "eventSource",
            Field::Username => "username",
            Field::AccountId => "accountId",
            Field::AwsRegion => "awsRegion",
            Field::SourceIp => "sourceIPAddress",
            Field::ErrorCode => "errorCode",
            Field::UserAgent => "userAgent",
            Field::EventType => "eventType",
            Field::ReadOnly => "readOnly",
            Field::IdentityType => "userIdentity.type",
            Field::IdentityArn => "userIdentity.arn",
            Field::AccessKeyId => "userIdentity.accessKeyId",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Result<Field, ApiError> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "cannot group by {s:?}; use one of {}",
                    Field::ALL.map(Field::name).join(", ")
                ))
            })
    }

    /// The same column for the store's breakdowns without SQL, when it is one (the
    /// API names are the table's column names).
    pub(super) fn narrow(self) -> Option<Dimension> {
        Dimension::named(self.name())
    }

    pub(super) fn expr(self) -> Expr {
        let text = |e: Expr| datafusion::logical_expr::cast(e, DataType::Utf8);
        match self {
            Field::IdentityType => get_field(ident("userIdentity"), "type"),
            Field::IdentityArn => get_field(ident("userIdentity"), "arn"),
            Field::AccessKeyId => get_field(ident("userIdentity"), "accessKeyId"),
            Field::ReadOnly => text(ident("readOnly")),
            other => ident(other.name()),
        }
    }
}

/// A value and how many events have it.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Bucket {
    /// The value (`null` when absent).
    pub key: Option<String>,
    /// Events.
    pub count: u64,
}

/// A value, its count, and its events split by a second field.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Stack {
    /// The value of the first field.
    pub key: Option<String>,
    /// Events with it.
    pub count: u64,
    /// The same events by the second field, largest first.
    pub by: Vec<Bucket>,
}

/// Splits each of `firsts` by the second value of `pairs` ((first, second) values and
/// events): the `top_by` largest second values, then the rest summed under `None`.
pub fn stack(firsts: &[Bucket], pairs: &[(Vec<Option<String>>, u64)], top_by: usize) -> Vec<Stack> {
    firsts
        .iter()
        .map(|first| {
            let mut by: Vec<Bucket> = pairs
                .iter()
                .filter(|(k, _)| k.first() == Some(&first.key))
                .map(|(k, n)| Bucket {
                    key: k.get(1).cloned().flatten(),
                    count: *n,
                })
                .collect();
            by.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            if by.len() > top_by {
                let rest = by[top_by..].iter().map(|b| b.count).sum();
                by.truncate(top_by);
                by.push(Bucket {
                    key: None,
                    count: rest,
                });
            }
            Stack {
                key: first.key.clone(),
                count: first.count,
                by,
            }
        })
        .collect()
}

/// Groups of one field as buckets.
pub(super) fn buckets(groups: Counted) -> Vec<Bucket> {
    groups
        .into_iter()
        .map(|(mut keys, count)| Bucket {
            key: keys.pop().flatten(),
            count,
        })
        .collect()
}

/// Orders groups as the SQL breakdowns do: most events first, then by their values
/// (nulls first).
pub(super) fn largest_first(groups: &mut Counted) {
    groups.sort_by(|(ka, a), (kb, b)| b.cmp(a).then_with(|| ka.cmp(kb)));
}
