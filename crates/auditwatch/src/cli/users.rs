//! `auditwatch users …`: local users, their roles and accounts, second factors and
//! API keys. Every change is written to the audit log (actor `cli:<OS user>`).
//! Nothing prompts: passwords come from stdin (`--password-stdin`) or are generated
//! and printed once.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use auditwatch_auth::{AuthStore, IssuedToken, NewAudit, Role, TokenKind};
use serde_json::{Map, Value, json};

use super::{Outcome, format_or_default};
use crate::config::Config;
use crate::output::{Format, write_rows};

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UsersCommand {
    /// Add a local user (the password is generated and printed unless given on stdin).
    Add {
        /// Sign-in name (letters, digits, . _ @ + -).
        name: String,
        /// admin, analyst or viewer.
        #[arg(long)]
        role: String,
        /// The AWS account ids the user may see (comma-separated); all when left out.
        #[arg(long)]
        accounts: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Output format.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Remove a user with its sessions and keys.
    Remove {
        /// The user.
        name: String,
    },
    /// Disable a user: sign-in, sessions and keys stop working at once.
    Disable {
        /// The user.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user.
        name: String,
    },
    /// Set a new password (generated and printed unless given on stdin); ends the
    /// user's sessions.
    Passwd {
        /// The user.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set up (or with --off remove) a TOTP second factor; prints the otpauth URL.
    Totp {
        /// The user.
        name: String,
        /// Remove the second factor instead.
        #[arg(long)]
        off: bool,
    },
    /// API keys.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
enum TokensCommand {
    /// Create a key for a user (printed once).
    Create {
        /// The user the key acts as.
        name: String,
        /// An access key pair for the AWS-compatible endpoint instead of a bearer token.
        #[arg(long)]
        aws: bool,
        /// Lifetime, e.g. `30d` or `12h`; never expires when left out.
        #[arg(long)]
        expires: Option<String>,
        /// `json` prints {"token": …} or {"accessKeyId": …, "secretAccessKey": …}.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// List keys (of one user, or all).
    List {
        /// Only this user's.
        name: Option<String>,
        /// Output format.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Revoke a key by its id.
    Revoke {
        /// The key id (`awt_…` or `AWKA…`).
        id: String,
    },
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn audit(auth: &AuthStore, action: &str, target: &str, detail: String) -> Result<()> {
    auth.audit(&NewAudit {
        actor: actor(),
        ip: "local".into(),
        action: action.into(),
        target: target.into(),
        detail,
        outcome: "ok".into(),
    })?;
    Ok(())
}

/// The password from stdin's first line, or a generated one (and whether it was).
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        Ok((pw, false))
    } else {
        Ok((auditwatch_auth::password::generate(), true))
    }
}

/// Parses `30d` / `12h` / `45m` into microseconds.
fn lifetime_us(s: &str) -> Result<i64> {
    let unit = s.chars().last().map(String::from).unwrap_or_default();
    let num = &s[..s.len() - unit.len()];
    let n: i64 = num.parse().ok().filter(|n| *n > 0).with_context(|| {
        format!("--expires {s:?}: expected a positive number followed by d, h or m (30d, 12h)")
    })?;
    let unit_us: i64 = match unit.as_str() {
        "d" => 86_400_000_000,
        "h" => 3_600_000_000,
        "m" => 60_000_000,
        _ => bail!("--expires {s:?}: expected a positive number followed by d, h or m (30d, 12h)"),
    };
    n.checked_mul(unit_us)
        .filter(|us| *us <= 10 * 365 * 86_400_000_000)
        .with_context(|| format!("--expires {s:?}: at most ten years"))
}

fn accounts(a: Option<&str>) -> Result<Option<Vec<String>>> {
    a.map(auditwatch_auth::users::parse_accounts)
        .transpose()
        .map_err(Into::into)
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn run(args: UsersArgs, config: &Config) -> Result<Outcome> {
    let auth = super::open_auth(config)?;
    let mut out = std::io::stdout().lock();
    match args.command {
        UsersCommand::Add {
            name,
            role,
            accounts: acc,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            let acc = accounts(acc.as_deref())?;
            let (pw, generated) = password(password_stdin)?;
            let detail = format!(
                "role={role} accounts={}",
                acc.as_ref().map_or("all".to_string(), |a| a.join(","))
            );
            let u = auth.add_user(&name, role, acc, &pw)?;
            audit(&auth, "user.add", &u.name, detail)?;
            eprintln!("added {} ({})", u.name, u.role);
            if generated {
                writeln!(out, "password: {pw}")?;
            }
        }
        UsersCommand::List { format } => {
            let columns: Vec<String> = ["name", "role", "accounts", "signin", "state", "created"]
                .map(String::from)
                .to_vec();
            let rows: Vec<Map<String, Value>> = auth
                .users()?
                .into_iter()
                .map(|u| {
                    let signin = match &u.oidc {
                        Some((iss, _)) => format!("oidc {iss}"),
                        None if u.totp => "password+totp".into(),
                        None => "password".into(),
                    };
                    let v = json!({
                        "name": u.name, "role": u.role.name(),
                        "accounts": u.accounts.map_or("all".to_string(), |a| a.join(",")),
                        "signin": signin, "state": if u.disabled { "disabled" } else { "active" },
                        "created": time(u.created_at),
                    });
                    v.as_object().cloned().unwrap_or_default()
                })
                .collect();
            write_rows(&mut out, format_or_default(format), &columns, &rows)?;
        }
        UsersCommand::Remove { name } => {
            auth.remove_user(&name)?;
            audit(&auth, "user.remove", &name, String::new())?;
            eprintln!("removed {name}");
        }
        UsersCommand::Disable { name } => {
            auth.set_disabled(&name, true)?;
            audit(&auth, "user.disable", &name, String::new())?;
            eprintln!("disabled {name}");
        }
        UsersCommand::Enable { name } => {
            auth.set_disabled(&name, false)?;
            audit(&auth, "user.enable", &name, String::new())?;
            eprintln!("enabled {name}");
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (pw, generated) = password(password_stdin)?;
            auth.set_password(&name, &pw)?;
            audit(&auth, "user.passwd", &name, String::new())?;
            eprintln!("password of {name} changed; their sessions ended");
            if generated {
                writeln!(out, "password: {pw}")?;
            }
        }
        UsersCommand::Totp { name, off } => {
            if off {
                auth.disable_totp(&name)?;
                audit(&auth, "user.totp", &name, "removed".into())?;
                eprintln!("second factor of {name} removed");
            } else {
                let setup = auth.enable_totp(&name)?;
                audit(&auth, "user.totp", &name, "set".into())?;
                writeln!(out, "secret: {}\nurl: {}", setup.secret_base32, setup.url)?;
                eprintln!(
                    "add the URL (or the secret) to an authenticator app; sign-in now asks for its code"
                );
            }
        }
        UsersCommand::Tokens { command } => match command {
            TokensCommand::Create {
                name,
                aws,
                expires,
                format,
            } => {
                let expires_at = expires
                    .as_deref()
                    .map(lifetime_us)
                    .transpose()?
                    .map(|us| auditwatch_auth::now_us() + us);
                let kind = if aws {
                    TokenKind::Aws
                } else {
                    TokenKind::Bearer
                };
                let t = auth.create_token(&name, kind, expires_at)?;
                audit(
                    &auth,
                    "token.create",
                    t.id(),
                    format!("user={name} kind={}", if aws { "aws" } else { "bearer" }),
                )?;
                let json = matches!(format, Some(Format::Json | Format::Ndjson));
                match (&t, json) {
                    (IssuedToken::Bearer { token, .. }, true) => {
                        writeln!(out, "{}", json!({"token": token}))?
                    }
                    (IssuedToken::Bearer { token, .. }, false) => writeln!(out, "{token}")?,
                    (
                        IssuedToken::Aws {
                            access_key_id,
                            secret_access_key,
                        },
                        true,
                    ) => writeln!(
                        out,
                        "{}",
                        json!({"accessKeyId": access_key_id, "secretAccessKey": secret_access_key})
                    )?,
                    (
                        IssuedToken::Aws {
                            access_key_id,
                            secret_access_key,
                        },
                        false,
                    ) => {
                        writeln!(
                            out,
                            "aws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}"
                        )?;
                    }
                }
                eprintln!(
                    "key {} created for {name}; the secret is shown only now",
                    t.id()
                );
            }
            TokensCommand::List { name, format } => {
                let columns: Vec<String> =
                    ["id", "user", "kind", "created", "expires", "last_used"]
                        .map(String::from)
                        .to_vec();
                let rows: Vec<Map<String, Value>> = auth
                    .tokens(name.as_deref())?
                    .into_iter()
                    .map(|t| {
                        let v = json!({
                            "id": t.id, "user": t.user, "kind": t.kind, "created": time(t.created_at),
                            "expires": t.expires_at.map_or("never".into(), time),
                            "last_used": t.last_used_at.map(time),
                        });
                        v.as_object().cloned().unwrap_or_default()
                    })
                    .collect();
                write_rows(&mut out, format_or_default(format), &columns, &rows)?;
            }
            TokensCommand::Revoke { id } => {
                auth.revoke_token(&id)?;
                audit(&auth, "token.revoke", &id, String::new())?;
                eprintln!("revoked {id}");
            }
        },
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime_us("30d").unwrap(), 30 * 86_400_000_000);
        assert_eq!(lifetime_us("12h").unwrap(), 12 * 3_600_000_000);
        for bad in ["", "d", "0d", "-1d", "5w", "99999d", "3\u{80}", "\u{80}"] {
            assert!(lifetime_us(bad).is_err(), "{bad}");
        }
    }
}
