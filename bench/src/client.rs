//! A minimal GraphQL-over-HTTP client.

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Gql {
    http: reqwest::Client,
    url: String,
}

/// The outcome of one request: data, or the first error's code.
pub enum Reply {
    Data(Value),
    Error(String),
}

impl Gql {
    pub fn new(url: &str, pool: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
        Self {
            http,
            url: url.to_owned(),
        }
    }

    /// One request. Transport failures and non-200 answers are errors with
    /// a code (`HTTP_503`, `TRANSPORT`), like GraphQL errors.
    pub async fn call(&self, token: Option<&str>, query: &str, variables: Value) -> Reply {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(_) => return Reply::Error("TRANSPORT".into()),
        };
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(b) => b,
            Err(_) => return Reply::Error(format!("HTTP_{}", status.as_u16())),
        };
        if let Some(err) = body["errors"].as_array().and_then(|e| e.first()) {
            let code = err["extensions"]["code"]
                .as_str()
                .unwrap_or("NO_CODE")
                .to_owned();
            return Reply::Error(code);
        }
        if !status.is_success() {
            return Reply::Error(format!("HTTP_{}", status.as_u16()));
        }
        Reply::Data(body["data"].clone())
    }

    /// A call that must succeed (seeding).
    pub async fn must(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: Value = req
            .send()
            .await
            .context("sending a request")?
            .json()
            .await
            .context("reading a response")?;
        if body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("request failed: {}", body["errors"]);
        }
        Ok(body["data"].clone())
    }

    /// The server's metrics page, and one counter's value from it.
    pub async fn counter(&self, metrics_url: &str, name: &str) -> anyhow::Result<f64> {
        let text = self.http.get(metrics_url).send().await?.text().await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split([' ', '{']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

/// Minor units as a decimal string with two digits (USD): money never
/// passes through a float.
pub fn usd(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn usd_strings() {
        assert_eq!(super::usd(1), "0.01");
        assert_eq!(super::usd(12345), "123.45");
    }
}
