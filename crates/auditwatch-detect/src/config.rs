//! What to detect and whom to tell, as written in the configuration file, and the
//! checked [`Definitions`] built from it. Every error names the setting.
//!
//! ```toml
//! [detection]
//! packs = ["cis"]              # the CIS alarms (builtin:cis), each Sum >= 1 per 300 s
//! rules = ["rules/"]           # filter-pattern (.json) and Sigma (.yml) rule files
//! sigma_placeholders = { Legitimate_Countries = ["NZ", "AU"] }   # for Sigma's |expand
//! dedup_minutes = 60           # matches of a rule and account within this join one alert
//! max_alerts_per_rule_per_hour = 30   # then a rule's matches join its newest alert
//! max_lateness_hours = 24      # alarms re-judge periods this far back when late data lands
//! base_url = "https://auditwatch.example.com"   # links in notifications
//!
//! [[alarms]]
//! name = "secret-read"
//! filter_pattern = '{ ($.eventName = "GetSecretValue") && ($.requestParameters.secretId = "TopSecretInfo*") }'
//! statistic = "Sum"            # metric_value = "1", period = 300, threshold = 1 …
//! treat_missing_data = "notBreaching"
//! notify = ["security-mail"]
//!
//! [[notify]]
//! name = "security-mail"
//! type = "smtp"                # or "webhook" (url, format = "generic" | "slack"), "sns"
//! host = "smtp.example.com"
//! tls = "starttls"             # "tls", "starttls" or "none"
//! # ca_file = "/etc/ssl/company-ca.pem"   # trust a private CA too
//! username = "auditwatch"
//! password_env = "AUDITWATCH_SMTP_PASSWORD"
//! from = "auditwatch@example.com"
//! to = ["security@example.com"]
//! ```

use std::path::{Path, PathBuf};

use auditwatch_rules::alarm::{
    AlarmSpec, Comparison, MetricFilter, MetricValue, Statistic, TreatMissing,
};
use std::sync::Arc;

pub use auditwatch_rules::rulefile::LEVELS;
use auditwatch_rules::rulefile::{self, Rule};
use auditwatch_rules::sigma::{Placeholders, SigmaSet};
use auditwatch_rules::{Pattern, packs};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use serde::{Deserialize, Serialize};

use crate::DetectError;

/// `[detection]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionSettings {
    /// Built-in packs whose controls become alarms (`cis`, `securityhub`).
    #[serde(default)]
    pub packs: Vec<String>,
    /// Rule files or folders whose matches raise alerts: filter-pattern (`.json`) and
    /// Sigma (`.yml`, `.yaml`).
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Values of Sigma `%placeholders%` (`|expand`).
    #[serde(default)]
    pub sigma_placeholders: Placeholders,
    /// Dedup window for rule alerts (default 60).
    pub dedup_minutes: Option<u64>,
    /// Most new alerts one rule raises per hour (default 30); later matches join its
    /// newest unresolved alert.
    pub max_alerts_per_rule_per_hour: Option<u32>,
    /// How far back late data re-opens alarm periods (default 24).
    pub max_lateness_hours: Option<u64>,
    /// The UI's public address, for links in notifications.
    pub base_url: Option<String>,
}

/// One `[[alarms]]` table (also the body of `POST /api/v1/alarms`, and what the
/// catalog keeps of an alarm declared in the UI).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSettings {
    /// Unique name.
    pub name: String,
    /// What it means (default: the name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The metric filter's pattern.
    pub filter_pattern: String,
    /// `"1"` (default), another number, or a selector (`"$.field"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_value: Option<String>,
    /// Published for periods with events but no match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    /// Seconds (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    /// Default `Sum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    /// Default `GreaterThanOrEqualToThreshold`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    /// Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<u32>,
    /// Default: `evaluation_periods`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<u32>,
    /// Default `missing`, as on CloudWatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    /// Alert level (default `high`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Channels to notify (default: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<String>>,
    /// Count only events of these AWS accounts (default: every account). Callers
    /// limited to some accounts see the alarms whose accounts they all may see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
}

/// One `[[notify]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelSettings {
    /// An HTTP POST of JSON.
    Webhook {
        /// Unique name.
        name: String,
        /// Where to POST.
        url: String,
        /// `generic` (default) or `slack`.
        format: Option<String>,
    },
    /// E-mail.
    Smtp {
        /// Unique name.
        name: String,
        /// The server.
        host: String,
        /// Default: 465 for `tls`, 587 for `starttls`, 25 for `none`.
        port: Option<u16>,
        /// `starttls` (default), `tls` or `none`.
        tls: Option<String>,
        /// A PEM file of certificate authorities to trust besides the public ones
        /// (a company mail relay with a private CA).
        ca_file: Option<PathBuf>,
        /// Sign-in name, if the server wants one.
        username: Option<String>,
        /// The environment variable holding the password (never in the file).
        password_env: Option<String>,
        /// Sender address.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// An SNS topic.
    Sns {
        /// Unique name.
        name: String,
        /// The topic.
        topic_arn: String,
        /// Region (default: the standard chain).
        region: Option<String>,
        /// A custom endpoint (tests, emulators).
        endpoint_url: Option<String>,
    },
}

/// A checked alarm.
#[derive(Debug, Clone)]
pub struct AlarmDef {
    /// Unique name (also its metric's name).
    pub name: String,
    /// What it means.
    pub title: String,
    /// Alert level.
    pub level: String,
    /// Its metric filter.
    pub filter: MetricFilter,
    /// How it judges the metric.
    pub spec: AlarmSpec,
    /// Channels to notify.
    pub channels: Vec<String>,
    /// Where it was declared: `configuration file`, a pack (`builtin:cis`) or `UI`.
    pub origin: String,
    /// The accounts whose events it counts; `None` for all.
    pub accounts: Option<Vec<String>>,
}

impl AlarmDef {
    /// Whether it counts an event of `account`.
    pub fn counts(&self, account: Option<&str>) -> bool {
        match &self.accounts {
            None => true,
            Some(list) => account.is_some_and(|a| list.iter().any(|x| x == a)),
        }
    }
}

/// How an `smtp` channel protects the connection, as `tls` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpTls {
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// Plain, upgraded with STARTTLS before anything is sent (refused if the
    /// server cannot).
    StartTls,
    /// No encryption (a relay on the same host).
    None,
}

/// A checked notification channel.
#[derive(Clone)]
pub enum Channel {
    /// An HTTP POST.
    Webhook {
        /// Name.
        name: String,
        /// URL.
        url: String,
        /// Slack's `{"text": …}` rather than the generic document.
        slack: bool,
    },
    /// E-mail.
    Smtp {
        /// Name.
        name: String,
        /// Server.
        host: String,
        /// Port.
        port: u16,
        /// Protection: TLS parameters (the public roots plus `ca_file`) built and
        /// checked once, at start.
        tls: lettre::transport::smtp::client::Tls,
        /// Sign-in name and password.
        credentials: Option<(String, String)>,
        /// Sender.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// SNS.
    Sns {
        /// Name.
        name: String,
        /// Topic.
        topic_arn: String,
        /// Where and how to reach SNS.
        aws: auditwatch_aws::AwsSettings,
    },
}

impl std::fmt::Debug for Channel {
    /// Never prints the SMTP password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} channel `{}`", self.kind(), self.name())
    }
}

impl Channel {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Self::Webhook { name, .. } | Self::Smtp { name, .. } | Self::Sns { name, .. } => name,
        }
    }

    /// `webhook`, `smtp` or `sns`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Smtp { .. } => "smtp",
            Self::Sns { .. } => "sns",
        }
    }
}

/// The origin of alarms from the configuration file.
pub const FROM_FILE: &str = "configuration file";

/// Everything detection runs, checked.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// Alarms (configured and from packs).
    pub alarms: Vec<AlarmDef>,
    /// Filter-pattern rules that alert per match.
    pub rules: Vec<Rule>,
    /// Sigma rules and correlations.
    pub sigma: Option<Arc<SigmaSet>>,
    /// Notification channels.
    pub channels: Vec<Channel>,
    /// How rule hits become alerts (dedup window, throttle).
    pub alerting: crate::state::AlertPolicy,
    /// How far back late data re-opens alarm periods (seconds).
    pub max_lateness_secs: i64,
    /// The UI's public address, for links.
    pub base_url: Option<String>,
    /// Sigma rules and correlations switched off (keys from [`switch_key`]): their
    /// matches raise no alert. (Disabled alarms and filter-pattern rules are left
    /// out of `alarms` and `rules` instead.)
    pub disabled: std::collections::HashSet<String>,
}

/// The key a rule is switched on and off by: its kind (`alarm`, `rule`, `sigma`,
/// `correlation`) and id, as `kind:id`.
pub fn switch_key(kind: &str, id: &str) -> String {
    format!("{kind}:{id}")
}

impl Definitions {
    /// Whether there is anything to detect.
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.rules.is_empty() && self.sigma.is_none()
    }

    /// Whether a rule, correlation or metric filter reads the origin fields detection
    /// adds to records ([`crate::origin`]).
    pub fn reads_origin(&self) -> bool {
        let patterns = self
            .rules
            .iter()
            .map(|r| &r.pattern)
            .chain(self.alarms.iter().map(|a| &a.filter.pattern));
        crate::origin::read_by(patterns, self.sigma.as_deref()).is_some()
    }

    /// The names of every channel.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.iter().map(|c| c.name().to_string()).collect()
    }
}

fn bad(msg: impl Into<String>) -> DetectError {
    DetectError::Config(msg.into())
}

fn is_sigma(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "yml" || x == "yaml")
}

/// The rule files at `path`: the file itself, or a folder's `*.json`, `*.yml` and
/// `*.yaml` files (sub-folders included, as SigmaHQ nests them) in name order. The
/// error names the path.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_dir() {
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(path).follow_links(true) {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            let p = entry.path();
            if entry.file_type().is_file()
                && (is_sigma(p) || p.extension().is_some_and(|x| x == "json"))
            {
                out.push(p.to_path_buf());
            }
        }
        out.sort();
        Ok(out)
    } else if path.is_file() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(format!("{}: no such rule file or folder", path.display()))
    }
}

fn channel(c: ChannelSettings) -> Result<Channel, DetectError> {
    Ok(match c {
        ChannelSettings::Webhook { name, url, format } => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(bad(format!("notify `{name}`: url `{url}`: http(s) only")));
            }
            let slack = match format.as_deref().unwrap_or("generic") {
                "generic" => false,
                "slack" => true,
                other => {
                    return Err(bad(format!(
                        "notify `{name}`: format `{other}`: generic or slack"
                    )));
                }
            };
            Channel::Webhook { name, url, slack }
        }
        ChannelSettings::Smtp {
            name,
            host,
            port,
            tls,
            ca_file,
            username,
            password_env,
            from,
            to,
        } => {
            let tls = match tls.as_deref().unwrap_or("starttls") {
                "tls" => SmtpTls::Tls,
                "starttls" => SmtpTls::StartTls,
                "none" => SmtpTls::None,
                other => {
                    return Err(bad(format!(
                        "notify `{name}`: tls `{other}`: tls, starttls or none"
                    )));
                }
            };
            if to.is_empty() {
                return Err(bad(format!("notify `{name}`: to: at least one recipient")));
            }
            for a in to.iter().chain([&from]) {
                a.parse::<lettre::Address>()
                    .map_err(|e| bad(format!("notify `{name}`: address `{a}`: {e}")))?;
            }
            let credentials = match (username, password_env) {
                (Some(u), Some(var)) => {
                    let p = std::env::var(&var).map_err(|_| {
                        bad(format!("notify `{name}`: password_env: ${var} is not set"))
                    })?;
                    Some((u, p))
                }
                (Some(_), None) => {
                    return Err(bad(format!(
                        "notify `{name}`: username without password_env"
                    )));
                }
                (None, Some(_)) => {
                    return Err(bad(format!(
                        "notify `{name}`: password_env without username"
                    )));
                }
                (None, None) => None,
            };
            let port = port.unwrap_or(match tls {
                SmtpTls::Tls => 465,
                SmtpTls::StartTls => 587,
                SmtpTls::None => 25,
            });
            if ca_file.is_some() && tls == SmtpTls::None {
                return Err(bad(format!(
                    "notify `{name}`: ca_file: set, but tls is none"
                )));
            }
            let params = || {
                // The public roots (webpki-roots), plus the channel's own CA.
                let mut p = TlsParameters::builder(host.clone());
                if let Some(f) = &ca_file {
                    let pem = std::fs::read(f).map_err(|e| {
                        bad(format!("notify `{name}`: ca_file: {}: {e}", f.display()))
                    })?;
                    let ca = Certificate::from_pem(&pem).map_err(|e| {
                        bad(format!(
                            "notify `{name}`: ca_file: {}: not a PEM certificate: {e}",
                            f.display()
                        ))
                    })?;
                    p = p.add_root_certificate(ca);
                }
                p.build_rustls()
                    .map_err(|e| bad(format!("notify `{name}`: tls: {e}")))
            };
            let tls = match tls {
                SmtpTls::Tls => Tls::Wrapper(params()?),
                SmtpTls::StartTls => Tls::Required(params()?),
                SmtpTls::None => Tls::None,
            };
            Channel::Smtp {
                name,
                host,
                port,
                tls,
                credentials,
                from,
                to,
            }
        }
        ChannelSettings::Sns {
            name,
            topic_arn,
            region,
            endpoint_url,
        } => {
            if !topic_arn.starts_with("arn:") || topic_arn.split(':').count() != 6 {
                return Err(bad(format!(
                    "notify `{name}`: topic_arn `{topic_arn}`: arn:aws:sns:REGION:ACCOUNT:NAME"
                )));
            }
            let region = region.or_else(|| topic_arn.split(':').nth(3).map(str::to_string));
            Channel::Sns {
                name,
                topic_arn,
                aws: auditwatch_aws::AwsSettings {
                    region,
                    endpoint_url,
                    profile: None,
                    max_attempts: Some(3),
                },
            }
        }
    })
}

/// Checks one alarm table against the channel names; returns it with its lint
/// warnings. `origin` says where it was declared.
pub fn alarm(
    a: AlarmSettings,
    channels: &[String],
    origin: &str,
) -> Result<(AlarmDef, Vec<String>), DetectError> {
    let n = a.name.clone();
    let field = |what: &str, e: String| bad(format!("alarm `{n}`: {what} {e}"));
    if n.is_empty() || n.len() > 128 || n.chars().any(char::is_control) {
        return Err(bad(format!(
            "alarm `{n}`: name: 1 to 128 printable characters"
        )));
    }
    let pattern = Pattern::parse(&a.filter_pattern)
        .map_err(|e| bad(format!("alarm `{n}`: filter_pattern: {e}")))?;
    let value = MetricValue::parse(a.metric_value.as_deref().unwrap_or("1"))
        .map_err(|e| bad(format!("alarm `{n}`: metric_value: {}", e.message)))?;
    let evaluation_periods = a.evaluation_periods.unwrap_or(1);
    let spec = AlarmSpec {
        period_secs: a.period.unwrap_or(300),
        statistic: Statistic::parse(a.statistic.as_deref().unwrap_or("Sum"))
            .map_err(|e| field("statistic", e))?,
        comparison: Comparison::parse(
            a.comparison
                .as_deref()
                .unwrap_or("GreaterThanOrEqualToThreshold"),
        )
        .map_err(|e| field("comparison", e))?,
        threshold: a.threshold.unwrap_or(1.0),
        evaluation_periods,
        datapoints_to_alarm: a.datapoints_to_alarm.unwrap_or(evaluation_periods),
        treat_missing: TreatMissing::parse(a.treat_missing_data.as_deref().unwrap_or("missing"))
            .map_err(|e| field("treat_missing_data", e))?,
    };
    spec.check().map_err(|e| bad(format!("alarm `{n}`: {e}")))?;
    let level = a.level.unwrap_or_else(|| "high".into());
    if !rulefile::LEVELS.contains(&level.as_str()) {
        return Err(bad(format!(
            "alarm `{n}`: level `{level}`: one of {}",
            rulefile::LEVELS.join(", ")
        )));
    }
    if let Some(list) = &a.accounts {
        if list.is_empty() {
            return Err(bad(format!(
                "alarm `{n}`: accounts: empty (leave it out to count every account)"
            )));
        }
        if let Some(x) = list
            .iter()
            .find(|x| x.len() != 12 || !x.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad(format!(
                "alarm `{n}`: accounts: `{x}` is not a 12-digit AWS account ID"
            )));
        }
    }
    let notify = a.notify.unwrap_or_else(|| channels.to_vec());
    for c in &notify {
        if !channels.contains(c) {
            return Err(bad(format!(
                "alarm `{n}`: notify: no [[notify]] channel named `{c}`"
            )));
        }
    }
    let warnings = spec
        .lint(&value)
        .into_iter()
        .map(|w| format!("alarm `{n}`: {w}"))
        .collect();
    Ok((
        AlarmDef {
            title: a.title.unwrap_or_else(|| n.clone()),
            name: n,
            level,
            filter: MetricFilter {
                pattern,
                value,
                default_value: a.default_value,
            },
            spec,
            channels: notify,
            origin: origin.to_string(),
            accounts: a.accounts,
        },
        warnings,
    ))
}

/// Checks the settings. Returns the definitions and warnings (rules that did not
/// load, settings that make an alarm useless); errors stop the server.
pub fn resolve(
    detection: DetectionSettings,
    alarms: Vec<AlarmSettings>,
    channels: Vec<ChannelSettings>,
) -> Result<(Definitions, Vec<String>), DetectError> {
    let mut defs = Definitions {
        alerting: crate::state::AlertPolicy {
            dedup_us: detection.dedup_minutes.unwrap_or(60) as i64 * 60_000_000,
            max_new_per_hour: detection.max_alerts_per_rule_per_hour.unwrap_or(30).max(1),
        },
        max_lateness_secs: detection.max_lateness_hours.unwrap_or(24) as i64 * 3600,
        base_url: detection
            .base_url
            .map(|u| u.trim_end_matches('/').to_string()),
        ..Definitions::default()
    };
    for c in channels {
        let c = channel(c)?;
        if defs.channels.iter().any(|o| o.name() == c.name()) {
            return Err(bad(format!(
                "notify `{}`: a second channel of that name",
                c.name()
            )));
        }
        defs.channels.push(c);
    }
    let names = defs.channel_names();
    let mut warnings = Vec::new();
    for a in alarms {
        let (def, w) = alarm(a, &names, FROM_FILE)?;
        if defs.alarms.iter().any(|o| o.name == def.name) {
            return Err(bad(format!(
                "alarm `{}`: a second alarm of that name",
                def.name
            )));
        }
        warnings.extend(w);
        defs.alarms.push(def);
    }
    for p in &detection.packs {
        let rules = packs::pack(p).ok_or_else(|| {
            bad(format!(
                "detection.packs: `{p}`: one of {}",
                packs::names().collect::<Vec<_>>().join(", ")
            ))
        })?;
        for r in rules {
            if defs.alarms.iter().any(|o| o.name == r.id) {
                continue;
            }
            defs.alarms.push(AlarmDef {
                name: r.id.clone(),
                title: r.title,
                level: r.level,
                filter: MetricFilter {
                    pattern: r.pattern,
                    value: MetricValue::Constant(1.0),
                    default_value: None,
                },
                spec: packs::cis_alarm(),
                channels: names.clone(),
                origin: format!("builtin:{p}"),
                accounts: None,
            });
        }
    }
    let library = load_rules(&detection.rules, &detection.sigma_placeholders)
        .map_err(|e| bad(format!("detection.rules: {e}")))?;
    warnings.extend(
        library
            .errors
            .iter()
            .map(|e| format!("rule not loaded: {e}")),
    );
    defs.rules = library.patterns;
    defs.sigma = library.sigma.map(Arc::new);
    Ok((defs, warnings))
}

/// Rules read from files.
#[derive(Debug, Default)]
pub struct RuleLibrary {
    /// Filter-pattern rules.
    pub patterns: Vec<Rule>,
    /// Sigma rules and correlations, when any loaded.
    pub sigma: Option<SigmaSet>,
    /// What did not load: file, place and reason.
    pub errors: Vec<String>,
}

/// Loads the rule files at `paths` (files or folders): filter-pattern `.json` and
/// Sigma `.yml`/`.yaml`. A rule that does not load is listed with its file, place
/// and reason; the rest load. `Err` for a path that cannot be read.
pub fn load_rules(paths: &[PathBuf], placeholders: &Placeholders) -> Result<RuleLibrary, String> {
    let mut lib = RuleLibrary::default();
    let mut sigma_files = Vec::new();
    for path in paths {
        for file in rule_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if is_sigma(&file) {
                sigma_files.push((file.display().to_string(), text));
                continue;
            }
            let (loaded, errors) = rulefile::load(&text, &file.display().to_string());
            lib.errors.extend(errors.iter().map(ToString::to_string));
            lib.patterns.extend(loaded);
        }
    }
    if !sigma_files.is_empty() {
        let (set, errors) = SigmaSet::load(&sigma_files, placeholders);
        lib.errors.extend(errors.iter().map(ToString::to_string));
        lib.sigma = (!set.is_empty()).then_some(set);
    }
    Ok(lib)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm_toml(extra: &str) -> AlarmSettings {
        toml::from_str(&format!(
            "name = \"a\"\nfilter_pattern = '{{ $.eventName = \"GetSecretValue\" }}'\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn settings_are_checked_and_named() {
        let mail: ChannelSettings = toml::from_str(
            "type = \"smtp\"\nname = \"mail\"\nhost = \"h\"\ntls = \"none\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
        )
        .unwrap();
        let (defs, warnings) = resolve(
            DetectionSettings {
                packs: vec!["cis".into()],
                ..Default::default()
            },
            vec![alarm_toml("statistic = \"Average\"")],
            vec![mail.clone()],
        )
        .unwrap();
        assert_eq!(defs.alarms.len(), 16);
        assert_eq!(defs.alarms[0].channels, ["mail"]);
        assert!(warnings[0].contains("alarm `a`: Average"), "{warnings:?}");
        assert!(format!("{:?}", defs.channels[0]).contains("smtp channel `mail`"));

        let err = |a: AlarmSettings| {
            resolve(DetectionSettings::default(), vec![a], vec![mail.clone()])
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(alarm_toml("statistic = \"Avg\""))
                .starts_with("alarm `a`: statistic `Avg`: one of Sum")
        );
        assert!(
            err(alarm_toml("notify = [\"pager\"]")).contains("no [[notify]] channel named `pager`")
        );
        assert!(err(alarm_toml("period = 30")).contains("period 30"));
        assert!(
            err(alarm_toml("accounts = [\"1234\"]"))
                .contains("accounts: `1234` is not a 12-digit AWS account ID")
        );
        assert!(err(alarm_toml("accounts = []")).contains("accounts: empty"));
        assert!(err(alarm_toml("metric_value = \"lots\"")).contains("metric_value"));
        let mut bad_pattern = alarm_toml("");
        bad_pattern.filter_pattern = "{ $.eventName = }".into();
        assert!(err(bad_pattern).starts_with("alarm `a`: filter_pattern: filter pattern, column"));
        let no_secret: ChannelSettings = toml::from_str(
            "type = \"smtp\"\nname = \"m2\"\nhost = \"h\"\nusername = \"u\"\npassword_env = \"AW_TEST_UNSET_VAR\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
        )
        .unwrap();
        let smtp_with = |extra: &str| -> ChannelSettings {
            toml::from_str(&format!(
                "type = \"smtp\"\nname = \"m3\"\nhost = \"h\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n{extra}"
            ))
            .unwrap()
        };
        let channel_err = |c: ChannelSettings| {
            resolve(DetectionSettings::default(), vec![], vec![c])
                .unwrap_err()
                .to_string()
        };
        let e = channel_err(smtp_with("ca_file = \"/nonexistent/ca.pem\""));
        assert!(
            e.starts_with("notify `m3`: ca_file: /nonexistent/ca.pem: "),
            "{e}"
        );
        let e = channel_err(smtp_with("tls = \"none\"\nca_file = \"/etc/hostname\""));
        assert_eq!(e, "notify `m3`: ca_file: set, but tls is none");
        let e = resolve(DetectionSettings::default(), vec![], vec![no_secret]).unwrap_err();
        assert!(
            e.to_string().contains("$AW_TEST_UNSET_VAR is not set"),
            "{e}"
        );
        let e = resolve(
            DetectionSettings {
                packs: vec!["nist".into()],
                ..Default::default()
            },
            vec![],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`nist`: one of cis, securityhub"));
    }
}
