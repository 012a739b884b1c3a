//! The `origin` filter of a lookup in the direct path: the identity leaves of a row
//! group's candidate rows, each row's principal walked to its origin through the
//! sessions index ([`ByOrigin`]: rows that cannot reach the value are skipped without
//! a walk), kept when the value names that origin as the caller's scope sees it —
//! what `origin_is(userIdentity, value)` answers in the DataFusion plan, from the
//! same columns ([`crate::origin::udf`]).
//!
//! Most rows of a row group cannot name a rare origin, and testing each row's text
//! cost as much as reading it. So a row group is first sifted: a few leaves are read
//! as dictionaries ([`crate::schema::coded_identity_schema`]), each distinct value is
//! tested once, and only the rows that may pass ([`OriginTest::may_pass`]) are read
//! whole and walked.

use datafusion::arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};

use auditwatch_catalog::scope::Scope;
use auditwatch_event::identity::principal;

use crate::error::Result;
use crate::origin::lazy::ByOrigin;
use crate::origin::udf::{Columns, LEAVES};
use crate::origin::visible_match;

/// The leaves [`OriginTest::may_pass`] reads, as dictionaries ([`crate::schema::coded_identity_schema`]).
pub(crate) const SIFTED: [&str; 8] = [
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.principalId",
    "userIdentity.invokedBy",
    "userIdentity.onBehalfOf",
    "userIdentity.sessionContext.sourceIdentity",
];

/// A test of one coded leaf: its value's answer for each row, worked out once per
/// distinct value.
struct Coded {
    codes: DictionaryArray<Int32Type>,
    answers: Vec<bool>,
}

impl Coded {
    /// `test` over leaf `name` of `parent`; `None` when the batch lacks the leaf.
    fn of(
        parent: Option<&StructArray>,
        name: &str,
        test: impl Fn(&str) -> bool,
    ) -> Result<Option<Self>> {
        let Some(column) = parent.and_then(|p| p.column_by_name(name)) else {
            return Ok(None);
        };
        let codes = match column.as_dictionary_opt::<Int32Type>() {
            Some(d) => d.clone(),
            None => {
                let as_codes =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                cast(column, &as_codes)?
                    .as_dictionary::<Int32Type>()
                    .clone()
            }
        };
        let values = match codes.values().data_type() {
            DataType::Utf8 => codes.values().clone(),
            _ => cast(codes.values(), &DataType::Utf8)?,
        };
        let values = values.as_string::<i32>();
        let answers = (0..values.len())
            .map(|i| values.is_valid(i) && test(values.value(i)))
            .collect();
        Ok(Some(Self { codes, answers }))
    }

    /// Whether any distinct value's answer is true.
    fn any(&self) -> bool {
        self.answers.contains(&true)
    }

    /// Sets `out[r]` for each row `r` whose answer is true; a leaf none of whose
    /// values passes (most of them, for a rare value) costs no work per row.
    fn mark(&self, out: &mut [bool]) {
        if self.any() {
            for (r, o) in out.iter_mut().enumerate() {
                *o = *o || self.at(r);
            }
        }
    }

    /// The answer for row `r` (false where the leaf is null).
    fn at(&self, r: usize) -> bool {
        let keys = self.codes.keys();
        keys.is_valid(r)
            && usize::try_from(keys.value(r)).is_ok_and(|k| self.answers.get(k) == Some(&true))
    }
}

/// "The origin is `by.value()`", for a caller who sees `scope`.
pub(crate) struct OriginTest<'a> {
    pub(crate) by: &'a ByOrigin,
    pub(crate) scope: &'a Scope,
}

impl OriginTest<'_> {
    /// The leaves [`Self::passes`] reads.
    pub(crate) fn leaves(&self) -> &'static [&'static str] {
        &LEAVES
    }

    /// Whether each row of `batch` (the [`SIFTED`] leaves of some rows, read by
    /// [`crate::schema::coded_identity_schema`]) may pass: true for every row [`ByOrigin::may_name`] accepts,
    /// which holds because each of its tests implies one of these. A row may pass when
    /// its key may reach the value; or its ARN, user name, principal id, `invokedBy`
    /// or source identity holds the value, or its `onBehalfOf` holds it or an escape;
    /// or it is an IAM user or root without an ARN.
    pub(crate) fn may_pass(&self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let identity = batch
            .column_by_name("userIdentity")
            .and_then(|c| c.as_struct_opt());
        let context = identity
            .and_then(|i| i.column_by_name("sessionContext"))
            .and_then(|c| c.as_struct_opt());
        let v = self.by.value();
        let holds = |s: &str| s.contains(v);
        let tests = [
            Coded::of(identity, "accessKeyId", |k| self.by.reaches(k))?,
            Coded::of(identity, "arn", holds)?,
            Coded::of(identity, "userName", holds)?,
            Coded::of(identity, "principalId", holds)?,
            Coded::of(identity, "invokedBy", holds)?,
            Coded::of(identity, "onBehalfOf", |s| holds(s) || s.contains('\\'))?,
            Coded::of(context, "sourceIdentity", holds)?,
            Coded::of(identity, "type", |t| matches!(t, "Root" | "IAMUser"))?,
            Coded::of(identity, "arn", |a| !a.is_empty())?,
        ];
        // A leaf the batch lacks rules nothing out.
        let Some(tests) = tests.into_iter().collect::<Option<Vec<Coded>>>() else {
            return Ok(vec![true; batch.num_rows()]);
        };
        let (named, kind) = tests.split_at(7);
        let (user_or_root, has_arn) = (&kind[0], &kind[1]);
        let mut may = vec![false; batch.num_rows()];
        for c in named {
            c.mark(&mut may);
        }
        if user_or_root.any() {
            for (r, m) in may.iter_mut().enumerate() {
                *m = *m || (user_or_root.at(r) && !has_arn.at(r));
            }
        }
        Ok(may)
    }

    /// Whether each row of `batch` (the [`Self::leaves`] of some rows) passes.
    pub(crate) fn passes(&self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let Some(identity) = batch
            .column_by_name("userIdentity")
            .and_then(|c| c.as_struct_opt())
        else {
            return Ok(vec![false; batch.num_rows()]);
        };
        let columns = Columns::of(identity)?;
        Ok((0..identity.len())
            .map(|r| {
                let text = columns.at(r);
                identity.is_valid(r)
                    && self.by.may_name(&text)
                    && visible_match(
                        &self.by.origin(&principal(&text)),
                        self.scope,
                        self.by.value(),
                    )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use auditwatch_catalog::TableCatalog;
    use auditwatch_catalog::scope::Scope;
    use auditwatch_catalog::sqlite::SqliteTable;
    use auditwatch_event::Record;
    use auditwatch_event::identity::{IdentityText, Issued, principal};
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
    use datafusion::arrow::compute::cast;

    use super::OriginTest;
    use crate::origin::lazy::ByOrigin;
    use crate::origin::udf::Columns;
    use crate::schema::coded_identity_schema;
    use crate::write::convert::{EventRow, to_batch};

    /// Each field's choices: absent, empty, holding the value looked up (`alice`) in
    /// several ways, escaped, and not holding it.
    const KINDS: &[Option<&str>] = &[
        None,
        Some(""),
        Some("Root"),
        Some("IAMUser"),
        Some("AssumedRole"),
        Some("FederatedUser"),
        Some("AWSService"),
        Some("SAMLUser"),
        Some("IdentityCenterUser"),
    ];
    const ARNS: &[Option<&str>] = &[
        None,
        Some(""),
        Some("arn:aws:iam::111122223333:user/alice"),
        Some("arn:aws:sts::111122223333:assumed-role/Admin/alice"),
        Some("arn:aws:sts::111122223333:assumed-role/Admin/bob"),
        Some("arn:aws:iam::111122223333:root"),
        Some("alice"),
    ];
    const KEYS: &[Option<&str>] = &[
        None,
        Some(""),
        Some("ASIAREACHESALICE0001"),
        Some("ASIAGOESELSEWHERE002"),
        Some("AKIALONGTERMKEY00003"),
    ];
    const NAMES: &[Option<&str>] = &[None, Some(""), Some("alice"), Some("bob"), Some("xalicex")];
    const PRINCIPALS: &[Option<&str>] = &[
        None,
        Some("AIDAALICE"),
        Some("AROAX:alice"),
        Some("AROAX:bob"),
    ];
    const INVOKERS: &[Option<&str>] = &[
        None,
        Some(""),
        Some("alice.amazonaws.com"),
        Some("s3.amazonaws.com"),
    ];
    const BEHALF: &[Option<&str>] = &[
        None,
        Some(
            r#"{"userId":"alice","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"}"#,
        ),
        Some(r#"{"userId":"\u0061lice"}"#),
        Some(r#"{"userId":"bob"}"#),
    ];

    fn field(name: &str, v: Option<&str>) -> Option<String> {
        v.map(|v| format!("{name:?}:{}", serde_json::Value::from(v)))
    }

    /// For every combination drawn, each row `may_name` accepts is one `may_pass`
    /// accepts, whether the leaves come as text or as dictionaries; and the sift rules
    /// rows out, so the test would see a sift that lets everything through.
    #[test]
    fn the_sift_keeps_every_row_the_walk_may_keep() {
        let dir = tempfile::tempdir().unwrap();
        let table = Arc::new(SqliteTable::new(&dir.path().join("catalog.db")));
        let alice = principal(&IdentityText {
            kind: Some("IAMUser"),
            arn: Some("arn:aws:iam::111122223333:user/alice"),
            account_id: Some("111122223333"),
            user_name: Some("alice"),
            ..IdentityText::default()
        });
        table
            .record_sessions(&[Issued {
                access_key_id: "ASIAREACHESALICE0001".into(),
                call: "AssumeRole".into(),
                session_arn: Some("arn:aws:sts::111122223333:assumed-role/Admin/alice".into()),
                account: Some("111122223333".into()),
                event_id: Some("issue-1".into()),
                time_us: 0,
                expires_us: None,
                source_identity: None,
                caller: alice,
            }])
            .unwrap();
        let by = ByOrigin::new(table, "alice").unwrap();
        assert!(by.reaches("ASIAREACHESALICE0001"));
        let test = OriginTest {
            by: &by,
            scope: &Scope::All,
        };

        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut pick = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let raws: Vec<String> = (0..4000)
            .map(|n| {
                let mut fields: Vec<String> = [
                    field("type", KINDS[pick(KINDS.len())]),
                    field("arn", ARNS[pick(ARNS.len())]),
                    field("accessKeyId", KEYS[pick(KEYS.len())]),
                    field("userName", NAMES[pick(NAMES.len())]),
                    field("principalId", PRINCIPALS[pick(PRINCIPALS.len())]),
                    field("invokedBy", INVOKERS[pick(INVOKERS.len())]),
                ]
                .into_iter()
                .flatten()
                .collect();
                if let Some(b) = BEHALF[pick(BEHALF.len())] {
                    fields.push(format!("\"onBehalfOf\":{b}"));
                }
                if let Some(s) = field("sourceIdentity", NAMES[pick(NAMES.len())]) {
                    fields.push(format!("\"sessionContext\":{{{s}}}"));
                }
                let identity = match pick(20) {
                    0 => String::new(),
                    _ => format!("\"userIdentity\":{{{}}},", fields.join(",")),
                };
                format!(
                    r#"{{"eventVersion":"1.08",{identity}"eventTime":"2026-12-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"e-{n}","recipientAccountId":"111122223333"}}"#
                )
            })
            .collect();
        let rows: Vec<EventRow<'_>> = raws
            .iter()
            .map(|raw| EventRow {
                record: Record::parse(raw).unwrap(),
                account_from_key: Some("111122223333"),
                source: "test",
            })
            .collect();
        let batch = to_batch(&rows.iter().collect::<Vec<_>>());
        let identity = batch.column_by_name("userIdentity").unwrap().as_struct();
        let columns = Columns::of(identity).unwrap();
        let may_name: Vec<bool> = (0..batch.num_rows())
            .map(|r| identity.is_valid(r) && by.may_name(&columns.at(r)))
            .collect();

        let coded_type = coded_identity_schema()
            .field_with_name("userIdentity")
            .unwrap()
            .data_type()
            .clone();
        let coded: ArrayRef =
            cast(batch.column_by_name("userIdentity").unwrap(), &coded_type).unwrap();
        let as_codes = RecordBatch::try_from_iter([("userIdentity", coded)]).unwrap();
        for (how, b) in [("text", &batch), ("dictionaries", &as_codes)] {
            let sifted = test.may_pass(b).unwrap();
            for (r, raw) in raws.iter().enumerate() {
                assert!(!may_name[r] || sifted[r], "sifted out ({how}): {raw}");
            }
            let kept = sifted.iter().filter(|k| **k).count();
            let named = may_name.iter().filter(|k| **k).count();
            assert!(
                named > 100 && kept < raws.len() * 95 / 100,
                "{how}: {named} named, {kept} kept"
            );
        }
    }
}
