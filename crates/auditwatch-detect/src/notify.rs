//! The outbox sender. Each alert has one outbox row per channel, written with the
//! alert; this sends the rows that are due and marks them sent, or records the error
//! and retries later (30 s, doubling, at most hourly). A crash between delivery and
//! the mark sends a message twice at most; every message carries its idempotency key
//! (`Idempotency-Key` header, e-mail `Message-ID`, SNS message attribute) so that
//! receivers can drop the repeat.
//!
//! [`email`] sends one message through an SMTP channel, for the server's Contact
//! form, whose messages go to every SMTP channel (the administrators' mail).

use std::time::Duration;

use crate::state::{Alert, OutboxItem};
use auditwatch_store::{Scope, Store};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::config::Channel;
use crate::{Definitions, DetectError};

/// A notification, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// The alert's page, when the base URL is known.
    pub link: Option<String>,
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Subject and body of an alert's notification.
pub fn render(alert: &Alert, base_url: Option<&str>) -> Rendered {
    let subject = if alert.kind == "alarm" {
        format!("[Auditwatch] ALARM: {} ({})", alert.title, alert.rule)
    } else {
        format!(
            "[Auditwatch] {}: {} ({})",
            alert.level, alert.title, alert.rule
        )
    };
    let link = base_url.map(|b| format!("{b}/alerts/{}", alert.id));
    let mut body = format!(
        "{}\n\nRule: {} ({}, level {})\nAccounts: {}\nMatches: {} between {} and {}\n",
        alert.reason,
        alert.rule,
        alert.kind,
        alert.level,
        if alert.accounts.is_empty() {
            "(none named)".to_string()
        } else {
            alert.accounts.join(", ")
        },
        alert.count,
        time(alert.first_seen),
        time(alert.last_seen),
    );
    if let Some(a) = &alert.author {
        body.push_str(&format!("Rule author: {a}\n"));
    }
    if let Some(l) = &link {
        body.push_str(&format!("\nAlert: {l}\n"));
    }
    if !alert.events.is_empty() {
        body.push_str("\nEvents:\n");
        for e in alert.events.iter().take(20) {
            match base_url {
                Some(b) => body.push_str(&format!("  {b}/events/{e}\n")),
                None => body.push_str(&format!("  {e}\n")),
            }
        }
    }
    Rendered {
        subject,
        body,
        link,
    }
}

fn fail(channel: &Channel, message: impl ToString) -> DetectError {
    DetectError::Notify {
        channel: channel.name().to_string(),
        message: message.to_string(),
    }
}

/// Delivers one notification.
pub async fn send(
    channel: &Channel,
    alert: &Alert,
    key: &str,
    base_url: Option<&str>,
) -> Result<(), DetectError> {
    let r = render(alert, base_url);
    match channel {
        Channel::Webhook { url, slack, .. } => {
            let doc = if *slack {
                json!({"text": format!("*{}*\n{}", r.subject, r.body)})
            } else {
                json!({"idempotency_key": key, "subject": r.subject, "text": r.body,
                       "link": r.link, "alert": alert})
            };
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .map_err(|e| fail(channel, e))?;
            let resp = client
                .post(url)
                .header("Idempotency-Key", key)
                .json(&doc)
                .send()
                .await
                .map_err(|e| fail(channel, e))?;
            if !resp.status().is_success() {
                return Err(fail(channel, format!("HTTP {}", resp.status())));
            }
            Ok(())
        }
        Channel::Smtp { .. } => email(channel, r.subject, r.body, key, None).await,
        Channel::Sns { topic_arn, aws, .. } => {
            let client = aws.sns().await;
            let subject: String = r.subject.chars().take(100).collect();
            let attr = auditwatch_aws::sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(key)
                .build()
                .map_err(|e| fail(channel, e))?;
            client
                .publish()
                .topic_arn(topic_arn)
                .subject(subject)
                .message(r.body)
                .message_attributes("idempotency_key", attr)
                .send()
                .await
                .map_err(|e| fail(channel, auditwatch_aws::sns::error::DisplayErrorContext(e)))?;
            Ok(())
        }
    }
}

/// Sends one plain-text e-mail through the SMTP `channel`, with `key` as its
/// `Message-ID` (so a repeat can be recognised) and an optional `Reply-To`; an error
/// for a channel that is not SMTP.
pub async fn email(
    channel: &Channel,
    subject: String,
    body: String,
    key: &str,
    reply_to: Option<&str>,
) -> Result<(), DetectError> {
    let Channel::Smtp {
        host,
        port,
        tls,
        credentials,
        from,
        to,
        ..
    } = channel
    else {
        return Err(fail(channel, "not an SMTP channel"));
    };
    let mut m = Message::builder()
        .from(from.parse().map_err(|e| fail(channel, e))?)
        .subject(subject)
        .message_id(Some(format!("<{key}@auditwatch>")))
        .header(ContentType::TEXT_PLAIN);
    if let Some(r) = reply_to.and_then(|r| r.parse().ok()) {
        m = m.reply_to(r);
    }
    for t in to {
        m = m.to(t.parse().map_err(|e| fail(channel, e))?);
    }
    let message = m.body(body).map_err(|e| fail(channel, e))?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(*port)
        .tls(tls.clone())
        .timeout(Some(Duration::from_secs(20)));
    if let Some((u, p)) = credentials {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    b.build()
        .send(message)
        .await
        .map_err(|e| fail(channel, e))?;
    Ok(())
}

/// What one round of sending did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Delivered.
    pub sent: u64,
    /// Failed (retried later).
    pub failed: u64,
}

fn backoff(attempts: i64) -> i64 {
    (30_i64 << attempts.clamp(0, 7)).min(3600)
}

/// Sends what is due at `now` (seconds).
pub async fn send_due(store: &Store, defs: &Definitions, now: i64) -> Result<Round, DetectError> {
    let catalog = crate::state::DetectionState::of(store)?;
    let due: Vec<OutboxItem> = catalog.outbox_due(now, 50)?;
    let mut round = Round::default();
    for item in due {
        let Some(alert) = catalog.alert(&Scope::All, item.alert_id)? else {
            catalog.outbox_failed(item.id, "the alert is gone", now + 3600)?;
            continue;
        };
        let Some(channel) = defs.channels.iter().find(|c| c.name() == item.channel) else {
            catalog.outbox_failed(
                item.id,
                &format!(
                    "no [[notify]] channel named `{}` is configured",
                    item.channel
                ),
                now + 3600,
            )?;
            round.failed += 1;
            continue;
        };
        match send(channel, &alert, &item.key, defs.base_url.as_deref()).await {
            Ok(()) => {
                catalog.outbox_sent(item.id)?;
                round.sent += 1;
            }
            Err(e) => {
                tracing::warn!(channel = %item.channel, alert = item.alert_id, "notification failed: {e}");
                catalog.outbox_failed(item.id, &e.to_string(), now + backoff(item.attempts))?;
                round.failed += 1;
            }
        }
    }
    Ok(round)
}
