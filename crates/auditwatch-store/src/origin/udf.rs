//! SQL functions over a `userIdentity` struct, answered from the session's
//! [`Origins`](super::Origins):
//!
//! - `origin(userIdentity)`: the origin's name (an ARN, a subject, a user, a service,
//!   a source identity, or the role session when unresolved);
//! - `origin_type(userIdentity)`: `IAMUser`, `Root`, `SAMLUser`, `WebIdentityUser`,
//!   `IdentityCenterUser`, `AWSService`, `SourceIdentity`, or `Unresolved`;
//! - `origin_chain(userIdentity)`: the session ARNs from the call's own session to the
//!   origin's, only those whose account the caller sees;
//! - `origin_is(userIdentity, 'alice')`: whether the value names the origin (its name,
//!   or an IAM user's name alone) — the `origin` filter of lookups.
//!
//! An unresolved origin is named by the role session the walk stopped at; to a caller
//! who does not see that session's account it has no name ([`super::visible_name`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, ListBuilder, StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{SessionContext, ident, lit};

use auditwatch_event::identity::{IdentityText, Origin, principal};

use super::{OriginsSource, arn_account, visible_match, visible_name};

/// What a function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    Name,
    Kind,
    Chain,
    Is,
}

impl Answer {
    const ALL: [Answer; 4] = [Answer::Name, Answer::Kind, Answer::Chain, Answer::Is];

    fn name(self) -> &'static str {
        match self {
            Answer::Name => "origin",
            Answer::Kind => "origin_type",
            Answer::Chain => "origin_chain",
            Answer::Is => "origin_is",
        }
    }
}

#[derive(Debug)]
struct OriginFn {
    answer: Answer,
    source: Arc<OriginsSource>,
    signature: Signature,
}

impl PartialEq for OriginFn {
    fn eq(&self, other: &Self) -> bool {
        self.answer == other.answer && Arc::ptr_eq(&self.source, &other.source)
    }
}
impl Eq for OriginFn {}
impl std::hash::Hash for OriginFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.answer.hash(state);
        Arc::as_ptr(&self.source).hash(state);
    }
}

/// Registers the four functions in `ctx`, reading origins from `source`.
pub fn register(ctx: &SessionContext, source: Arc<OriginsSource>) {
    for answer in Answer::ALL {
        let args = if answer == Answer::Is { 2 } else { 1 };
        ctx.register_udf(ScalarUDF::new_from_impl(OriginFn {
            answer,
            source: source.clone(),
            signature: Signature::any(args, Volatility::Stable),
        }));
    }
}

/// The lookup filter "the origin is `value`", in a session [`register`] prepared.
pub fn origin_is(ctx: &SessionContext, value: &str) -> Result<Expr> {
    let f = ctx.udf(Answer::Is.name())?;
    Ok(f.call(vec![ident("userIdentity"), lit(value.to_string())]))
}

/// The text columns of a `userIdentity` struct the functions read.
pub(crate) struct Columns {
    fields: [Option<StringArray>; 9],
    role_arn: Option<StringArray>,
    source_identity: Option<StringArray>,
}

/// The leaves of `userIdentity` the functions read, as dotted paths of the file.
pub(crate) const LEAVES: [&str; 11] = [
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.principalId",
    "userIdentity.identityProvider",
    "userIdentity.invokedBy",
    "userIdentity.onBehalfOf",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "userIdentity.sessionContext.sourceIdentity",
];

const FIELDS: [&str; 9] = [
    "type",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "principalId",
    "identityProvider",
    "invokedBy",
    "onBehalfOf",
];

fn text_column(s: &StructArray, name: &str) -> Result<Option<StringArray>> {
    let Some(col) = s.column_by_name(name) else {
        return Ok(None);
    };
    let col = match col.data_type() {
        DataType::Utf8 => col.clone(),
        _ => cast(col, &DataType::Utf8)?,
    };
    Ok(Some(col.as_string::<i32>().clone()))
}

impl Columns {
    pub(crate) fn of(s: &StructArray) -> Result<Self> {
        let mut fields: [Option<StringArray>; 9] = Default::default();
        for (slot, name) in fields.iter_mut().zip(FIELDS) {
            *slot = text_column(s, name)?;
        }
        let context = s
            .column_by_name("sessionContext")
            .and_then(|c| c.as_struct_opt());
        let issuer = context
            .and_then(|c| c.column_by_name("sessionIssuer"))
            .and_then(|c| c.as_struct_opt());
        Ok(Self {
            fields,
            role_arn: issuer.map(|i| text_column(i, "arn")).transpose()?.flatten(),
            source_identity: context
                .map(|c| text_column(c, "sourceIdentity"))
                .transpose()?
                .flatten(),
        })
    }

    pub(crate) fn at(&self, row: usize) -> IdentityText<'_> {
        fn get(c: &Option<StringArray>, row: usize) -> Option<&str> {
            c.as_ref().filter(|a| a.is_valid(row)).map(|a| a.value(row))
        }
        let f = &self.fields;
        IdentityText {
            kind: get(&f[0], row),
            arn: get(&f[1], row),
            account_id: get(&f[2], row),
            access_key_id: get(&f[3], row),
            user_name: get(&f[4], row),
            principal_id: get(&f[5], row),
            identity_provider: get(&f[6], row),
            invoked_by: get(&f[7], row),
            on_behalf_of: get(&f[8], row),
            role_arn: get(&self.role_arn, row),
            source_identity: get(&self.source_identity, row),
        }
    }
}

impl ScalarUDFImpl for OriginFn {
    fn name(&self) -> &str {
        self.answer.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.answer {
            Answer::Name | Answer::Kind => DataType::Utf8,
            Answer::Chain => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Answer::Is => DataType::Boolean,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = match (self.answer, args.args.get(1)) {
            (
                Answer::Is,
                Some(ColumnarValue::Scalar(
                    ScalarValue::Utf8(Some(v))
                    | ScalarValue::Utf8View(Some(v))
                    | ScalarValue::LargeUtf8(Some(v)),
                )),
            ) => Some(v.clone()),
            _ => None,
        };
        if self.answer == Answer::Is && value.is_none() {
            return exec_err!("origin_is: the second argument must be a string literal");
        }
        let identity: ArrayRef = match &args.args[0] {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(args.number_rows)?,
        };
        let Some(identity) = identity.as_struct_opt() else {
            return exec_err!(
                "{}: the argument must be userIdentity, not {}",
                self.name(),
                identity.data_type()
            );
        };
        let origins = match self.source.get() {
            Ok(o) => o,
            Err(e) => {
                return exec_err!("{}: the sessions index could not be read: {e}", self.name());
            }
        };
        let columns = Columns::of(identity)?;
        let rows = identity.len();
        let origin_at = |row: usize| {
            let who = principal(&columns.at(row));
            origins.origin(&who)
        };
        let scope = &self.source.scope;
        let named = |o: &Origin| visible_name(o, scope).map(str::to_string);
        let out: ArrayRef = match self.answer {
            Answer::Name => Arc::new(
                (0..rows)
                    .map(|r| identity.is_valid(r).then(|| named(&origin_at(r))).flatten())
                    .collect::<StringArray>(),
            ),
            Answer::Kind => Arc::new(
                (0..rows)
                    .map(|r| identity.is_valid(r).then(|| origin_at(r).kind()))
                    .collect::<StringArray>(),
            ),
            Answer::Is => {
                let value = value.unwrap_or_default();
                let mut b = BooleanBuilder::with_capacity(rows);
                for r in 0..rows {
                    b.append_value(
                        identity.is_valid(r) && visible_match(&origin_at(r), scope, &value),
                    );
                }
                Arc::new(b.finish())
            }
            Answer::Chain => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for r in 0..rows {
                    if !identity.is_valid(r) {
                        b.append_null();
                        continue;
                    }
                    let who = principal(&columns.at(r));
                    let mut arns: Vec<String> = Vec::new();
                    if let auditwatch_event::identity::Principal::Session { session_arn, .. } = &who
                    {
                        arns.push(session_arn.clone());
                    }
                    let walk = origins.attribute(&who);
                    arns.extend(
                        walk.chain
                            .iter()
                            .skip(1)
                            .filter_map(|i| i.session_arn.clone()),
                    );
                    if let Some(auditwatch_event::identity::Principal::Session {
                        session_arn,
                        ..
                    }) = walk.chain.last().map(|i| &i.caller)
                    {
                        arns.push(session_arn.clone());
                    }
                    let mut seen = std::collections::HashSet::new();
                    arns.retain(|a| seen.insert(a.clone()));
                    for arn in arns {
                        if arn_account(&arn).is_some_and(|a| self.source.scope.allows(a)) {
                            b.values().append_value(arn);
                        }
                    }
                    b.append(true);
                }
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
