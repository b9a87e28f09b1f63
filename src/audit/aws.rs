//! The AWS SDK's configuration for the audit store and its queue.

use std::time::Duration;

use aws_config::{SdkConfig, meta::region::RegionProviderChain, timeout::TimeoutConfig};
// The SDK's shared types, as every service crate re-exports them.
use aws_sdk_dynamodb::config::{Credentials, Region};

/// Without `endpoint` everything (region, credentials, endpoint) comes
/// from aws-config's own chain, as in production. With it, the endpoint is
/// a local emulator, which takes any credentials: fixed dummy ones keep a
/// developer's real AWS credentials out of it, and a default region spares
/// them setting one.
///
/// Every call is bounded by `bound`, retries included: a service that does
/// not answer fails a relay round (retried later) or a read (UNAVAILABLE)
/// rather than hanging it.
pub async fn sdk_config(endpoint: Option<&str>, bound: Duration) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        let region = RegionProviderChain::default_provider().or_else(Region::new("us-east-1"));
        loader = loader
            .endpoint_url(endpoint)
            .region(region)
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "paygraph-local",
            ));
    }
    loader
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(bound.min(Duration::from_secs(3)))
                .operation_attempt_timeout(bound)
                .operation_timeout(bound)
                .build(),
        )
        .load()
        .await
}
