//! Who is behind a call: the principal a record names ([`caller`]), the temporary
//! credentials a record's call issued ([`issued`]), and the walk from a principal
//! through the sessions that issued its credentials to its origin ([`attribute`]).
//!
//! CloudTrail names a call made with temporary credentials by its role session; the
//! person or workload behind it is the caller of the `AssumeRole*`,
//! `GetSessionToken` or `GetFederationToken` call that issued those credentials
//! (`responseElements.credentials.accessKeyId`), possibly through several roles and
//! accounts. The walk reads the issuing calls from a set keyed by access key, so
//! its answer depends only on which issuing events are known, never on the order
//! they arrived in. What the walk cannot cross (an issuing event not stored) leaves
//! the origin *unresolved*, named by the role session as CloudTrail names it; a
//! later walk, once the issuing event is stored, resolves it.
//!
//! Shortcuts CloudTrail itself gives are taken: a `sourceIdentity` carried in the
//! session context names the origin when the walk cannot go further, and an IAM
//! Identity Center permission-set role (`AWSReservedSSO_*`) names its user in the
//! role session name.

use serde::Deserialize;

use crate::record::{Fields, Record};

/// Longest chain walked (role chaining in real accounts stays far below it).
pub const MAX_HOPS: usize = 16;

/// The calls that issue temporary credentials.
pub const ISSUING_CALLS: [&str; 5] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
];

/// Who made a call, as its record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user, by ARN (long-lived keys, or a session of its own from
    /// `GetSessionToken` or the console).
    IamUser {
        /// `arn:aws:iam::<account>:user/<name>`.
        arn: String,
    },
    /// An account's root user.
    Root {
        /// `arn:aws:iam::<account>:root`.
        arn: String,
    },
    /// A federated subject of a SAML identity provider.
    SamlUser {
        /// The identity provider (issuer), when the record names it.
        provider: String,
        /// The subject.
        subject: String,
    },
    /// A subject of an OpenID Connect provider (web identity federation).
    WebIdentityUser {
        /// The provider (e.g. `token.actions.githubusercontent.com`).
        provider: String,
        /// The subject.
        subject: String,
    },
    /// A user of IAM Identity Center.
    IdentityCenterUser {
        /// The user's name or id.
        user: String,
    },
    /// An AWS service acting on its own (`AWSService`), or on the account's behalf.
    Service {
        /// `ec2.amazonaws.com` …
        name: String,
    },
    /// Temporary credentials: the issuing call is followed to find the origin.
    Session {
        /// The temporary access key (`ASIA…`).
        access_key_id: String,
        /// The session's ARN (`…:assumed-role/<role>/<session>`, or a federated
        /// user's ARN).
        session_arn: String,
        /// The role that issued the session (`sessionContext.sessionIssuer.arn`).
        role_arn: Option<String>,
        /// `sessionContext.sourceIdentity`, when set.
        source_identity: Option<String>,
    },
    /// Nothing to go by (no `userIdentity`, or a type this model does not know).
    Unknown {
        /// What the record says, for messages.
        described: String,
    },
}

/// Temporary credentials a record's call issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The temporary access key.
    pub access_key_id: String,
    /// The call (`AssumeRole` …).
    pub call: String,
    /// The session's ARN (`assumedRoleUser.arn` or `federatedUser.arn`), if any.
    pub session_arn: Option<String>,
    /// The account the call was recorded in.
    pub account: Option<String>,
    /// The issuing event's `eventID`.
    pub event_id: Option<String>,
    /// When it was issued (µs since the epoch).
    pub time_us: i64,
    /// When the credentials expire (µs), if the record says.
    pub expires_us: Option<i64>,
    /// The source identity set on the session, if any.
    pub source_identity: Option<String>,
    /// Who asked for the credentials.
    pub caller: Principal,
}

/// Where a chain ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Found: the person, workload or service behind the call.
    Resolved(Principal),
    /// Named by a `sourceIdentity` the walk could not look behind.
    SourceIdentity(String),
    /// Not found: the walk stopped at this session.
    Unresolved {
        /// The session CloudTrail names (its ARN).
        session_arn: String,
        /// Why the walk stopped.
        reason: String,
    },
}

/// A call's attribution: its origin and the sessions between (the call's own
/// session first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Where the chain ends.
    pub origin: Origin,
    /// The issuing calls walked through, the call's own session's first.
    pub chain: Vec<Issued>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow, default)]
    credentials: Option<Credentials<'a>>,
    #[serde(borrow, default, rename = "assumedRoleUser")]
    assumed_role_user: Option<Arn<'a>>,
    #[serde(borrow, default, rename = "federatedUser")]
    federated_user: Option<Arn<'a>>,
    #[serde(borrow, default, rename = "sourceIdentity")]
    source_identity: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    issuer: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "subjectFromWebIdentityToken")]
    web_subject: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    provider: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Credentials<'a> {
    #[serde(borrow, default, rename = "accessKeyId")]
    access_key_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    expiration: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Arn<'a> {
    #[serde(borrow, default)]
    arn: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default, rename = "sourceIdentity")]
    source_identity: Option<std::borrow::Cow<'a, str>>,
}

fn text(t: &crate::Text<'_>) -> Option<String> {
    t.as_deref().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The role name of a role ARN (its path left out) or of an assumed-role session ARN.
pub fn role_name(arn: &str) -> Option<&str> {
    if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        return rest.split('/').next();
    }
    arn.split_once(":role/")?.1.rsplit('/').next()
}

/// The session name of an assumed-role session ARN.
pub fn session_name(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":assumed-role/")?.1;
    rest.split_once('/').map(|(_, s)| s)
}

/// The fields of a `userIdentity` that name its principal, as text (empty is absent):
/// read from a parsed record ([`caller`]) or from the stored columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityText<'a> {
    /// `type`.
    pub kind: Option<&'a str>,
    /// `arn`.
    pub arn: Option<&'a str>,
    /// `accountId` (or the recipient account when the identity has none).
    pub account_id: Option<&'a str>,
    /// `accessKeyId`.
    pub access_key_id: Option<&'a str>,
    /// `userName`.
    pub user_name: Option<&'a str>,
    /// `principalId`.
    pub principal_id: Option<&'a str>,
    /// `identityProvider`.
    pub identity_provider: Option<&'a str>,
    /// `invokedBy`.
    pub invoked_by: Option<&'a str>,
    /// `onBehalfOf`, as JSON text.
    pub on_behalf_of: Option<&'a str>,
    /// `sessionContext.sessionIssuer.arn`.
    pub role_arn: Option<&'a str>,
    /// `sessionContext.sourceIdentity`.
    pub source_identity: Option<&'a str>,
}

fn some<'s>(t: &'s crate::Text<'_>) -> Option<&'s str> {
    t.as_deref().filter(|s| !s.is_empty())
}

/// Who made the call a record's fields describe.
pub fn caller(f: &Fields<'_>) -> Principal {
    let Some(u) = &f.user_identity else {
        return Principal::Unknown {
            described: "no userIdentity".into(),
        };
    };
    let context = u.session_context.as_ref();
    principal(&IdentityText {
        kind: some(&u.kind),
        arn: some(&u.arn),
        account_id: some(&u.account_id).or_else(|| some(&f.recipient_account_id)),
        access_key_id: some(&u.access_key_id),
        user_name: some(&u.user_name),
        principal_id: some(&u.principal_id),
        identity_provider: some(&u.identity_provider),
        invoked_by: some(&u.invoked_by),
        on_behalf_of: u.on_behalf_of.0,
        role_arn: context
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| some(&i.arn)),
        source_identity: context.and_then(|c| some(&c.source_identity)),
    })
}

/// Who made the call a record already parsed as a JSON value describes: the same
/// answer as [`caller`] gives for its text.
pub fn caller_of_value(record: &serde_json::Value) -> Principal {
    let Some(u) = record.get("userIdentity").filter(|u| u.is_object()) else {
        return Principal::Unknown {
            described: "no userIdentity".into(),
        };
    };
    fn text(v: Option<&serde_json::Value>) -> Option<&str> {
        v.and_then(serde_json::Value::as_str)
    }
    let context = u.get("sessionContext");
    // Ingest reads a number or other non-text value of a named field as its text;
    // such rare records take the text path, so both answer the same.
    let named = [
        u.get("type"),
        u.get("arn"),
        u.get("accountId"),
        u.get("accessKeyId"),
        u.get("userName"),
        u.get("principalId"),
        u.get("identityProvider"),
        u.get("invokedBy"),
        record.get("recipientAccountId"),
        context.and_then(|c| c.get("sessionIssuer")?.get("arn")),
        context.and_then(|c| c.get("sourceIdentity")),
    ];
    if named
        .iter()
        .flatten()
        .any(|v| !(v.is_string() || v.is_null()))
    {
        let text = record.to_string();
        return match crate::Record::parse(&text) {
            Ok(r) => caller(&r.fields),
            Err(e) => Principal::Unknown {
                described: format!("a record that does not parse ({e})"),
            },
        };
    }
    let on_behalf_of = u.get("onBehalfOf").map(serde_json::Value::to_string);
    principal(&IdentityText {
        kind: text(u.get("type")),
        arn: text(u.get("arn")),
        account_id: text(u.get("accountId"))
            .filter(|s| !s.is_empty())
            .or_else(|| text(record.get("recipientAccountId"))),
        access_key_id: text(u.get("accessKeyId")),
        user_name: text(u.get("userName")),
        principal_id: text(u.get("principalId")),
        identity_provider: text(u.get("identityProvider")),
        invoked_by: text(u.get("invokedBy")),
        on_behalf_of: on_behalf_of.as_deref(),
        role_arn: text(context.and_then(|c| c.get("sessionIssuer")?.get("arn"))),
        source_identity: text(context.and_then(|c| c.get("sourceIdentity"))),
    })
}

/// The principal a `userIdentity`'s text names.
pub fn principal(u: &IdentityText<'_>) -> Principal {
    let given = |t: Option<&str>| t.filter(|s| !s.is_empty()).map(str::to_string);
    let kind = u.kind.unwrap_or_default();
    let arn = given(u.arn);
    let account = given(u.account_id);
    let key = given(u.access_key_id).filter(|k| k.starts_with("ASIA"));
    let source_identity = given(u.source_identity);
    match kind {
        "Root" => Principal::Root {
            arn: arn
                .unwrap_or_else(|| format!("arn:aws:iam::{}:root", account.unwrap_or_default())),
        },
        "IAMUser" => Principal::IamUser {
            arn: arn.unwrap_or_else(|| {
                format!(
                    "arn:aws:iam::{}:user/{}",
                    account.unwrap_or_default(),
                    given(u.user_name).unwrap_or_default()
                )
            }),
        },
        "AssumedRole" | "FederatedUser" => match key {
            Some(access_key_id) => Principal::Session {
                access_key_id,
                session_arn: arn.unwrap_or_default(),
                role_arn: given(u.role_arn),
                source_identity,
            },
            None => Principal::Unknown {
                described: format!("{kind} {} without a temporary key", arn.unwrap_or_default()),
            },
        },
        "SAMLUser" => Principal::SamlUser {
            provider: given(u.identity_provider).unwrap_or_default(),
            subject: given(u.user_name)
                .or_else(|| given(u.principal_id))
                .unwrap_or_default(),
        },
        "WebIdentityUser" => Principal::WebIdentityUser {
            provider: given(u.identity_provider).unwrap_or_default(),
            subject: given(u.user_name)
                .or_else(|| given(u.principal_id))
                .unwrap_or_default(),
        },
        "IdentityCenterUser" => Principal::IdentityCenterUser {
            user: on_behalf_of(u.on_behalf_of)
                .or_else(|| given(u.user_name))
                .or_else(|| given(u.principal_id))
                .unwrap_or_default(),
        },
        "AWSService" => Principal::Service {
            name: given(u.invoked_by)
                .or_else(|| given(u.principal_id))
                .unwrap_or_default(),
        },
        _ => Principal::Unknown {
            described: if kind.is_empty() {
                "a userIdentity without a type".into()
            } else {
                format!("a userIdentity of type {kind}")
            },
        },
    }
}

/// `onBehalfOf.userId` of an Identity Center call.
fn on_behalf_of(raw: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw?).ok()?;
    v.get("userId")?.as_str().map(str::to_string)
}

/// The temporary credentials a record's call issued, when it is a successful
/// `AssumeRole*`, `GetSessionToken` or `GetFederationToken` whose response names
/// them.
pub fn issued(r: &Record<'_>) -> Option<Issued> {
    let f = &r.fields;
    let call = f.event_name.as_deref()?;
    if !ISSUING_CALLS.contains(&call) || f.error_code.is_some() {
        return None;
    }
    let response: Response<'_> = serde_json::from_str(f.response_elements.0?).ok()?;
    let credentials = response.credentials?;
    let access_key_id = credentials.access_key_id?.into_owned();
    let session_arn = response
        .assumed_role_user
        .and_then(|u| u.arn)
        .or_else(|| response.federated_user.and_then(|u| u.arn))
        .map(|a| a.into_owned());
    let requested: Option<Request<'_>> = f
        .request_parameters
        .0
        .and_then(|raw| serde_json::from_str(raw).ok());
    let source_identity = response
        .source_identity
        .or_else(|| requested.and_then(|q| q.source_identity))
        .map(|s| s.into_owned());
    let mut caller = caller(f);
    // The federated subject is in the response, whatever userIdentity says.
    match (call, response.subject, response.web_subject) {
        ("AssumeRoleWithSAML", Some(subject), _) => {
            caller = Principal::SamlUser {
                provider: response.issuer.map(|i| i.into_owned()).unwrap_or_default(),
                subject: subject.into_owned(),
            }
        }
        ("AssumeRoleWithWebIdentity", _, Some(subject)) => {
            caller = Principal::WebIdentityUser {
                provider: response
                    .provider
                    .map(|p| p.into_owned())
                    .unwrap_or_default(),
                subject: subject.into_owned(),
            }
        }
        _ => {}
    }
    Some(Issued {
        access_key_id,
        call: call.to_string(),
        session_arn,
        account: text(&f.recipient_account_id)
            .or_else(|| f.user_identity.as_ref().and_then(|u| text(&u.account_id))),
        event_id: text(&f.event_id),
        time_us: r.event_time_us,
        expires_us: credentials.expiration.as_ref().and_then(expiry_us),
        source_identity,
        caller,
    })
}

/// An expiration as CloudTrail writes it: `"Mar 1, 2024, 12:00:00 PM"` (older
/// records), RFC 3339, or epoch milliseconds.
fn expiry_us(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().map(|ms| ms.saturating_mul(1000)),
        serde_json::Value::String(s) if s.starts_with(|c: char| c.is_ascii_digit()) => {
            crate::parse_time_us(s)
        }
        serde_json::Value::String(s) => {
            chrono::NaiveDateTime::parse_from_str(s, "%b %e, %Y, %l:%M:%S %p")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        }
        _ => None,
    }
}

/// Walks from `who` through the issuing calls `lookup` knows (by temporary access
/// key) to the origin. The answer depends only on what `lookup` answers.
pub fn attribute(who: &Principal, lookup: impl Fn(&str) -> Option<Issued>) -> Attribution {
    let mut chain: Vec<Issued> = Vec::new();
    let mut at = who.clone();
    let mut named: Option<String> = None;
    loop {
        let Principal::Session {
            access_key_id,
            session_arn,
            role_arn,
            source_identity,
        } = &at
        else {
            let origin = match (at, named) {
                (Principal::Unknown { .. }, Some(s)) => Origin::SourceIdentity(s),
                (Principal::Unknown { described }, None) => Origin::Unresolved {
                    session_arn: chain
                        .last()
                        .and_then(|i| i.session_arn.clone())
                        .unwrap_or_default(),
                    reason: format!("the caller is {described}"),
                },
                (p, _) => Origin::Resolved(p),
            };
            return Attribution { origin, chain };
        };
        if named.is_none() {
            named.clone_from(source_identity);
        }
        let unresolved = |reason: String| match &named {
            Some(s) => Origin::SourceIdentity(s.clone()),
            None => Origin::Unresolved {
                session_arn: session_arn.clone(),
                reason,
            },
        };
        if chain.len() >= MAX_HOPS || chain.iter().any(|i| &i.access_key_id == access_key_id) {
            let reason = format!("a chain of more than {MAX_HOPS} sessions, or a loop");
            return Attribution {
                origin: unresolved(reason),
                chain,
            };
        }
        let Some(issuing) = lookup(access_key_id) else {
            // An Identity Center permission set's role names its user.
            let role = role_arn.as_deref().or(Some(session_arn.as_str()));
            if role
                .and_then(role_name)
                .is_some_and(|r| r.starts_with("AWSReservedSSO_"))
                && let Some(user) = session_name(session_arn)
            {
                return Attribution {
                    origin: Origin::Resolved(Principal::IdentityCenterUser {
                        user: user.to_string(),
                    }),
                    chain,
                };
            }
            return Attribution {
                origin: unresolved(format!(
                    "the call that issued {access_key_id} is not stored"
                )),
                chain,
            };
        };
        at = issuing.caller.clone();
        if named.is_none() {
            named.clone_from(&issuing.source_identity);
        }
        chain.push(issuing);
    }
}

impl Origin {
    /// The name the origin is shown and searched by: the principal's
    /// ([`Principal::name`]), the source identity, or the session CloudTrail names.
    pub fn name(&self) -> &str {
        match self {
            Origin::Resolved(p) => p.name(),
            Origin::SourceIdentity(s) => s,
            Origin::Unresolved { session_arn, .. } => session_arn,
        }
    }

    /// Its type, as `originType` names it: the principal's type, `SourceIdentity`
    /// or `Unresolved`.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Resolved(p) => p.kind(),
            Origin::SourceIdentity(_) => "SourceIdentity",
            Origin::Unresolved { .. } => "Unresolved",
        }
    }

    /// Whether `value` names this origin: its name, or for an IAM user also the user
    /// name alone (`alice` for `arn:aws:iam::…:user/path/alice`).
    pub fn matches(&self, value: &str) -> bool {
        if value.is_empty() {
            return false;
        }
        if self.name() == value {
            return true;
        }
        match self {
            Origin::Resolved(Principal::IamUser { arn }) => {
                arn.split_once(":user/")
                    .and_then(|(_, path)| path.rsplit('/').next())
                    == Some(value)
            }
            _ => false,
        }
    }
}

impl Principal {
    /// The name an origin is searched by: an ARN, a subject, a user, a service.
    pub fn name(&self) -> &str {
        match self {
            Principal::IamUser { arn } | Principal::Root { arn } => arn,
            Principal::SamlUser { subject, .. } | Principal::WebIdentityUser { subject, .. } => {
                subject
            }
            Principal::IdentityCenterUser { user } => user,
            Principal::Service { name } => name,
            Principal::Session { session_arn, .. } => session_arn,
            Principal::Unknown { described } => described,
        }
    }

    /// Its type, as `originType` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::IamUser { .. } => "IAMUser",
            Principal::Root { .. } => "Root",
            Principal::SamlUser { .. } => "SAMLUser",
            Principal::WebIdentityUser { .. } => "WebIdentityUser",
            Principal::IdentityCenterUser { .. } => "IdentityCenterUser",
            Principal::Service { .. } => "AWSService",
            Principal::Session { .. } => "Session",
            Principal::Unknown { .. } => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};

    use super::*;

    const ALICE: &str = "arn:aws:iam::111111111111:user/alice";

    /// A record as CloudTrail writes it, parsed as ingest parses it.
    fn parse(v: &Value) -> (String, i64) {
        let text = v.to_string();
        let t = Record::parse(&text).unwrap().event_time_us;
        (text, t)
    }

    fn assume(
        id: &str,
        caller: Value,
        role: &str,
        session: &str,
        key: &str,
        extra_request: Value,
    ) -> Value {
        let account = role.split(':').nth(4).unwrap();
        let mut request = json!({"roleArn": role, "roleSessionName": session});
        if let (Some(r), Some(e)) = (request.as_object_mut(), extra_request.as_object()) {
            r.extend(e.clone());
        }
        json!({"eventVersion": "1.08", "eventTime": "2026-03-01T10:00:00Z",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "eventID": id,
            "recipientAccountId": account, "userIdentity": caller,
            "requestParameters": request,
            "responseElements": {"credentials": {"accessKeyId": key,
                "expiration": "Mar 1, 2026, 11:00:00 AM", "sessionToken": "x"},
                "assumedRoleUser": {"assumedRoleId": "AROA:x",
                    "arn": format!("arn:aws:sts::{account}:assumed-role/{}/{session}",
                        role.rsplit('/').next().unwrap())}}})
    }

    fn session_identity(role: &str, session: &str, key: &str, source: Option<&str>) -> Value {
        let account = role.split(':').nth(4).unwrap();
        let name = role.rsplit('/').next().unwrap();
        let mut context = json!({"sessionIssuer": {"type": "Role", "arn": role,
            "accountId": account, "userName": name}});
        if let Some(s) = source {
            context["sourceIdentity"] = json!(s);
        }
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{account}:assumed-role/{name}/{session}"),
            "accountId": account, "accessKeyId": key, "sessionContext": context})
    }

    fn call_by(identity: Value) -> Value {
        json!({"eventVersion": "1.08", "eventTime": "2026-03-01T10:30:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventID": "call",
            "userIdentity": identity})
    }

    /// Attributes `call` with the issuing events among `records` known.
    fn attribute_with(call: &Value, records: &[&Value]) -> Attribution {
        let texts: Vec<String> = records.iter().map(|v| v.to_string()).collect();
        let known: HashMap<String, Issued> = texts
            .iter()
            .filter_map(|t| issued(&Record::parse(t).unwrap()))
            .map(|i| (i.access_key_id.clone(), i))
            .collect();
        let (text, _) = parse(call);
        let r = Record::parse(&text).unwrap();
        attribute(&caller(&r.fields), |k| known.get(k).cloned())
    }

    fn alice() -> Value {
        json!({"type": "IAMUser", "arn": ALICE, "accountId": "111111111111",
            "userName": "alice", "accessKeyId": "AKIAALICE"})
    }

    #[test]
    fn a_role_chain_across_accounts_ends_at_the_iam_user_in_any_order() {
        let first = assume(
            "e1",
            alice(),
            "arn:aws:iam::111111111111:role/Deploy",
            "alice-deploy",
            "ASIAFIRST",
            json!({}),
        );
        let second = assume(
            "e2",
            session_identity(
                "arn:aws:iam::111111111111:role/Deploy",
                "alice-deploy",
                "ASIAFIRST",
                None,
            ),
            "arn:aws:iam::222222222222:role/path/Admin",
            "hop",
            "ASIASECOND",
            json!({}),
        );
        let call = call_by(session_identity(
            "arn:aws:iam::222222222222:role/path/Admin",
            "hop",
            "ASIASECOND",
            None,
        ));
        for known in [vec![&first, &second], vec![&second, &first]] {
            let a = attribute_with(&call, &known);
            assert_eq!(
                a.origin,
                Origin::Resolved(Principal::IamUser { arn: ALICE.into() })
            );
            let hops: Vec<&str> = a
                .chain
                .iter()
                .map(|i| i.event_id.as_deref().unwrap())
                .collect();
            assert_eq!(hops, ["e2", "e1"], "the call's own session first");
            assert_eq!(a.chain[0].account.as_deref(), Some("222222222222"));
        }
        // Without the first issuing event, the walk stops at the first session.
        let a = attribute_with(&call, &[&second]);
        assert_eq!(
            a.origin,
            Origin::Unresolved {
                session_arn: "arn:aws:sts::111111111111:assumed-role/Deploy/alice-deploy".into(),
                reason: "the call that issued ASIAFIRST is not stored".into(),
            }
        );
        assert_eq!(
            role_name("arn:aws:iam::222222222222:role/path/Admin"),
            Some("Admin")
        );
    }

    #[test]
    fn a_source_identity_names_the_origin_when_the_walk_cannot_go_further() {
        let call = call_by(session_identity(
            "arn:aws:iam::111111111111:role/Ops",
            "s",
            "ASIAOPS",
            Some("carol@example.com"),
        ));
        let a = attribute_with(&call, &[]);
        assert_eq!(a.origin, Origin::SourceIdentity("carol@example.com".into()));
        // Set on the issuing call and carried by the chain.
        let issue = assume(
            "e1",
            session_identity("arn:aws:iam::111111111111:role/Base", "b", "ASIABASE", None),
            "arn:aws:iam::111111111111:role/Ops",
            "s",
            "ASIAOPS",
            json!({"sourceIdentity": "dave"}),
        );
        let call = call_by(session_identity(
            "arn:aws:iam::111111111111:role/Ops",
            "s",
            "ASIAOPS",
            None,
        ));
        assert_eq!(
            attribute_with(&call, &[&issue]).origin,
            Origin::SourceIdentity("dave".into())
        );
        // A walk that reaches a caller the record does not name (the role account's
        // copy of a cross-account call names only an AWSAccount) also ends at it.
        let from_account = assume(
            "e2",
            json!({"type": "AWSAccount", "principalId": "AROA:x", "accountId": "111111111111"}),
            "arn:aws:iam::222222222222:role/Ops",
            "t",
            "ASIAOPS2",
            json!({}),
        );
        let call = call_by(session_identity(
            "arn:aws:iam::222222222222:role/Ops",
            "t",
            "ASIAOPS2",
            Some("erin"),
        ));
        assert_eq!(
            attribute_with(&call, &[&from_account]).origin,
            Origin::SourceIdentity("erin".into())
        );
    }

    #[test]
    fn federation_names_the_subject_and_identity_center_the_user() {
        let saml = json!({"eventVersion": "1.08", "eventTime": "2026-03-01T09:00:00Z",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithSAML", "eventID": "s1",
            "recipientAccountId": "333333333333",
            "userIdentity": {"type": "SAMLUser", "principalId": "idp:bob", "userName": "bob",
                "identityProvider": "idp"},
            "responseElements": {"subject": "bob@corp.example", "issuer": "https://idp.corp.example/",
                "credentials": {"accessKeyId": "ASIASAML", "expiration": "2026-03-01T10:00:00Z"},
                "assumedRoleUser": {"arn": "arn:aws:sts::333333333333:assumed-role/Analyst/bob"}}});
        let call = call_by(session_identity(
            "arn:aws:iam::333333333333:role/Analyst",
            "bob",
            "ASIASAML",
            None,
        ));
        assert_eq!(
            attribute_with(&call, &[&saml]).origin,
            Origin::Resolved(Principal::SamlUser {
                provider: "https://idp.corp.example/".into(),
                subject: "bob@corp.example".into()
            })
        );
        let web = json!({"eventVersion": "1.08", "eventTime": "2026-03-01T09:00:00Z",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithWebIdentity", "eventID": "w1",
            "userIdentity": {"type": "WebIdentityUser", "userName": "repo:corp/app:ref:refs/heads/main",
                "identityProvider": "token.actions.githubusercontent.com"},
            "responseElements": {"subjectFromWebIdentityToken": "repo:corp/app:ref:refs/heads/main",
                "provider": "arn:aws:iam::333333333333:oidc-provider/token.actions.githubusercontent.com",
                "credentials": {"accessKeyId": "ASIAWEB", "expiration": 1772359200000u64}}});
        let issued_web = issued(&Record::parse(&web.to_string()).unwrap()).unwrap();
        assert_eq!(issued_web.expires_us, Some(1_772_359_200_000_000));
        let call = call_by(session_identity(
            "arn:aws:iam::333333333333:role/CI",
            "gh",
            "ASIAWEB",
            None,
        ));
        let Origin::Resolved(Principal::WebIdentityUser { subject, .. }) =
            attribute_with(&call, &[&web]).origin
        else {
            panic!("web identity");
        };
        assert_eq!(subject, "repo:corp/app:ref:refs/heads/main");
        // An Identity Center permission set's session names its user even when the
        // issuing call is not stored.
        let call = call_by(session_identity(
            "arn:aws:iam::444444444444:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123",
            "erin@corp.example",
            "ASIASSO",
            None,
        ));
        assert_eq!(
            attribute_with(&call, &[]).origin,
            Origin::Resolved(Principal::IdentityCenterUser {
                user: "erin@corp.example".into()
            })
        );
    }

    #[test]
    fn failed_calls_issue_nothing_and_loops_stop() {
        let mut failed = assume(
            "x",
            alice(),
            "arn:aws:iam::1:role/R",
            "s",
            "ASIAX",
            json!({}),
        );
        failed["errorCode"] = json!("AccessDenied");
        assert!(issued(&Record::parse(&failed.to_string()).unwrap()).is_none());
        // A session that (impossibly) issued itself: the walk stops instead of looping.
        let me = session_identity("arn:aws:iam::111111111111:role/R", "s", "ASIALOOP", None);
        let looped = assume(
            "l",
            me.clone(),
            "arn:aws:iam::111111111111:role/R",
            "s",
            "ASIALOOP",
            json!({}),
        );
        let a = attribute_with(&call_by(me), &[&looped]);
        assert!(matches!(a.origin, Origin::Unresolved { .. }), "{a:?}");
        assert_eq!(a.chain.len(), 1);
        // Root, services and records without an identity.
        let root = call_by(json!({"type": "Root", "accountId": "555555555555"}));
        assert_eq!(
            attribute_with(&root, &[]).origin,
            Origin::Resolved(Principal::Root {
                arn: "arn:aws:iam::555555555555:root".into()
            })
        );
        let service = call_by(json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}));
        assert_eq!(
            attribute_with(&service, &[]).origin.clone(),
            Origin::Resolved(Principal::Service {
                name: "ec2.amazonaws.com".into()
            })
        );
        let mut none = call_by(json!({}));
        none.as_object_mut().unwrap().remove("userIdentity");
        assert!(matches!(
            attribute_with(&none, &[]).origin,
            Origin::Unresolved { .. }
        ));
    }

    /// Stratus Red Team's detonations: every call made with temporary credentials
    /// whose issuing call is in the same file resolves to an IAM user, and a
    /// federation token's user to the IAM user that asked for it.
    /// The records of a corpus file: a `{"Records": [...]}` log file, an array of
    /// records, or one record.
    fn corpus_records(path: &std::path::Path) -> Vec<String> {
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        match (v.get("Records").and_then(Value::as_array), v.as_array()) {
            (Some(rs), _) | (None, Some(rs)) => rs.iter().map(Value::to_string).collect(),
            (None, None) => vec![v.to_string()],
        }
    }

    /// Every record of `records` attributed with the issuing calls among them known:
    /// every origin has a name or, unresolved, a reason; and reading the caller from
    /// a parsed value answers as reading it from the text. Returns (calls made with
    /// credentials issued in the same file, how many of them resolved to an IAM user).
    fn attribute_all(what: &str, records: &[String]) -> (usize, usize) {
        let known: HashMap<String, Issued> = records
            .iter()
            .filter_map(|t| issued(&Record::parse(t).ok()?))
            .map(|i| (i.access_key_id.clone(), i))
            .collect();
        let (mut sessions, mut to_users) = (0, 0);
        for t in records {
            let r = Record::parse(t).unwrap();
            let who = caller(&r.fields);
            let value: Value = serde_json::from_str(t).unwrap();
            assert_eq!(caller_of_value(&value), who, "{what}: {t}");
            let a = attribute(&who, |k| known.get(k).cloned());
            match &a.origin {
                Origin::Unresolved { reason, .. } => {
                    assert!(!reason.is_empty(), "{what}: no reason: {t}")
                }
                o => assert!(!o.name().is_empty(), "{what}: {o:?} has no name: {t}"),
            }
            if let Principal::Session { access_key_id, .. } = &who
                && known.contains_key(access_key_id)
            {
                sessions += 1;
                to_users += usize::from(matches!(
                    a.origin,
                    Origin::Resolved(Principal::IamUser { .. })
                ));
            }
        }
        (sessions, to_users)
    }

    #[test]
    fn a_caller_read_from_a_value_is_the_one_read_from_the_text_whatever_the_types() {
        for identity in [
            json!({"type": "IAMUser", "accountId": 111111111111u64, "userName": "alice"}),
            json!({"type": 5, "arn": "x"}),
            json!({"type": "Root", "accountId": null, "arn": ""}),
            json!({"type": "AssumedRole", "accessKeyId": "ASIAX", "arn": "arn:aws:sts::1:assumed-role/R/s",
                "sessionContext": {"sourceIdentity": 7, "sessionIssuer": {"arn": true}}}),
            json!({"type": "IdentityCenterUser", "onBehalfOf": {"userId": 12, "identityStoreArn": "a"}}),
            json!({"type": "AWSService", "invokedBy": ["a"]}),
        ] {
            let record = json!({"eventVersion": "1.08", "eventTime": "2026-03-01T10:00:00Z",
                "eventName": "X", "recipientAccountId": 222222222222u64, "userIdentity": identity});
            let (text, _) = parse(&record);
            assert_eq!(
                caller_of_value(&record),
                caller(&Record::parse(&text).unwrap().fields),
                "{record}"
            );
        }
    }

    #[test]
    fn every_corpus_event_has_an_origin_or_a_reason_and_stratus_sessions_resolve() {
        let (Some(stratus), Some(grycap)) = (
            auditwatch_fixtures::corpus("stratus-red-team"),
            auditwatch_fixtures::corpus("grycap-cloudtrail-tracker"),
        ) else {
            return;
        };
        let (mut sessions, mut to_users, mut files) = (0, 0, 0);
        for entry in std::fs::read_dir(stratus).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let (s, u) = attribute_all(&path.display().to_string(), &corpus_records(&path));
            sessions += s;
            to_users += u;
            files += 1;
        }
        assert!(files >= 30, "only {files} Stratus detonation files");
        assert!(
            sessions >= 5,
            "only {sessions} calls made with credentials issued in the same file"
        );
        // Every Stratus session whose issuing call is in its file was opened by the
        // detonating IAM user.
        assert_eq!(to_users, sessions);
        let path = grycap.join("sample-cloudtrail-event.json");
        let records = corpus_records(&path);
        assert!(!records.is_empty());
        attribute_all("grycap", &records);
        // The processing library's records of every identity type.
        if let Some(library) = auditwatch_fixtures::corpus("aws-cloudtrail-processing-library") {
            for file in [
                "SerializerVariousUserIdentityTestFile.json",
                "SerializerTestFile.json",
            ] {
                attribute_all(file, &corpus_records(&library.join(file)));
            }
        }
    }

    #[test]
    fn expiries_are_read_as_cloudtrail_writes_them() {
        // Older records: "Nov 30, 2024, 8:43:17 PM" (UTC); newer: RFC 3339 or epoch ms.
        let at = Some(1_732_999_397_000_000);
        assert_eq!(expiry_us(&json!("Nov 30, 2024, 8:43:17 PM")), at);
        assert_eq!(expiry_us(&json!("2024-11-30T20:43:17Z")), at);
        assert_eq!(expiry_us(&json!(1_732_999_397_000u64)), at);
        assert_eq!(expiry_us(&json!("soon")), None);
    }
}
