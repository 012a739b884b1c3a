//! How Auditwatch reaches AWS: clients from the standard configuration chain
//! (credentials from the environment, profiles, SSO, web identity or the instance
//! role; region and endpoint from the environment, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_S3` …) unless a source or a channel names its own.
//!
//! Each service is a feature (`s3`, `sqs`, `cloudtrail`, `sns`) and its SDK crate is
//! re-exported under that name, so a crate builds only the SDKs it calls: the
//! detection side sends to SNS without compiling the S3 and SQS clients.
//!
//! TLS is rustls with *ring*, the provider the server already uses, so one crypto
//! library serves both. The SDK's standard retry mode retries throttling, 500 and
//! 503 SlowDown with exponential back-off and full jitter.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

#[cfg(feature = "cloudtrail")]
pub use aws_sdk_cloudtrail as cloudtrail;
#[cfg(feature = "s3")]
pub use aws_sdk_s3 as s3;
#[cfg(feature = "sns")]
pub use aws_sdk_sns as sns;
#[cfg(feature = "sqs")]
pub use aws_sdk_sqs as sqs;

/// Where and how to reach AWS (or an S3/SQS-compatible service) for one source or
/// notification channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The region (default: the standard chain, then `us-east-1`).
    pub region: Option<String>,
    /// A custom endpoint, e.g. an S3-compatible store or a local emulator.
    pub endpoint_url: Option<String>,
    /// A named profile of `~/.aws/config` (default: the standard chain).
    pub profile: Option<String>,
    /// Attempts per request, including the first (default 8).
    pub max_attempts: Option<u32>,
}

impl AwsSettings {
    /// Whether S3 must be addressed path-style: any custom endpoint (configured here
    /// or through the environment) is taken to be an S3-compatible store.
    pub fn path_style(&self) -> bool {
        self.endpoint_url.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    }

    /// Loads the SDK configuration.
    pub async fn load(&self) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(self.max_attempts.unwrap_or(8).max(1))
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(retry);
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &self.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return config
                .into_builder()
                .region(Region::new("us-east-1"))
                .build();
        }
        config
    }

    /// An S3 client.
    #[cfg(feature = "s3")]
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = self.load().await;
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(self.path_style())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SQS client.
    #[cfg(feature = "sqs")]
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.load().await)
    }

    /// An SNS client.
    #[cfg(feature = "sns")]
    pub async fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.load().await)
    }

    /// CloudTrail clients for `regions` (none given: the configured region), from one
    /// loaded configuration, so they share credentials and their cache.
    #[cfg(feature = "cloudtrail")]
    pub async fn cloudtrail(
        &self,
        regions: &[String],
    ) -> Vec<(String, aws_sdk_cloudtrail::Client)> {
        let sdk = self.load().await;
        let regions = if regions.is_empty() {
            vec![
                sdk.region()
                    .map_or_else(|| "us-east-1".into(), |r| r.to_string()),
            ]
        } else {
            regions.to_vec()
        };
        regions
            .into_iter()
            .map(|r| {
                let conf = aws_sdk_cloudtrail::config::Builder::from(&sdk)
                    .region(Region::new(r.clone()))
                    .build();
                (r, aws_sdk_cloudtrail::Client::from_conf(conf))
            })
            .collect()
    }
}
