//! The columns events are grouped, counted and excluded by: the low-cardinality text
//! columns of the `events` table that breakdowns, facets and exclusions name.

/// A top-level text column events are counted by (breakdowns, facets) or excluded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// `eventName`.
    EventName,
    /// `eventSource`.
    EventSource,
    /// The derived `username`.
    Username,
    /// The derived `accountId`.
    AccountId,
    /// `awsRegion`.
    AwsRegion,
    /// `errorCode`.
    ErrorCode,
    /// `sourceIPAddress`.
    SourceIp,
    /// `userAgent`.
    UserAgent,
    /// `eventType`.
    EventType,
}

impl Dimension {
    /// Every narrow column.
    pub const ALL: [Dimension; 9] = [
        Dimension::EventName,
        Dimension::EventSource,
        Dimension::Username,
        Dimension::AccountId,
        Dimension::AwsRegion,
        Dimension::ErrorCode,
        Dimension::SourceIp,
        Dimension::UserAgent,
        Dimension::EventType,
    ];

    /// The narrow column named `name`.
    pub fn named(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|n| n.column() == name)
    }

    /// The column's name in the `events` table.
    pub fn column(self) -> &'static str {
        match self {
            Dimension::EventName => "eventName",
            Dimension::EventSource => "eventSource",
            Dimension::Username => "username",
            Dimension::AccountId => "accountId",
            Dimension::AwsRegion => "awsRegion",
            Dimension::ErrorCode => "errorCode",
            Dimension::SourceIp => "sourceIPAddress",
            Dimension::UserAgent => "userAgent",
            Dimension::EventType => "eventType",
        }
    }
}
