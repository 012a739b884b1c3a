//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew),
//! as authenticator apps expect. The seed (160 bits) is stored sealed, and each code
//! works once: the last time step used is recorded, so a code seen over a shoulder or
//! in a proxy log cannot be replayed.

use totp_rs::{Algorithm, TOTP};

use crate::db::AuthStore;
use crate::error::{AuthError, Result};
use crate::sql::vals;

/// What a user needs to set up an authenticator app.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// The seed in base32 (typed by hand).
    pub secret_base32: String,
    /// The `otpauth://` URL (a QR code of it is what apps scan).
    pub url: String,
}

fn totp(seed: Vec<u8>, account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        seed,
        Some("Auditwatch".into()),
        account.to_string(),
    )
    .map_err(|e| AuthError::Invalid(format!("TOTP: {e}")))
}

/// The code for `seed` at `unix_seconds` (for tests and tools).
pub fn code_at(seed: &[u8], unix_seconds: u64) -> Result<String> {
    Ok(totp(seed.to_vec(), "x")?.generate(unix_seconds))
}

impl AuthStore {
    /// Gives `name` a new TOTP seed (replacing any) and returns how to set it up.
    pub fn enable_totp(&self, name: &str) -> Result<TotpSetup> {
        let u = self
            .user(name)?
            .ok_or_else(|| AuthError::NoSuchUser(name.into()))?;
        let seed = crate::random::bytes::<20>().to_vec();
        // Account names in otpauth URLs may not hold ':'; user names cannot.
        let t = totp(seed.clone(), &u.name)?;
        let sealed = self.sealer().seal(&seed)?;
        self.with(|c| {
            c.execute(
                "UPDATE auth_users SET totp = ?1, totp_last_step = NULL WHERE id = ?2",
                vals![sealed, u.id],
            )
        })?;
        Ok(TotpSetup {
            secret_base32: t.get_secret_base32(),
            url: t.get_url(),
        })
    }

    /// Removes the second factor of `name`.
    pub fn disable_totp(&self, name: &str) -> Result<()> {
        let n = self.with(|c| {
            c.execute(
                "UPDATE auth_users SET totp = NULL WHERE name = ?1",
                vals![name],
            )
        })?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.into()));
        }
        Ok(())
    }

    /// The raw seed of a user's second factor (for tests and tooling that must
    /// compute codes; never shown in the UI).
    pub fn totp_seed(&self, user_id: i64) -> Result<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = self.with(|c| {
            Ok(
                match c.row("SELECT totp FROM auth_users WHERE id = ?1", vals![user_id])? {
                    Some(r) => r.opt_blob(0)?,
                    None => None,
                },
            )
        })?;
        sealed.map(|s| self.sealer().open(&s)).transpose()
    }

    /// Whether `code` is the user's current TOTP code (±30 s) and was not used before.
    pub fn check_totp(&self, user_id: i64, code: &str) -> Result<bool> {
        let Some(seed) = self.totp_seed(user_id)? else {
            return Ok(false);
        };
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(false);
        }
        let t = totp(seed, "x")?;
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let step = i64::try_from(now / 30).unwrap_or(0);
        for candidate in [step - 1, step, step + 1] {
            let at = u64::try_from(candidate * 30).unwrap_or(0);
            if crate::same_secret(&t.generate(at), code) {
                // Used once: the step is recorded only if no later or equal one was,
                // in one statement, so two nodes given the same code cannot both
                // accept it.
                let fresh = self.with(|c| {
                    c.execute(
                        "UPDATE auth_users SET totp_last_step = ?1
                         WHERE id = ?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)",
                        vals![candidate, user_id],
                    )
                })?;
                return Ok(fresh == 1);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn totp_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        let u = s
            .add_user("ana", Role::Admin, None, "a long password")
            .unwrap();
        assert!(!s.check_totp(u.id, "000000").unwrap(), "no factor set");
        let setup = s.enable_totp("ana").unwrap();
        assert!(
            setup.url.starts_with("otpauth://totp/Auditwatch:ana?"),
            "{}",
            setup.url
        );
        let seed = s.totp_seed(u.id).unwrap().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = code_at(&seed, now).unwrap();
        assert!(s.check_totp(u.id, &code).unwrap());
        assert!(!s.check_totp(u.id, &code).unwrap(), "a code works once");
        let stale = code_at(&seed, now - 300).unwrap();
        assert!(!s.check_totp(u.id, &stale).unwrap());
        assert!(!s.check_totp(u.id, "12345").unwrap());
        assert!(s.user("ana").unwrap().unwrap().totp);
        s.disable_totp("ana").unwrap();
        assert!(!s.user("ana").unwrap().unwrap().totp);
    }
}
