//! Contact-form messages e-mailed to every SMTP channel (the administrators' mail):
//! tracked per message and channel, retried after a failure, `Message-ID`
//! `auditwatch-feedback-<id>-<channel>` so a repeat after a crash can be recognised,
//! `Reply-To` the sender's contact when it is an address. Messages older than a
//! week are not mailed: a channel configured later floods no one with the backlog.

use std::sync::Arc;
use std::time::Duration;

use auditwatch_detect::Library;
use auditwatch_detect::config::Channel;
use auditwatch_detect::notify::email;
use tokio::sync::watch;

use super::messages::Messages;

/// How often the due messages are looked for.
const TICK: Duration = Duration::from_secs(5);
/// Messages older than this are not mailed.
const MAX_AGE_SECS: i64 = 7 * 86_400;
/// The wait before a failed message is tried again.
const RETRY_SECS: i64 = 60;

/// Mails the due messages every few seconds until `shutdown`.
pub async fn run(messages: Messages, library: Arc<Library>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = round(&messages, &library, chrono::Utc::now().timestamp()).await {
            tracing::warn!(error = %e, "e-mailing contact messages failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// E-mails the messages due at `now` (seconds) to every SMTP channel; returns how
/// many were delivered.
async fn round(messages: &Messages, library: &Library, now: i64) -> Result<u64, String> {
    let defs = library.current();
    let mut sent = 0;
    for channel in defs
        .channels
        .iter()
        .filter(|c| matches!(c, Channel::Smtp { .. }))
    {
        let name = channel.name();
        let since = (now - MAX_AGE_SECS) * 1_000_000;
        let due = {
            let (m, n) = (messages.clone(), name.to_string());
            tokio::task::spawn_blocking(move || m.to_mail(&n, since, now, 20))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        for f in due {
            let subject = format!("[Auditwatch] Contact form: a message from {}", f.sender);
            let mut body = format!(
                "{} wrote on {} through the Contact form:\n\n{}\n\nContact: {}\n",
                f.sender,
                time(f.at),
                f.text,
                if f.contact.is_empty() {
                    "(none given)"
                } else {
                    &f.contact
                }
            );
            if let Some(b) = &defs.base_url {
                body.push_str(&format!("All messages: {b}/api/v1/feedback\n"));
            }
            let key = format!("auditwatch-feedback-{}-{name}", f.id);
            let reply_to = f.contact.contains('@').then_some(f.contact.as_str());
            let outcome = email(channel, subject, body, &key, reply_to).await;
            let (error, next_at) = match &outcome {
                Ok(()) => (None, now),
                Err(e) => {
                    tracing::warn!(channel = %name, feedback = f.id, "contact e-mail failed: {e}");
                    (Some(e.to_string()), now + RETRY_SECS)
                }
            };
            let (m, n, id) = (messages.clone(), name.to_string(), f.id);
            tokio::task::spawn_blocking(move || m.mailed(id, &n, error.as_deref(), next_at))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            sent += u64::from(outcome.is_ok());
        }
    }
    Ok(sent)
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
