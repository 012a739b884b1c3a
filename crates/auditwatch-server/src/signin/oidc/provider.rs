//! The OpenID Connect provider as Auditwatch uses it: its settings, discovery of
//! its endpoints and keys, the sign-ins started and not yet finished (bounded, with
//! a time limit), the code exchange with the ID token's checks, and the mapping of
//! its claims to a role and AWS accounts. No HTTP handling: [`super`] has the pages.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use auditwatch_auth::Role;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    PkceCodeVerifier, RedirectUrl,
};
use serde::Deserialize;

/// How long a started sign-in may take at the provider.
pub(super) const PENDING_TTL: Duration = Duration::from_secs(600);
/// Most sign-ins pending at once (bounded memory).
pub(super) const MAX_PENDING: usize = 10_000;

/// The provider settings (the `[oidc]` section of the configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` is read at start.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret (or env `AUDITWATCH_OIDC_CLIENT_SECRET`); none for public clients.
    pub client_secret: Option<String>,
    /// This server's callback: `https://HOST/login/oidc/callback`.
    pub redirect_url: String,
    /// The sign-in button's label.
    #[serde(default = "default_label")]
    pub label: String,
    /// Scopes to ask for (`openid` is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim whose value(s) pick role and accounts (`groups`,
    /// `cognito:groups`, …).
    #[serde(default = "default_claim")]
    pub claim: String,
    /// Claim value → role; the highest matching role wins.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// Claim value → AWS account ids (`"*"` for all); matching lists are joined.
    #[serde(default)]
    pub accounts: BTreeMap<String, Vec<String>>,
    /// The role when no claim value matches; without it such users are refused.
    pub default_role: Option<Role>,
    /// The accounts when no claim value matches (`["*"]` for all); without it such
    /// users are refused.
    pub default_accounts: Option<Vec<String>>,
}

fn default_label() -> String {
    "single sign-on".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn default_claim() -> String {
    "groups".into()
}

/// Role and accounts for the claim `values`, or why the user is refused.
pub fn map_claims(
    s: &OidcSettings,
    values: &[String],
) -> Result<(Role, Option<Vec<String>>), String> {
    let role = values
        .iter()
        .filter_map(|v| s.roles.get(v).copied())
        .max()
        .or(s.default_role)
        .ok_or_else(|| format!("none of your {} values grants an Auditwatch role", s.claim))?;
    let lists: Vec<&Vec<String>> = values.iter().filter_map(|v| s.accounts.get(v)).collect();
    let lists: Vec<&Vec<String>> = if lists.is_empty() {
        s.default_accounts.iter().collect()
    } else {
        lists
    };
    if lists.is_empty() {
        return Err(format!(
            "none of your {} values grants access to any AWS account",
            s.claim
        ));
    }
    if lists.iter().any(|l| l.iter().any(|a| a == "*")) {
        return Ok((role, None));
    }
    let mut all: Vec<String> = lists.into_iter().flatten().cloned().collect();
    all.sort();
    all.dedup();
    Ok((role, Some(all)))
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(super) struct Pending {
    pub(super) verifier: PkceCodeVerifier,
    pub(super) nonce: Nonce,
    pub(super) next: String,
    pub(super) at: Instant,
}

/// A configured provider, discovered at start.
pub struct Oidc {
    pub(super) settings: OidcSettings,
    pub(super) client: Client,
    pub(super) http: openidconnect::reqwest::Client,
    pub(super) pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .finish()
    }
}

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A setting is malformed.
    #[error("oidc.{field}: {message}")]
    Setting {
        /// Which.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// Discovery failed.
    #[error("OpenID provider {issuer}: discovery failed: {message}")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// Why.
        message: String,
    },
}

impl Oidc {
    /// Reads the provider's metadata and keys.
    pub async fn discover(settings: OidcSettings) -> Result<Self, OidcError> {
        let setting = |field, e: &dyn std::fmt::Display| OidcError::Setting {
            field,
            message: e.to_string(),
        };
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| setting("issuer", &e))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| setting("redirect_url", &e))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would open the client to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| setting("issuer", &e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| OidcError::Discovery {
                issuer: settings.issuer.clone(),
                message: error_chain(&e),
            })?;
        let secret = settings
            .client_secret
            .clone()
            .or_else(|| std::env::var("AUDITWATCH_OIDC_CLIENT_SECRET").ok())
            .map(ClientSecret::new);
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            settings,
            client,
            http,
            pending: Mutex::default(),
        })
    }

    /// The sign-in button's label.
    pub fn label(&self) -> &str {
        &self.settings.label
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
