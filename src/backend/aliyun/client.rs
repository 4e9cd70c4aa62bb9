//! A blocking HTTP client for the three APIs: builds, signs and sends one call, parses the JSON
//! answer or the error, and retries throttling and transient failures with jittered backoff.
//!
//! Transport is ureq (rustls, no OpenSSL). Hosts follow contract §4.8: `modelstudio.<region>`,
//! `aiworkspace.<region>` and the global `ram.aliyuncs.com`; `--endpoint` replaces every one of
//! them, which is how tests and the emulator on 127.0.0.1 are reached. Every HTTP attempt is
//! counted, so plans can report how many API calls a read or an apply cost.
//!
//! Three mechanisms keep a run going on a bad day and stop it on a dead one, shared by every
//! thread that uses the client:
//! - retries are bounded by time (per call, and a budget for the whole run), not by a small count;
//! - an adaptive cap on calls in flight ([`Limiter`]): each throttled answer halves it, successes
//!   raise it back, so a throttled account is not retried at full width;
//! - a circuit breaker ([`Breaker`]): when calls keep failing with no answer or a server error and
//!   no success for a while, it opens and every call fails at once with
//!   [`CallError::Unavailable`], so an apply stops instead of failing change after change.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::{ApiError, CallError};
use crate::acs::credentials::Credentials;
use crate::acs::encoding::form_urlencode;
pub use crate::acs::product::Product;
use crate::acs::signing::{RequestToSign, Signer, percent_encode};
use crate::backend::ApiCallCounts as CallCounts;

/// HTTP methods the three APIs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A request body, as the operation's `req_body_type` dictates (contract §4.3).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body and no content-type.
    None,
    /// `application/x-www-form-urlencoded`, already flattened (see
    /// [`crate::acs::encoding::flatten`]); sent sorted by key. An empty list still sends the
    /// (empty) body and its content-type, as the SDK does for operations that define body fields.
    Form(Vec<(String, String)>),
    /// `application/json; charset=utf-8`, compact.
    Json(Value),
}

/// One API call.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub product: Product,
    /// Region for regional products; ignored by RAM and when an endpoint override is set.
    pub region: Option<String>,
    /// The operation, sent as `x-acs-action`, e.g. `ListWorkspaces`.
    pub action: String,
    pub method: Method,
    /// The path, with path parameters already encoded by
    /// [`crate::acs::signing::encode_path_segment`]; `/` for RPC.
    pub path: String,
    /// Raw (unencoded) query parameters, already flattened.
    pub query: Vec<(String, String)>,
    pub body: Body,
}

impl RequestSpec {
    /// An ROA call: method and path per operation.
    pub fn roa(product: Product, action: &str, method: Method, path: impl Into<String>) -> Self {
        Self {
            product,
            region: None,
            action: action.to_string(),
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
        }
    }

    /// An RPC call (RAM): always `POST /`, every parameter in the query.
    pub fn rpc(product: Product, action: &str) -> Self {
        Self::roa(product, action, Method::Post, "/")
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// `http` for the emulator, `https` for the real APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where requests go: a scheme and a `host[:port]`, which is also the signed `host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub authority: String,
}

impl Endpoint {
    pub fn https(host: impl Into<String>) -> Self {
        Self {
            scheme: Scheme::Https,
            authority: host.into(),
        }
    }

    /// Parses `--endpoint`: `http://127.0.0.1:8080`, `https://host`, or a bare `host[:port]`
    /// (https). Paths, queries and user info are refused: the canonical URI must be the API path
    /// alone, and credentials in a URL would end up in the Host header.
    pub fn parse(url: &str) -> Result<Self, CallError> {
        let url = url.trim();
        let bad = |why: &str| CallError::InvalidRequest(format!("bad endpoint `{url}`: {why}"));
        let lower = url.to_ascii_lowercase();
        let (scheme, rest) = if lower.starts_with("http://") {
            (Scheme::Http, &url["http://".len()..])
        } else if lower.starts_with("https://") {
            (Scheme::Https, &url["https://".len()..])
        } else if lower.contains("://") {
            return Err(bad("only http and https are supported"));
        } else {
            (Scheme::Https, url)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains(['/', '?', '#']) {
            return Err(bad("it must be scheme://host[:port] without a path"));
        }
        if authority.contains('@') {
            return Err(bad("user info is not allowed"));
        }
        if authority
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || !b.is_ascii())
        {
            return Err(bad("the host has invalid characters"));
        }
        Ok(Self {
            scheme,
            authority: authority.to_string(),
        })
    }

    fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority)
    }

    /// Loopback endpoints (the emulator) bypass any proxy from the environment.
    fn is_loopback(&self) -> bool {
        let host = match self.authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => self.authority.as_str(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Bounds on retrying one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries. A safety net: time bounds the
    /// retries first (with a quarter of requests failing, 6 attempts still lose one call in
    /// 2,500, which is one failed change per large apply).
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the first attempt, nor when its
    /// delay would end past it.
    pub max_elapsed: Duration,
    /// The first backoff ceiling; it doubles per attempt.
    pub base_delay: Duration,
    /// The largest backoff ceiling. A server's `x-acs-retry-after` is honoured as given instead.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 16,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// How one call may be retried (see [`Client::call_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOptions {
    /// Retry failures after which the service may have carried the request out (see
    /// [`CallError::is_ambiguous`]: a 5xx, a connection that broke after the request was sent).
    /// Right for reads and idempotent writes. A create that must look before it tries again
    /// turns it off and gets such a failure back after the first attempt; throttling and
    /// connections never made are still retried, as the request was not acted on.
    pub retry_ambiguous: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            retry_ambiguous: true,
        }
    }
}

impl CallOptions {
    /// Retry only failures that certainly left the service untouched.
    pub const NO_AMBIGUOUS_RETRY: CallOptions = CallOptions {
        retry_ambiguous: false,
    };
}

/// When the circuit breaker opens (see [`Breaker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failed attempts in a row (no answer, or a 5xx), with no success between them, before the
    /// breaker may open. Throttled answers neither count nor break the streak.
    pub min_failures: u32,
    /// ... and the time from the first of them to the latest: a few unlucky calls in a burst
    /// must not stop a run, a service that has not answered for this long is down.
    pub window: Duration,
    /// How long an open breaker refuses every call before it lets one through as a probe.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            min_failures: 8,
            window: Duration::from_secs(5),
            cooldown: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": uniform in `[0, min(max_delay, base_delay · 2^(retry-1))]`, which spreads
    /// parallel clients apart better than a fixed or equal-jitter backoff.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let mut bytes = [0u8; 8];
        let fraction = if getrandom::fill(&mut bytes).is_ok() {
            (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
        } else {
            0.5
        };
        ceiling.mul_f64(fraction)
    }
}

/// How the client is set up.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Overrides every product's host (`--endpoint`).
    pub endpoint: Option<Endpoint>,
    pub retry: RetryPolicy,
    /// Retries of every call stop this long after the client was made: the deadline of a run
    /// (a read that cannot finish by then fails; see [`Client::deadline`]).
    pub budget: Duration,
    /// The most calls in flight at once; throttling lowers the cap below it, successes raise it
    /// back (see [`Limiter`]).
    pub max_concurrency: usize,
    pub breaker: BreakerPolicy,
    pub connect_timeout: Duration,
    /// Per attempt, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            retry: RetryPolicy::default(),
            budget: Duration::from_secs(600),
            max_concurrency: 16,
            breaker: BreakerPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            user_agent: format!("msctl/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Signs and sends calls; shareable between threads (`&self` everywhere).
pub struct Client {
    agent: ureq::Agent,
    signer: Signer,
    config: ClientConfig,
    api_calls: AtomicU64,
    /// The same count by product and operation (`ram` → `ListUsers` → 2).
    by_operation: Mutex<CallCounts>,
    deadline: Instant,
    limiter: Limiter,
    breaker: Breaker,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("signer", &self.signer)
            .field("config", &self.config)
            .field("api_calls", &self.api_calls())
            .field("concurrency", &self.concurrency())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both guarded states are plain numbers, consistent after every statement.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a failed exchange certainly never reached the server: nothing was connected.
fn never_sent(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as Io;
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::BadUri(_) => true,
        ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            Io::ConnectionRefused
                | Io::AddrNotAvailable
                | Io::NetworkUnreachable
                | Io::HostUnreachable
        ),
        _ => false,
    }
}

impl Client {
    pub fn new(credentials: Credentials, config: ClientConfig) -> Self {
        let bypass_proxy = config.endpoint.as_ref().is_some_and(Endpoint::is_loopback);
        let mut builder = ureq::Agent::config_builder()
            // Error statuses carry the JSON body we need; ureq must hand them back, not fail.
            .http_status_as_error(false)
            // A redirect would be re-sent with a signature for the old host; the APIs never send
            // one.
            .max_redirects(0)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.request_timeout))
            .user_agent(config.user_agent.as_str())
            .accept("application/json");
        if bypass_proxy {
            builder = builder.proxy(None);
        }
        Self {
            agent: builder.build().into(),
            signer: Signer::new(credentials),
            deadline: Instant::now() + config.budget,
            limiter: Limiter::new(config.max_concurrency),
            breaker: Breaker::new(config.breaker),
            config,
            api_calls: AtomicU64::new(0),
            by_operation: Mutex::new(CallCounts::new()),
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    /// [`Client::api_calls`] by product and operation: they add up to it.
    pub fn api_calls_by_operation(&self) -> CallCounts {
        lock(&self.by_operation).clone()
    }

    /// The retry bounds of this client, for callers that retry on their own (idempotent creates).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.config.retry
    }

    /// When retries stop for good ([`ClientConfig::budget`] after the client was made).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The adaptive cap on calls in flight right now.
    pub fn concurrency(&self) -> usize {
        self.limiter.cap()
    }

    /// Whether the circuit breaker is refusing calls right now.
    pub fn is_unavailable(&self) -> bool {
        self.breaker.is_open()
    }

    /// The endpoint a call goes to.
    pub fn endpoint_for(&self, spec: &RequestSpec) -> Result<Endpoint, CallError> {
        match &self.config.endpoint {
            Some(endpoint) => Ok(endpoint.clone()),
            None => Ok(Endpoint::https(
                spec.product.default_host(spec.region.as_deref())?,
            )),
        }
    }

    /// Sends the call, retrying per the [`RetryPolicy`], and returns the parsed JSON answer.
    /// Each attempt is signed afresh (new date and nonce), as a replayed nonce would be refused.
    pub fn call(&self, spec: &RequestSpec) -> Result<Value, CallError> {
        self.call_with(spec, CallOptions::default())
    }

    /// [`Client::call`] with options: [`CallOptions::NO_AMBIGUOUS_RETRY`] for a create that
    /// looks before it tries again.
    pub fn call_with(&self, spec: &RequestSpec, options: CallOptions) -> Result<Value, CallError> {
        let endpoint = self.endpoint_for(spec)?;
        if !spec.path.starts_with('/') {
            return Err(CallError::InvalidRequest(format!(
                "the path of `{}` must start with `/`, got `{}`",
                spec.action, spec.path
            )));
        }
        let (body, content_type) = match &spec.body {
            Body::None => (None, None),
            Body::Form(pairs) => (
                Some(form_urlencode(pairs).into_bytes()),
                Some("application/x-www-form-urlencoded"),
            ),
            Body::Json(value) => (
                // Serialising a Value cannot fail (string keys, no custom Serialize).
                Some(serde_json::to_vec(value).unwrap_or_default()),
                Some("application/json; charset=utf-8"),
            ),
        };
        let retry = self.config.retry;
        let started = Instant::now();
        let mut attempt = 1u32;
        loop {
            self.breaker.admit(&endpoint, &spec.action)?;
            let result = {
                let permit = self.limiter.acquire();
                let result = self.send_once(spec, &endpoint, body.as_deref(), content_type);
                match &result {
                    Err(CallError::Api(e)) if e.is_throttling() => self.limiter.throttled(&permit),
                    Err(CallError::Transport { .. }) => {}
                    Err(CallError::Api(e)) if (500..=599).contains(&e.status) => {}
                    _ => self.limiter.succeeded(),
                }
                result
            };
            self.breaker
                .record(health(&result), || failure_reason(&result));
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable()
                || attempt >= retry.max_attempts
                || (error.is_ambiguous() && !options.retry_ambiguous)
            {
                return Err(error);
            }
            let delay = error
                .retry_after()
                .unwrap_or_else(|| retry.backoff(attempt));
            if started.elapsed().saturating_add(delay) > retry.max_elapsed
                || Instant::now() + delay > self.deadline
            {
                return Err(error);
            }
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        spec: &RequestSpec,
        endpoint: &Endpoint,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Result<Value, CallError> {
        let mut headers = vec![
            ("host".to_string(), endpoint.authority.clone()),
            ("x-acs-action".to_string(), spec.action.clone()),
            (
                "x-acs-version".to_string(),
                spec.product.version().to_string(),
            ),
        ];
        if let Some(ct) = content_type {
            headers.push(("content-type".to_string(), ct.to_string()));
        }
        // One overriding endpoint (the emulator) serves every region, so the region travels in a
        // signed header; the public hosts carry it in their names and get no extra header.
        if self.config.endpoint.is_some()
            && let Some(region) = &spec.region
        {
            headers.push(("x-acs-region-id".to_string(), region.clone()));
        }
        let headers = self.signer.sign(&RequestToSign {
            method: spec.method.as_str(),
            path: &spec.path,
            query: &spec.query,
            headers: &headers,
            body: body.unwrap_or_default(),
        });

        let mut url = format!("{}{}", endpoint.base_url(), spec.path);
        if !spec.query.is_empty() {
            // The wire query uses the canonical encoding (`%20` for a space), so what is sent is
            // exactly what was signed, whatever the server's decoder.
            let query: Vec<String> = spec
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let mut request = ureq::http::Request::builder()
            .method(spec.method.as_str())
            .uri(&url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }

        self.api_calls.fetch_add(1, Ordering::Relaxed);
        *lock(&self.by_operation)
            .entry(spec.product.name().to_string())
            .or_default()
            .entry(spec.action.clone())
            .or_default() += 1;
        let transport = |e: &dyn fmt::Display, sent: bool| CallError::Transport {
            endpoint: endpoint.base_url(),
            action: spec.action.clone(),
            message: e.to_string(),
            sent,
        };
        let invalid = |e: ureq::http::Error| {
            CallError::InvalidRequest(format!(
                "failed to build the `{}` request: {e}",
                spec.action
            ))
        };
        let result = match (body, spec.method) {
            (Some(bytes), _) => self.agent.run(request.body(bytes).map_err(invalid)?),
            // POST/PUT without a body still say `content-length: 0`, as the SDK does: some
            // gateways answer 411 otherwise.
            (None, Method::Post | Method::Put) => {
                self.agent.run(request.body(&[][..]).map_err(invalid)?)
            }
            (None, _) => self.agent.run(request.body(()).map_err(invalid)?),
        };
        let mut response = result.map_err(|e| transport(&e, !never_sent(&e)))?;

        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("x-acs-retry-after");
        let request_id = header("x-acs-request-id");
        let bytes = response
            .body_mut()
            .read_to_vec()
            .map_err(|e| transport(&e, true))?;

        if !(200..=299).contains(&status) {
            return Err(ApiError::from_response(
                status,
                retry_after.as_deref(),
                request_id.as_deref(),
                &bytes,
            )
            .with_action(spec.action.as_str())
            .into());
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| CallError::InvalidResponse {
                action: spec.action.clone(),
                status,
                reason: if bytes.is_empty() {
                    "the body is empty".to_string()
                } else {
                    format!("the body is not JSON ({e})")
                },
            })?;
        if let Some(error) = ApiError::from_success_body(status, &value) {
            return Err(error.with_action(spec.action.as_str()).into());
        }
        Ok(value)
    }
}

mod breaker;
mod limiter;

use breaker::{Breaker, failure_reason, health};
pub use limiter::Limiter;

#[cfg(test)]
mod tests;
