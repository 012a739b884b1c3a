//! Users: local (argon2id password, optional TOTP) or signed in through OpenID
//! Connect (identified by issuer + subject), each with a role and either every AWS
//! account or a list of them.

use crate::db::AuthStore;
use crate::error::{AuthError, Result};
use crate::role::Role;
use crate::sql::{Row, vals};
use crate::{now_us, password};

/// A user as stored (never with its secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Sign-in name (for OIDC users, the name shown; identity is issuer + subject).
    pub name: String,
    /// Role.
    pub role: Role,
    /// The AWS accounts the user may see; `None` means all.
    pub accounts: Option<Vec<String>>,
    /// Disabled users cannot sign in, and their sessions and keys stop working.
    pub disabled: bool,
    /// Whether a TOTP second factor is set.
    pub totp: bool,
    /// `(issuer, subject)` for users from an OpenID provider.
    pub oidc: Option<(String, String)>,
    /// When the user was created (µs).
    pub created_at: i64,
}

/// Columns selected for a [`User`], in [`user_from_row`]'s order.
pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.role, u.accounts, u.disabled, u.totp IS NOT NULL, u.oidc_issuer, u.oidc_subject, u.created_at";

pub(crate) fn user_from_row(r: &Row, at: usize) -> Result<User> {
    let role = r.text(at + 2)?;
    let accounts = r.opt_text(at + 3)?;
    let issuer = r.opt_text(at + 6)?;
    let subject = r.opt_text(at + 7)?;
    Ok(User {
        id: r.int(at)?,
        name: r.text(at + 1)?,
        // Only valid roles are ever written; an unknown one gets the least power.
        role: role.parse().unwrap_or(Role::Viewer),
        accounts: accounts.map(|a| split_accounts(&a)),
        disabled: r.bool(at + 4)?,
        totp: r.bool(at + 5)?,
        oidc: issuer.zip(subject),
        created_at: r.int(at + 8)?,
    })
}

fn split_accounts(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks a user name: 1–64 characters from letters, digits and `._@+-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "user name {name:?}: use 1 to 64 letters, digits or . _ @ + -"
        )))
    }
}

/// Parses and checks an account list (`ID,ID`; each a 12-digit AWS account id).
pub fn parse_accounts(s: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for a in s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Invalid(format!(
                "account {a:?}: an AWS account id is 12 digits"
            )));
        }
        out.push(a.to_string());
    }
    if out.is_empty() {
        return Err(AuthError::Invalid(
            "accounts: give at least one 12-digit account id (leave the option out for all accounts)"
                .into(),
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl AuthStore {
    /// How many users exist.
    pub fn user_count(&self) -> Result<u64> {
        let n = self.with(|c| match c.row("SELECT count(*) FROM auth_users", &[])? {
            Some(r) => r.int(0),
            None => Ok(0),
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Adds a local user with `password` (checked against the length rules).
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        accounts: Option<Vec<String>>,
        password: &str,
    ) -> Result<User> {
        check_name(name)?;
        password::check_new(password)?;
        let hash = password::hash(password)?;
        let n = self.with(|c| {
            c.execute(
                "INSERT INTO auth_users(name, role, accounts, password, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO NOTHING",
                vals![name, role.name(), accounts.map(|a| a.join(",")), hash, now_us()],
            )
        })?;
        if n == 0 {
            return Err(AuthError::UserExists(name.into()));
        }
        self.user(name)?
            .ok_or_else(|| AuthError::NoSuchUser(name.into()))
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.with(|c| {
            c.rows(
                &format!("SELECT {USER_COLUMNS} FROM auth_users u ORDER BY u.name"),
                &[],
            )?
            .iter()
            .map(|r| user_from_row(r, 0))
            .collect()
        })
    }

    /// The user called `name`.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.with(|c| {
            c.row(
                &format!("SELECT {USER_COLUMNS} FROM auth_users u WHERE u.name = ?1"),
                vals![name],
            )?
            .map(|r| user_from_row(&r, 0))
            .transpose()
        })
    }

    /// The user with row id `id`.
    pub fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.with(|c| {
            c.row(
                &format!("SELECT {USER_COLUMNS} FROM auth_users u WHERE u.id = ?1"),
                vals![id],
            )?
            .map(|r| user_from_row(&r, 0))
            .transpose()
        })
    }

    fn require(&self, name: &str) -> Result<User> {
        self.user(name)?
            .ok_or_else(|| AuthError::NoSuchUser(name.into()))
    }

    /// Removes a user with its sessions and keys (the audit log keeps its name).
    pub fn remove_user(&self, name: &str) -> Result<()> {
        let n = self.with(|c| c.execute("DELETE FROM auth_users WHERE name = ?1", vals![name]))?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.into()));
        }
        Ok(())
    }

    /// Disables or re-enables a user. Disabling ends its sessions at once.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<User> {
        let u = self.require(name)?;
        self.with(|c| {
            c.execute(
                "UPDATE auth_users SET disabled = ?1 WHERE id = ?2",
                vals![disabled, u.id],
            )?;
            if disabled {
                c.execute("DELETE FROM auth_sessions WHERE user_id = ?1", vals![u.id])?;
            }
            Ok(())
        })?;
        self.require(name)
    }

    /// Sets a new password and ends the user's sessions.
    pub fn set_password(&self, name: &str, new: &str) -> Result<()> {
        password::check_new(new)?;
        let u = self.require(name)?;
        if u.oidc.is_some() {
            return Err(AuthError::Invalid(format!(
                "user {name:?} signs in through OpenID Connect and has no password"
            )));
        }
        let hash = password::hash(new)?;
        self.with(|c| {
            c.execute(
                "UPDATE auth_users SET password = ?1 WHERE id = ?2",
                vals![hash, u.id],
            )?;
            c.execute("DELETE FROM auth_sessions WHERE user_id = ?1", vals![u.id])?;
            Ok(())
        })
    }

    /// Changes a user's role and accounts.
    pub fn set_access(
        &self,
        name: &str,
        role: Role,
        accounts: Option<Vec<String>>,
    ) -> Result<User> {
        let u = self.require(name)?;
        self.with(|c| {
            c.execute(
                "UPDATE auth_users SET role = ?1, accounts = ?2 WHERE id = ?3",
                vals![role.name(), accounts.map(|a| a.join(",")), u.id],
            )
        })?;
        self.require(name)
    }

    /// The enabled local user `name` if `password` is right. Unknown names and OIDC
    /// users take the same time as a wrong password.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row: Option<(i64, Option<String>)> = self.with(|c| {
            c.row(
                "SELECT id, password FROM auth_users WHERE name = ?1",
                vals![name],
            )?
            .map(|r| Ok((r.int(0)?, r.opt_text(1)?)))
            .transpose()
        })?;
        match row {
            Some((id, Some(hash))) => {
                if password::verify(password, &hash) {
                    Ok(self.user_by_id(id)?.filter(|u| !u.disabled))
                } else {
                    Ok(None)
                }
            }
            _ => {
                password::verify_dummy(password);
                Ok(None)
            }
        }
    }

    /// The user for an OpenID identity, created or updated with the role and
    /// accounts the provider's claims map to (the provider is the authority on them).
    pub fn upsert_oidc_user(
        &self,
        issuer: &str,
        subject: &str,
        display: &str,
        role: Role,
        accounts: Option<Vec<String>>,
    ) -> Result<User> {
        let accounts = accounts.map(|a| a.join(","));
        let id = self.with(|c| {
        let existing = c
            .row(
                "SELECT id FROM auth_users WHERE oidc_issuer = ?1 AND oidc_subject = ?2",
                vals![issuer, subject],
            )?
            .map(|r| r.int(0))
            .transpose()?;
        Ok(match existing {
            Some(id) => {
                c.execute(
                    "UPDATE auth_users SET role = ?1, accounts = ?2 WHERE id = ?3",
                    vals![role.name(), accounts.clone(), id],
                )?;
                id
            }
            None => {
                // The shown name must be unique too; fall back to a suffix of the subject.
                let mut name: String = display
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "._@+-".contains(*c))
                    .take(48)
                    .collect();
                if name.is_empty() {
                    name = "oidc".into();
                }
                let taken = c
                    .row("SELECT id FROM auth_users WHERE name = ?1", vals![&name])?
                    .is_some();
                if taken {
                    let tail: String = subject
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .take(12)
                        .collect();
                    name = format!("{name}+{tail}");
                }
                c.insert(
                    "INSERT INTO auth_users(name, role, accounts, oidc_issuer, oidc_subject, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    vals![name, role.name(), accounts.clone(), issuer, subject, now_us()],
                )?
            }
        })
        })?;
        self.user_by_id(id)?
            .ok_or_else(|| AuthError::NoSuchUser(subject.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        assert_eq!(s.user_count().unwrap(), 0);
        let a = s
            .add_user(
                "ana",
                Role::Analyst,
                Some(vec!["111111111111".into()]),
                "a long password",
            )
            .unwrap();
        assert_eq!(a.accounts, Some(vec!["111111111111".to_string()]));
        assert!(matches!(
            s.add_user("ana", Role::Admin, None, "another password"),
            Err(AuthError::UserExists(_))
        ));
        assert!(
            s.check_password("ana", "a long password")
                .unwrap()
                .is_some()
        );
        assert!(s.check_password("ana", "wrong password").unwrap().is_none());
        assert!(
            s.check_password("nobody", "a long password")
                .unwrap()
                .is_none()
        );
        s.set_disabled("ana", true).unwrap();
        assert!(
            s.check_password("ana", "a long password")
                .unwrap()
                .is_none(),
            "disabled"
        );
        s.set_disabled("ana", false).unwrap();
        s.set_password("ana", "a new long password").unwrap();
        assert!(
            s.check_password("ana", "a long password")
                .unwrap()
                .is_none()
        );
        assert!(
            s.check_password("ana", "a new long password")
                .unwrap()
                .is_some()
        );
        s.remove_user("ana").unwrap();
        assert!(matches!(
            s.remove_user("ana"),
            Err(AuthError::NoSuchUser(_))
        ));
    }

    #[test]
    fn input_is_checked() {
        assert!(check_name("alice.smith@example.com").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("<script>").is_err());
        assert_eq!(
            parse_accounts("222222222222, 111111111111,222222222222").unwrap(),
            vec!["111111111111", "222222222222"]
        );
        assert!(parse_accounts("12345").is_err());
        assert!(parse_accounts(",").is_err());
    }

    #[test]
    fn oidc_users_are_keyed_by_issuer_and_subject() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        let u = s
            .upsert_oidc_user(
                "https://idp",
                "sub-1",
                "ana@example.com",
                Role::Viewer,
                None,
            )
            .unwrap();
        let again = s
            .upsert_oidc_user("https://idp", "sub-1", "renamed", Role::Analyst, None)
            .unwrap();
        assert_eq!(u.id, again.id);
        assert_eq!(again.role, Role::Analyst);
        let other = s
            .upsert_oidc_user(
                "https://other-idp",
                "sub-1",
                "ana@example.com",
                Role::Viewer,
                None,
            )
            .unwrap();
        assert_ne!(
            other.id, u.id,
            "same subject at another issuer is another user"
        );
        assert_ne!(other.name, u.name);
        assert!(
            s.check_password(&u.name, "anything at all")
                .unwrap()
                .is_none()
        );
    }
}
