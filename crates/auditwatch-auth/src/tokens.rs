//! API keys for programs. Each belongs to a user and acts with that user's role and
//! accounts (so disabling the user stops its keys), may expire, and is shown once.
//!
//! - Bearer tokens `awt_<id>_<secret>` for `/api/v1` and `/tracker`; only a SHA-256
//!   of the secret is stored.
//! - AWS-style pairs (access key id `AWKA…`, 40-character secret) for the
//!   CloudTrail-compatible endpoint, verified with Signature V4. Verifying needs the
//!   secret itself, so it is stored sealed (see the crate docs).

use subtle::ConstantTimeEq;

use crate::db::AuthStore;
use crate::error::{AuthError, Result};
use crate::sql::vals;
use crate::users::{USER_COLUMNS, User, user_from_row};
use crate::{now_us, random};

/// The kind of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `Authorization: Bearer awt_…`.
    Bearer,
    /// Access key id + secret, AWS Signature V4.
    Aws,
}

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            TokenKind::Bearer => "bearer",
            TokenKind::Aws => "aws",
        }
    }
}

/// A key just created: the only time its secret is seen.
#[derive(Debug, Clone)]
pub enum IssuedToken {
    /// A bearer token.
    Bearer {
        /// The public id (what `tokens list` shows and `revoke` takes).
        id: String,
        /// The whole token to send.
        token: String,
    },
    /// An access key pair.
    Aws {
        /// The access key id (public).
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
    },
}

impl IssuedToken {
    /// The public id.
    pub fn id(&self) -> &str {
        match self {
            IssuedToken::Bearer { id, .. } => id,
            IssuedToken::Aws { access_key_id, .. } => access_key_id,
        }
    }
}

/// A key as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Owner.
    pub user: String,
    /// `bearer` or `aws`.
    pub kind: String,
    /// Created (µs).
    pub created_at: i64,
    /// Expires (µs), if ever.
    pub expires_at: Option<i64>,
    /// Last used (µs, to the minute).
    pub last_used_at: Option<i64>,
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";

/// How often `last_used_at` is written at most (µs): once a minute.
const TOUCH_EVERY_US: i64 = 60_000_000;

impl AuthStore {
    /// Creates a key for `user`, valid until `expires_at` (µs) if given.
    pub fn create_token(
        &self,
        user: &str,
        kind: TokenKind,
        expires_at: Option<i64>,
    ) -> Result<IssuedToken> {
        let u = self
            .user(user)?
            .ok_or_else(|| AuthError::NoSuchUser(user.into()))?;
        if expires_at.is_some_and(|e| e <= now_us()) {
            return Err(AuthError::Invalid("expiry: must be in the future".into()));
        }
        let (issued, hash, sealed) = match kind {
            TokenKind::Bearer => {
                let id = format!("awt_{}", hex::encode(random::bytes::<8>()));
                let secret = random::token();
                let token = format!("{id}_{secret}");
                (
                    IssuedToken::Bearer { id, token },
                    Some(random::digest(&secret)),
                    None,
                )
            }
            TokenKind::Aws => {
                let id = format!("AWKA{}", random::from_alphabet(BASE32, 16));
                let secret = random::from_alphabet(SECRET, 40);
                let sealed = self.sealer().seal(secret.as_bytes())?;
                (
                    IssuedToken::Aws {
                        access_key_id: id,
                        secret_access_key: secret,
                    },
                    None,
                    Some(sealed),
                )
            }
        };
        self.with(|c| {
            c.execute(
                "INSERT INTO auth_tokens(id, user_id, kind, secret_hash, sealed_secret, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vals![issued.id(), u.id, kind.name(), hash, sealed, now_us(), expires_at],
            )
        })?;
        Ok(issued)
    }

    /// Keys, of one user or of all.
    pub fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        self.with(|c| {
            c.rows(
                "SELECT t.id, u.name, t.kind, t.created_at, t.expires_at, t.last_used_at
                 FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id
                 WHERE CAST(?1 AS TEXT) IS NULL OR u.name = ?1 ORDER BY u.name, t.created_at",
                vals![user],
            )?
            .iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.text(0)?,
                    user: r.text(1)?,
                    kind: r.text(2)?,
                    created_at: r.int(3)?,
                    expires_at: r.opt_int(4)?,
                    last_used_at: r.opt_int(5)?,
                })
            })
            .collect()
        })
    }

    /// Revokes a key; it stops working at once.
    pub fn revoke_token(&self, id: &str) -> Result<()> {
        let n = self.with(|c| c.execute("DELETE FROM auth_tokens WHERE id = ?1", vals![id]))?;
        if n == 0 {
            return Err(AuthError::NoSuchToken(id.into()));
        }
        Ok(())
    }

    /// The owner of a valid, unexpired bearer token whose user is enabled.
    pub fn check_bearer(&self, token: &str) -> Result<Option<User>> {
        let Some((id, secret)) = token
            .strip_prefix("awt_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, secret)| (format!("awt_{id}"), secret))
        else {
            return Ok(None);
        };
        let Some((user, hash)) = self.live_token(&id, "bearer")? else {
            random::digest(secret);
            return Ok(None);
        };
        let given = random::digest(secret);
        let Some(hash) = hash else { return Ok(None) };
        if bool::from(given.ct_eq(&hash)) {
            Ok(Some(user))
        } else {
            Ok(None)
        }
    }

    /// The owner and secret of a valid, unexpired access key whose user is enabled.
    pub fn aws_key(&self, access_key_id: &str) -> Result<Option<(User, String)>> {
        let Some((user, Some(sealed))) = self.live_token(access_key_id, "aws")? else {
            return Ok(None);
        };
        let secret = String::from_utf8(self.sealer().open(&sealed)?)
            .map_err(|_| AuthError::Sealed("not text".into()))?;
        Ok(Some((user, secret)))
    }

    /// The enabled owner of an unexpired key and what is stored of its secret (the
    /// hash of a bearer token, the sealed secret of an access key); notes the use.
    fn live_token(&self, id: &str, kind: &str) -> Result<Option<(User, Option<Vec<u8>>)>> {
        let now = now_us();
        self.with(|c| {
            let row = c.row(
                &format!(
                    "SELECT {USER_COLUMNS}, coalesce(t.secret_hash, t.sealed_secret), t.last_used_at FROM auth_tokens t
                     JOIN auth_users u ON u.id = t.user_id
                     WHERE t.id = ?1 AND t.kind = ?2 AND u.disabled = 0
                       AND (t.expires_at IS NULL OR t.expires_at > ?3)"
                ),
                vals![id, kind, now],
            )?;
            let Some(r) = row else {
                return Ok(None);
            };
            let (user, hash, last) = (user_from_row(&r, 0)?, r.opt_blob(9)?, r.opt_int(10)?);
            if last.is_none_or(|l| now - l > TOUCH_EVERY_US) {
                c.execute(
                    "UPDATE auth_tokens SET last_used_at = ?1 WHERE id = ?2",
                    vals![now, id],
                )?;
            }
            Ok(Some((user, hash)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn store() -> (tempfile::TempDir, AuthStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        s.add_user("bot", Role::Analyst, None, "a long password")
            .unwrap();
        (dir, s)
    }

    #[test]
    fn bearer_tokens() {
        let (_d, s) = store();
        let IssuedToken::Bearer { id, token } =
            s.create_token("bot", TokenKind::Bearer, None).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.check_bearer(&token).unwrap().unwrap().name, "bot");
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push('!');
        assert!(s.check_bearer(&wrong).unwrap().is_none());
        assert!(s.check_bearer("awt_nothing").unwrap().is_none());
        assert_eq!(s.tokens(Some("bot")).unwrap().len(), 1);
        s.set_disabled("bot", true).unwrap();
        assert!(s.check_bearer(&token).unwrap().is_none(), "disabled owner");
        s.set_disabled("bot", false).unwrap();
        s.revoke_token(&id).unwrap();
        assert!(s.check_bearer(&token).unwrap().is_none(), "revoked");
        assert!(s.revoke_token(&id).is_err());
    }

    #[test]
    fn aws_keys_and_expiry() {
        let (_d, s) = store();
        let IssuedToken::Aws {
            access_key_id,
            secret_access_key,
        } = s.create_token("bot", TokenKind::Aws, None).unwrap()
        else {
            panic!()
        };
        assert_eq!(access_key_id.len(), 20);
        assert_eq!(secret_access_key.len(), 40);
        let (u, secret) = s.aws_key(&access_key_id).unwrap().unwrap();
        assert_eq!(
            (u.name.as_str(), secret.as_str()),
            ("bot", secret_access_key.as_str())
        );
        assert!(s.aws_key("AWKANOTAKEY000000000").unwrap().is_none());
        assert!(
            s.create_token("bot", TokenKind::Bearer, Some(1)).is_err(),
            "past expiry"
        );
        let soon = now_us() + 1_000_000;
        let IssuedToken::Bearer { token, .. } = s
            .create_token("bot", TokenKind::Bearer, Some(soon))
            .unwrap()
        else {
            panic!()
        };
        assert!(s.check_bearer(&token).unwrap().is_some());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(s.check_bearer(&token).unwrap().is_none(), "expired");
    }
}
