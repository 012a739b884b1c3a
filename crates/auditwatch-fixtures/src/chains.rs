//! Hand-written CloudTrail records of role chains, as tests of attribution need them:
//! a call ([`record`]), a role session's `userIdentity` ([`session`]) and the
//! response of a call that issued temporary credentials ([`issue`]).

use serde_json::{Value, json};

/// A record of `name` (an `sts.amazonaws.com` call unless `extra` says otherwise)
/// made by `identity` at `time`, recorded in `account`; `extra`'s fields are added.
pub fn record(
    id: &str,
    time: &str,
    name: &str,
    account: &str,
    identity: Value,
    extra: Value,
) -> Value {
    let mut r = json!({"eventVersion": "1.08", "eventTime": time, "eventID": id,
        "eventName": name, "eventSource": "sts.amazonaws.com", "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.1", "userIdentity": identity,
        "eventType": "AwsApiCall", "recipientAccountId": account});
    if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    r
}

/// The `userIdentity` of a call made in session `name` of `role` in `account` with
/// the temporary key `key`.
pub fn session(account: &str, role: &str, name: &str, key: &str) -> Value {
    json!({"type": "AssumedRole", "accessKeyId": key, "accountId": account,
        "principalId": format!("AROA:{name}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{name}"),
        "sessionContext": {"sessionIssuer": {"type": "Role", "accountId": account,
            "arn": format!("arn:aws:iam::{account}:role/{role}"), "userName": role}}})
}

/// The fields of an `AssumeRole` record that issued `key` for session `name` of
/// `role` in `account`, expiring at `expiration` (as CloudTrail writes it).
pub fn issue(account: &str, role: &str, name: &str, key: &str, expiration: &str) -> Value {
    json!({"responseElements": {"credentials": {"accessKeyId": key,
        "expiration": expiration},
        "assumedRoleUser": {"arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{name}")}}})
}
