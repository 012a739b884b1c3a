//! Several nodes sharing a catalog in PostgreSQL (`[catalog] url`) share their users,
//! keys, sessions and audit log, so any node behind a load balancer answers any
//! request; a node without the shared sealing key is refused. Against a real
//! PostgreSQL started on loopback (skipped, saying so, when it is not installed).

use std::path::Path;

use auditwatch_auth::{
    AuditFilter, AuthStore, IssuedToken, NewAudit, Role, SessionPolicy, TokenKind,
};
use auditwatch_store::testing::postgres;

fn node(dir: &Path, url: &str) -> auditwatch_auth::Result<AuthStore> {
    AuthStore::open_shared(dir, url, "the test catalog", None)
}

#[test]
fn nodes_of_a_shared_catalog_share_users_keys_sessions_and_the_audit_log() {
    let Some(pg) = postgres() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = node(&a_dir, &pg.url).unwrap();

    // A node whose auth.key is its own cannot open the secrets sealed by the others:
    // refused, naming the file to copy.
    let e = node(&b_dir, &pg.url).unwrap_err().to_string();
    assert!(e.contains("auth.key") && e.contains("copy"), "{e}");
    std::fs::copy(a_dir.join("auth.key"), b_dir.join("auth.key")).unwrap();
    let b = node(&b_dir, &pg.url).unwrap();

    // A user added on one node signs in on the other.
    let ana = a
        .add_user(
            "ana",
            Role::Analyst,
            Some(vec!["111111111111".into()]),
            "a long password",
        )
        .unwrap();
    let on_b = b.check_password("ana", "a long password").unwrap().unwrap();
    assert_eq!(
        (on_b.id, on_b.accounts.clone()),
        (ana.id, ana.accounts.clone())
    );
    assert!(b.check_password("ana", "wrong password").unwrap().is_none());
    assert!(matches!(
        b.add_user("ana", Role::Viewer, None, "another long password"),
        Err(auditwatch_auth::AuthError::UserExists(_))
    ));

    // A session started on one node is live on the other, and ends on both.
    let policy = SessionPolicy::default();
    let s = a.create_session(&ana, "127.0.0.1").unwrap();
    let live = b.session(&s.id, policy).unwrap().unwrap();
    assert_eq!(
        (live.user.name.as_str(), live.csrf.as_str()),
        ("ana", s.csrf.as_str())
    );
    b.end_session(&s.id).unwrap();
    assert!(a.session(&s.id, policy).unwrap().is_none());

    // Keys: a bearer token and an access key pair (its secret sealed) from node a work
    // on node b.
    let IssuedToken::Bearer { token, .. } = a.create_token("ana", TokenKind::Bearer, None).unwrap()
    else {
        panic!("a bearer token");
    };
    assert_eq!(b.check_bearer(&token).unwrap().unwrap().name, "ana");
    let IssuedToken::Aws {
        access_key_id,
        secret_access_key,
    } = a.create_token("ana", TokenKind::Aws, None).unwrap()
    else {
        panic!("an access key");
    };
    let (owner, secret) = b.aws_key(&access_key_id).unwrap().unwrap();
    assert_eq!((owner.name.as_str(), secret), ("ana", secret_access_key));
    assert_eq!(b.tokens(Some("ana")).unwrap().len(), 2);

    // Disabling the user on one node stops its keys on the other.
    b.set_disabled("ana", true).unwrap();
    assert!(a.check_bearer(&token).unwrap().is_none());
    assert!(a.aws_key(&access_key_id).unwrap().is_none());

    // One audit log, filtered alike on every node.
    a.audit(&NewAudit {
        actor: "ana".into(),
        ip: "127.0.0.1".into(),
        action: "user.add".into(),
        target: "bo".into(),
        detail: "from node a".into(),
        outcome: "ok".into(),
    })
    .unwrap();
    let seen = b
        .audit_log(&AuditFilter {
            action: Some("user.".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].detail, "from node a");
    assert_eq!(a.user_count().unwrap(), 1);
}
