//! How the generated role sessions were started, so that attribution has chains to
//! follow: every session of the generated roles has one way in, and each issuing call
//! the generator writes (`AssumeRole`, `AssumeRoleWithSAML`,
//! `AssumeRoleWithWebIdentity`) hands out that session's key with the same caller
//! every time.
//!
//! - `AdminRole`: IAM users (`alice@example.com` is assumed by the user alice);
//! - `DeveloperRole` and two `ReadOnlyRole` sessions: subjects of a SAML provider;
//! - `ReadOnlyRole/auditor`: assumed from alice's `AdminRole` session into the next
//!   account (a chain across accounts, to alice);
//! - `LambdaExecutionRole`: the Lambda service, except `nightly-report`, a CI workload
//!   through GitHub's OIDC provider (web identity);
//! - `EKSNodeRole`: EC2;
//! - `DeveloperRole/erin@example.com`: its start is never written (as if it came before
//!   the logs kept), so its calls stay unresolved;
//! - `AWSReservedSSO_AdministratorAccess_…`: an IAM Identity Center permission set;
//!   its sessions are named after the users and their credentials come from the
//!   access portal, so no issuing call is written in the member accounts (the
//!   origin is the Identity Center user the session names);
//! - `DeployRole`: `ivan-deploy` and `judy-deploy` assumed from those Identity Center
//!   sessions into the next account, `carol-deploy` from carol's SAML
//!   `DeveloperRole` session (a federated user chaining roles).
//!
//! Keys differ per account, as real sessions' do.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{ACCOUNTS, ROLES, fnv, role_identity};

/// One issuing call, ready to write.
pub(super) struct Issue {
    pub call: &'static str,
    pub identity: String,
    pub request: String,
    pub response: String,
    pub resources: String,
}

/// The session name whose start is never written (unresolved on purpose).
const NEVER_STARTED: &str = "erin@example.com";

/// The generated Identity Center permission set's role.
const IDENTITY_CENTER_ROLE: &str = "AWSReservedSSO_AdministratorAccess_5f2e1c9a7b3d4e60";

fn is_identity_center(role: &str) -> bool {
    role.starts_with("AWSReservedSSO_")
}

/// The path of `role`'s ARN before its name: Identity Center's roles live under
/// `aws-reserved/sso.amazonaws.com/`.
pub(super) fn role_path(role: &str) -> &'static str {
    if is_identity_center(role) {
        "aws-reserved/sso.amazonaws.com/"
    } else {
        ""
    }
}

/// The temporary key of a generated session in `account`.
pub(super) fn session_key(account: &str, session: &str) -> String {
    let id = fnv(&format!("{account}/{session}")) % 10_000_000_000_000_000;
    format!("ASIA{id:016}")
}

fn iam_user(account: &str, user: &str) -> String {
    format!(
        r#"{{"type":"IAMUser","principalId":"AIDA{p:016}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"AKIA{p:016}","userName":"{user}"}}"#,
        p = fnv(user) % 10_000_000_000_000_000
    )
}

/// The next generated account after `account` (the role's account of a chain).
fn next_account(account: &str) -> &'static str {
    let at = ACCOUNTS
        .iter()
        .position(|(a, _)| *a == account)
        .unwrap_or(0);
    ACCOUNTS[(at + 1) % ACCOUNTS.len()].0
}

/// Every session that has an issuing call, as (role, session name).
pub(super) fn started() -> Vec<(&'static str, &'static str)> {
    ROLES
        .iter()
        .flat_map(|(r, ss)| ss.iter().map(move |s| (*r, *s)))
        .filter(|(r, s)| *s != NEVER_STARTED && !is_identity_center(r))
        .collect()
}

/// Which started sessions ([`started`]) each file issues first: an account's
/// sessions are spread over that account's files (`accounts`: each file's
/// account), so that every session of an account with files has its issuing call
/// whatever the random calls pick.
pub(super) fn assigned(accounts: &[&str]) -> Vec<Vec<usize>> {
    let n = started().len();
    let mut out = vec![Vec::new(); accounts.len()];
    for (account, _) in ACCOUNTS {
        let files: Vec<usize> = (0..accounts.len())
            .filter(|&f| accounts[f] == account)
            .collect();
        for j in 0..n {
            if !files.is_empty() {
                out[files[j % files.len()]].push(j);
            }
        }
    }
    out
}

/// An issuing call made in `account` at `time` for started session number
/// `which`, or one picked by `rng`.
pub(super) fn issue(
    rng: &mut ChaCha8Rng,
    account: &str,
    time: &str,
    which: Option<usize>,
) -> Issue {
    let started = started();
    let at = which.unwrap_or_else(|| rng.random_range(0..started.len()));
    let (role, session) = started[at % started.len()];
    let saml_provider = format!("arn:aws:iam::{account}:saml-provider/CorpIdP");
    let oidc_provider =
        format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com");
    let service = |name: &str| format!(r#"{{"type":"AWSService","invokedBy":"{name}"}}"#);
    // (call, caller, the role's account, extra response fields)
    let (call, identity, role_account, extra): (&str, String, &str, String) = match (role, session)
    {
        ("AdminRole", "break-glass") => (
            "AssumeRole",
            iam_user(account, "trent"),
            account,
            String::new(),
        ),
        ("AdminRole", s) => {
            let user = s.split('@').next().unwrap_or(s);
            (
                "AssumeRole",
                iam_user(account, user),
                account,
                String::new(),
            )
        }
        ("DeployRole", "carol-deploy") => (
            "AssumeRole",
            role_identity(account, "DeveloperRole", "carol@example.com"),
            account,
            String::new(),
        ),
        ("DeployRole", s) => {
            let user = s.strip_suffix("-deploy").unwrap_or(s);
            (
                "AssumeRole",
                role_identity(
                    account,
                    IDENTITY_CENTER_ROLE,
                    &format!("{user}@example.com"),
                ),
                next_account(account),
                String::new(),
            )
        }
        ("ReadOnlyRole", "auditor") => (
            "AssumeRole",
            role_identity(account, "AdminRole", "alice@example.com"),
            next_account(account),
            String::new(),
        ),
        ("DeveloperRole" | "ReadOnlyRole", subject) => (
            "AssumeRoleWithSAML",
            format!(
                r#"{{"type":"SAMLUser","principalId":"CorpIdP:{subject}","userName":"{subject}","identityProvider":"{saml_provider}"}}"#
            ),
            account,
            format!(
                r#","subject":"{subject}","subjectType":"persistent","issuer":"https://idp.example.com/saml","audience":"https://signin.aws.amazon.com/saml","nameQualifier":"b3BlbmlkcA==""#
            ),
        ),
        ("LambdaExecutionRole", "nightly-report") => {
            let subject = "repo:example/reports:ref:refs/heads/main";
            (
                "AssumeRoleWithWebIdentity",
                format!(
                    r#"{{"type":"WebIdentityUser","principalId":"{oidc_provider}:sts.amazonaws.com:{subject}","userName":"{subject}","identityProvider":"{oidc_provider}"}}"#
                ),
                account,
                format!(
                    r#","subjectFromWebIdentityToken":"{subject}","provider":"{oidc_provider}","audience":"sts.amazonaws.com""#
                ),
            )
        }
        ("LambdaExecutionRole", _) => (
            "AssumeRole",
            service("lambda.amazonaws.com"),
            account,
            String::new(),
        ),
        _ => (
            "AssumeRole",
            service("ec2.amazonaws.com"),
            account,
            String::new(),
        ),
    };
    let role_arn = format!("arn:aws:iam::{role_account}:role/{role}");
    let expires = DateTime::parse_from_rfc3339(time)
        .map(|t| t.with_timezone(&Utc) + Duration::hours(1))
        .unwrap_or_else(|_| Utc::now())
        .format("%b %-d, %Y, %-I:%M:%S %p");
    let response = format!(
        r#"{{"credentials":{{"accessKeyId":"{key}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE{n:016}","expiration":"{expires}"}},"assumedRoleUser":{{"assumedRoleId":"AROA{r:016}:{session}","arn":"arn:aws:sts::{role_account}:assumed-role/{role}/{session}"}}{extra}}}"#,
        key = session_key(role_account, session),
        n = rng.random::<u64>() % 10_000_000_000_000_000,
        r = fnv(role) % 10_000_000_000_000_000,
    );
    Issue {
        call,
        identity,
        request: format!(
            r#"{{"roleArn":"{role_arn}","roleSessionName":"{session}","durationSeconds":3600}}"#
        ),
        response,
        resources: format!(
            r#"[{{"accountId":"{role_account}","type":"AWS::IAM::Role","ARN":"{role_arn}"}}]"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use auditwatch_event::Record;
    use auditwatch_event::identity::{Origin, Principal, attribute, caller, issued};

    use super::super::{Spec, generate};

    /// Every role session of a generated week resolves to its origin through the
    /// issuing calls written with it, except the one whose start is left out.
    #[test]
    fn generated_sessions_resolve_through_their_issuing_calls() {
        let dir = tempfile::tempdir().unwrap();
        generate(&Spec {
            file_span_seconds: None,
            out: dir.path().to_path_buf(),
            events: 20_000,
            seed: 3,
            end: chrono::DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
            days: 7,
        })
        .unwrap();
        let mut texts = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    let bytes = std::fs::read(e.path()).unwrap();
                    let doc = auditwatch_event::decode::decode(&bytes, 1 << 30).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
                    for r in v["Records"].as_array().unwrap() {
                        texts.push(r.to_string());
                    }
                }
            }
        }
        let records: Vec<Record<'_>> = texts.iter().map(|t| Record::parse(t).unwrap()).collect();
        let mut index = HashMap::new();
        for r in &records {
            if let Some(i) = issued(r) {
                index.entry(i.access_key_id.clone()).or_insert(i);
            }
        }
        let mut kinds: HashMap<String, usize> = HashMap::new();
        let mut roles = std::collections::BTreeSet::new();
        let mut crossed = 0;
        let mut chained_from = std::collections::BTreeSet::new();
        for r in &records {
            let who = caller(&r.fields);
            let Principal::Session { session_arn, .. } = &who else {
                continue;
            };
            if let Some(role) = auditwatch_event::identity::role_name(session_arn) {
                roles.insert(role.to_string());
            }
            let a = attribute(&who, |k| index.get(k).cloned());
            match &a.origin {
                Origin::Unresolved { .. } => {
                    assert!(
                        session_arn.ends_with("/erin@example.com"),
                        "{session_arn}: {a:?}"
                    );
                    *kinds.entry("Unresolved".into()).or_default() += 1;
                }
                o => {
                    assert!(!session_arn.ends_with("/erin@example.com"), "{session_arn}");
                    *kinds.entry(o.kind().into()).or_default() += 1;
                }
            }
            if session_arn.ends_with("/auditor") {
                assert_eq!(a.chain.len(), 2, "{a:?}");
                assert!(a.origin.matches("alice"), "{a:?}");
                crossed += 1;
            }
            // An Identity Center user's session assumed a role in the next account.
            if session_arn.ends_with("/DeployRole/ivan-deploy") {
                assert_eq!(a.chain.len(), 1, "{a:?}");
                assert_eq!(
                    (a.origin.kind(), a.origin.name()),
                    ("IdentityCenterUser", "ivan@example.com")
                );
                let issued_in = a.chain[0].account.as_deref();
                assert_ne!(issued_in, session_arn.split(':').nth(4), "{a:?}");
                chained_from.insert("IdentityCenterUser");
            }
            // A SAML subject's session assumed another role.
            if session_arn.ends_with("/DeployRole/carol-deploy") {
                assert_eq!(a.chain.len(), 2, "{a:?}");
                assert_eq!(
                    (a.origin.kind(), a.origin.name()),
                    ("SAMLUser", "carol@example.com")
                );
                chained_from.insert("SAMLUser");
            }
        }
        for kind in [
            "IAMUser",
            "IdentityCenterUser",
            "SAMLUser",
            "WebIdentityUser",
            "AWSService",
            "Unresolved",
        ] {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) > 0,
                "no {kind} origin: {kinds:?}"
            );
        }
        assert!(crossed > 0, "no call through the chain across accounts");
        // Every generated role acts (the last of the list included).
        let all: std::collections::BTreeSet<String> = super::super::ROLES
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        assert_eq!(roles, all);
        assert_eq!(
            chained_from.into_iter().collect::<Vec<_>>(),
            ["IdentityCenterUser", "SAMLUser"]
        );
    }
}
