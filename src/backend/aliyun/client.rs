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
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::{ApiError, CallError};
use crate::acs::credentials::Credentials;
use crate::acs::encoding::form_urlencode;
pub use crate::acs::product::Product;
use crate::acs::signing::{RequestToSign, Signer, percent_encode};

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
    /// `application/x-www-form-urlencoded`, already flattened (see [`crate::acs::encoding::flatten`]);
    /// sent sorted by key. An empty list still sends the (empty) body and its content-type, as the
    /// SDK does for operations that define body fields.
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

/// An adaptive cap on calls in flight (AIMD, as TCP does): a throttled answer halves the cap, each
/// success adds `1/cap`, so a full window of successes adds one. Throttles answering calls that
/// started before the last cut do not cut again: one burst of flow control is one signal.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    state: Mutex<LimiterState>,
    freed: Condvar,
}

#[derive(Debug)]
struct LimiterState {
    /// The cap, fractional so that slow growth accumulates; calls start while `in_flight < cap`.
    cap: f64,
    in_flight: usize,
    /// Bumped on every cut; a permit remembers the epoch it started in.
    epoch: u64,
}

/// One call in flight; dropping it frees the slot.
struct Permit<'a> {
    limiter: &'a Limiter,
    epoch: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        lock(&self.limiter.state).in_flight -= 1;
        self.limiter.freed.notify_one();
    }
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            state: Mutex::new(LimiterState {
                cap: max as f64,
                in_flight: 0,
                epoch: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// The current cap (at least 1).
    pub fn cap(&self) -> usize {
        (lock(&self.state).cap as usize).max(1)
    }

    fn acquire(&self) -> Permit<'_> {
        let mut state = lock(&self.state);
        while state.in_flight >= (state.cap as usize).max(1) {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.in_flight += 1;
        Permit {
            limiter: self,
            epoch: state.epoch,
        }
    }

    fn throttled(&self, permit: &Permit<'_>) {
        let mut state = lock(&self.state);
        if permit.epoch == state.epoch {
            state.cap = (state.cap / 2.0).max(1.0);
            state.epoch += 1;
        }
    }

    fn succeeded(&self) {
        let grew = {
            let mut state = lock(&self.state);
            let before = state.cap as usize;
            state.cap = (state.cap + 1.0 / state.cap).min(self.max as f64);
            state.cap as usize > before
        };
        if grew {
            self.freed.notify_one();
        }
    }
}

/// What an attempt says about the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// An answer that was not a server error: the service works.
    Good,
    /// No answer, or a 5xx.
    Bad,
    /// Throttled, or nothing was sent: says nothing either way.
    Neutral,
}

fn health(result: &Result<Value, CallError>) -> Health {
    match result {
        Ok(_) => Health::Good,
        Err(CallError::Transport { .. }) => Health::Bad,
        Err(CallError::Api(e)) if e.is_throttling() => Health::Neutral,
        Err(CallError::Api(e)) if (500..=599).contains(&e.status) => Health::Bad,
        Err(CallError::Api(_) | CallError::InvalidResponse { .. }) => Health::Good,
        Err(CallError::InvalidRequest(_) | CallError::Unavailable { .. }) => Health::Neutral,
    }
}

/// A circuit breaker over every call of the client: closed (calls go through) until
/// [`BreakerPolicy::min_failures`] attempts in a row have failed over at least
/// [`BreakerPolicy::window`]; then open (every call fails at once with
/// [`CallError::Unavailable`]) for [`BreakerPolicy::cooldown`]; then one call goes through as a
/// probe, and its outcome closes or re-opens the breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    /// Failed attempts since the last success.
    streak: u32,
    first_failure: Option<Instant>,
    last_failure: Option<Instant>,
    /// Why the latest attempt failed.
    last_reason: String,
    /// Since when the breaker is open.
    open_since: Option<Instant>,
    /// A probe is in flight: everyone else is still refused.
    probing: bool,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::default(),
        }
    }

    /// Whether calls are being refused right now.
    pub fn is_open(&self) -> bool {
        lock(&self.state).open_since.is_some()
    }

    /// Lets an attempt through, or refuses it while the breaker is open.
    fn admit(&self, endpoint: &Endpoint, action: &str) -> Result<(), CallError> {
        let mut state = lock(&self.state);
        let Some(since) = state.open_since else {
            return Ok(());
        };
        if since.elapsed() >= self.policy.cooldown && !state.probing {
            state.probing = true;
            return Ok(());
        }
        let over = match (state.first_failure, state.last_failure) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        Err(CallError::Unavailable {
            endpoint: endpoint.base_url(),
            action: action.to_string(),
            failures: state.streak,
            over,
            last: state.last_reason.clone(),
        })
    }

    fn record(&self, health: Health, reason: impl FnOnce() -> String) {
        let mut state = lock(&self.state);
        let probe = std::mem::take(&mut state.probing);
        match health {
            Health::Good => {
                *state = BreakerState::default();
            }
            Health::Neutral if probe => {
                *state = BreakerState::default();
            }
            Health::Neutral => {}
            Health::Bad => {
                let now = Instant::now();
                state.streak = state.streak.saturating_add(1);
                let first = *state.first_failure.get_or_insert(now);
                state.last_failure = Some(now);
                state.last_reason = reason();
                if probe
                    || (state.open_since.is_none()
                        && state.streak >= self.policy.min_failures
                        && now.saturating_duration_since(first) >= self.policy.window)
                {
                    state.open_since = Some(now);
                }
            }
        }
    }
}

/// A short reason for the breaker's message.
fn failure_reason(result: &Result<Value, CallError>) -> String {
    match result {
        Err(CallError::Transport { message, .. }) => message.clone(),
        Err(CallError::Api(e)) => format!("HTTP {} {}", e.status, e.code).trim().to_string(),
        Err(other) => other.to_string(),
        Ok(_) => String::new(),
    }
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
            // A redirect would be re-sent with a signature for the old host; the APIs never send one.
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
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;
    use std::time::SystemTime;

    use serde_json::json;

    use super::*;
    use crate::acs::encoding::{flatten, parse_urlencoded, unflatten};
    use crate::acs::verify::{DEFAULT_WINDOW, NonceCache, VerifyOptions, verify};
    use crate::backend::BackendError;

    /// What the test server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// The verifier's verdict: the access key id, or the platform error code.
        verdict: Result<String, &'static str>,
    }

    /// One scripted answer: status, extra headers, body.
    type Reply = (u16, Vec<(&'static str, String)>, String);

    /// A one-thread HTTP/1.1 server on 127.0.0.1:0 that verifies every request's signature with
    /// the emulator's verifier (time window and nonce cache on), then answers from a script; a
    /// request that fails verification gets the gateway's error instead.
    fn serve(script: Vec<Reply>) -> (String, JoinHandle<Vec<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let nonces = NonceCache::new(DEFAULT_WINDOW);
            let mut seen = Vec::new();
            for (status, extra, body) in script {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap().to_string();
                let target = parts.next().unwrap().to_string();
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_string(), q.to_string()),
                    None => (target.clone(), String::new()),
                };
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (n, v) = h.split_once(':').unwrap();
                    headers.push((n.to_string(), v.trim().to_string()));
                }
                let length = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse::<usize>().unwrap())
                    .unwrap_or(0);
                let mut req_body = vec![0; length];
                reader.read_exact(&mut req_body).unwrap();

                let verdict = verify(
                    &method,
                    &path,
                    &query,
                    &headers,
                    &req_body,
                    |ak| (ak == "testAK").then(|| "testSecret".to_string()),
                    SystemTime::now(),
                    &VerifyOptions {
                        max_clock_skew: Some(DEFAULT_WINDOW),
                        nonce_cache: Some(&nonces),
                    },
                );
                let (status, extra, body) = match &verdict {
                    Ok(_) => (status, extra, body),
                    Err(e) => (
                        e.http_status(),
                        vec![],
                        json!({"RequestId": "V-1", "Code": e.code(), "Message": e.to_string()})
                            .to_string(),
                    ),
                };
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json;charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (n, v) in extra {
                    response.push_str(&format!("{n}: {v}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&body);
                stream.write_all(response.as_bytes()).unwrap();
                seen.push(Seen {
                    method,
                    path,
                    query,
                    headers,
                    body: req_body,
                    verdict: verdict.map(|ak| ak.0).map_err(|e| e.code()),
                });
            }
            seen
        });
        (endpoint, handle)
    }

    fn client(endpoint: &str, secret: &str) -> Client {
        Client::new(
            Credentials::new("testAK", secret),
            ClientConfig {
                endpoint: Some(Endpoint::parse(endpoint).unwrap()),
                retry: RetryPolicy {
                    max_attempts: 6,
                    // A hang guard, never reached: retries stop on attempts in these tests.
                    max_elapsed: crate::testing::harness::HANG_GUARD,
                    base_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(5),
                },
                ..ClientConfig::default()
            },
        )
    }

    fn ok_body() -> String {
        json!({"requestId": "OK-1", "code": "200", "success": true, "workspaces": []}).to_string()
    }

    #[test]
    fn throttled_twice_then_succeeds() {
        let throttled = json!({"Code": "Throttling.User",
            "Message": "Request was denied due to user flow control."})
        .to_string();
        let (endpoint, server) = serve(vec![
            (
                429,
                vec![("x-acs-retry-after", "5".to_string())],
                throttled.clone(),
            ),
            (400, vec![], throttled),
            (200, vec![], ok_body()),
        ]);
        let client = client(&endpoint, "testSecret");
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "ListWorkspaces",
            Method::Get,
            "/modelstudio/workspaces",
        )
        .query("maxResults", "10")
        .query("workspaceName", "my ws*~");
        let value = client.call(&spec).unwrap();
        assert_eq!(value["requestId"], "OK-1");
        assert_eq!(client.api_calls(), 3);

        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 3);
        // Every attempt was signed afresh: all verified, with the nonce cache on.
        for s in &seen {
            assert_eq!(s.verdict, Ok("testAK".to_string()), "{s:?}");
            assert_eq!(s.method, "GET");
            assert_eq!(s.path, "/modelstudio/workspaces");
            assert_eq!(s.query, "maxResults=10&workspaceName=my%20ws%2A~");
            assert!(s.body.is_empty());
        }
    }

    #[test]
    fn no_permission_is_typed_with_a_hint_and_not_retried() {
        let body = json!({"RequestId": "R-403", "Code": "NoPermission",
            "Message": "You are not authorized to do this action.",
            "AccessDeniedDetail": {"AuthAction": "ram:CreateUser", "NoPermissionType": "ImplicitDeny",
                "AuthPrincipalType": "SubUser", "PolicyType": "AccountLevelIdentityBasedPolicy"}})
        .to_string();
        let (endpoint, server) = serve(vec![(403, vec![], body)]);
        let client = client(&endpoint, "testSecret");
        let spec = RequestSpec::rpc(Product::Ram, "CreateUser")
            .query("UserName", "alice")
            .query("DisplayName", "Alice Ü");
        let err = client.call(&spec).unwrap_err();
        assert_eq!(client.api_calls(), 1);
        let api = err.api().unwrap();
        assert_eq!((api.status, api.code.as_str()), (403, "NoPermission"));
        assert_eq!(api.request_id.as_deref(), Some("R-403"));
        assert_eq!(
            api.access_denied.as_ref().unwrap().auth_action.as_deref(),
            Some("ram:CreateUser")
        );
        let hint = err.hint().unwrap();
        assert!(hint.contains("`ram:CreateUser`"), "{hint}");
        let BackendError::Refused(message) = BackendError::from(err) else {
            panic!("expected Refused");
        };
        assert!(message.starts_with("failed to call `CreateUser`: HTTP 403 NoPermission"));
        assert!(!message.contains("testSecret"));
        let seen = server.join().unwrap();
        assert_eq!(seen[0].verdict, Ok("testAK".to_string()));
    }

    /// Form and JSON bodies, an encoded path segment, and a wrong secret, through the verifier.
    #[test]
    fn signatures_verify_for_every_body_kind() {
        let (endpoint, server) = serve(vec![
            (200, vec![], ok_body()),
            (200, vec![], ok_body()),
            (200, vec![], ok_body()),
            (200, vec![], ok_body()),
            (200, vec![], ok_body()),
        ]);
        let good = client(&endpoint, "testSecret");
        let auth = json!({"auth": {"type": "Custom", "accessIps": ["1.2.3.4/32"],
            "modelAccessScope": {"allowAllModels": false, "accessibleModels": ["qwen-plus"]}}});
        let form = RequestSpec::roa(
            Product::ModelStudio,
            "CreateApiKey",
            Method::Post,
            "/modelstudio/apikeys",
        )
        .query("description", "k 1+2")
        .body(Body::Form(flatten(&auth)));
        good.call(&form).unwrap();
        let empty_form = form.clone().body(Body::Form(vec![]));
        good.call(&empty_form).unwrap();
        let members = json!({"Members": [{"Roles": ["PAI.AlgoDeveloper"], "UserId": "2000"}]});
        let json_call = RequestSpec::roa(
            Product::AiWorkspace,
            "CreateMember",
            Method::Post,
            "/api/v1/workspaces/123/members",
        )
        .body(Body::Json(members));
        good.call(&json_call).unwrap();
        let delete = RequestSpec::roa(
            Product::ModelStudio,
            "DeleteWorkspace",
            Method::Delete,
            format!(
                "/modelstudio/workspaces/{}",
                crate::acs::signing::encode_path_segment("ws-a/b c")
            ),
        );
        good.call(&delete).unwrap();

        let bad = client(&endpoint, "wrongSecret");
        let err = bad.call(&delete).unwrap_err();
        assert_eq!(
            err.api().map(|e| e.code.as_str()),
            Some("SignatureDoesNotMatch")
        );
        assert!(matches!(BackendError::from(err), BackendError::Refused(_)));
        assert_eq!(bad.api_calls(), 1);

        let seen = server.join().unwrap();
        let verdicts: Vec<_> = seen.iter().map(|s| s.verdict.clone()).collect();
        let ok = Ok("testAK".to_string());
        assert_eq!(
            verdicts,
            vec![
                ok.clone(),
                ok.clone(),
                ok.clone(),
                ok,
                Err("SignatureDoesNotMatch")
            ]
        );
        let header = |s: &Seen, name: &str| {
            s.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        // The form body decodes back to what was sent.
        let sent = unflatten(&parse_urlencoded(
            std::str::from_utf8(&seen[0].body).unwrap(),
        ));
        assert_eq!(
            sent.unwrap(),
            json!({"auth": {"accessIps": ["1.2.3.4/32"], "modelAccessScope":
                {"accessibleModels": ["qwen-plus"], "allowAllModels": "false"}, "type": "Custom"}})
        );
        assert_eq!(
            header(&seen[0], "content-type").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(seen[0].query, "description=k%201%2B2");
        assert!(seen[1].body.is_empty());
        assert_eq!(
            header(&seen[1], "content-type").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            seen[2].body,
            br#"{"Members":[{"Roles":["PAI.AlgoDeveloper"],"UserId":"2000"}]}"#
        );
        assert_eq!(
            header(&seen[2], "x-acs-version").as_deref(),
            Some("2021-02-04")
        );
        assert_eq!(seen[3].path, "/modelstudio/workspaces/ws-a%2Fb%20c");
        assert_eq!(header(&seen[3], "content-type"), None);
        assert_eq!(
            header(&seen[3], "host"),
            Some(endpoint["http://".len()..].to_string())
        );
    }

    #[test]
    fn retries_stop_at_max_attempts() {
        let unavailable = json!({"Code": "ServiceUnavailable"}).to_string();
        let (endpoint, server) = serve(vec![
            (503, vec![], unavailable.clone()),
            (503, vec![], unavailable.clone()),
            (503, vec![], unavailable),
        ]);
        let mut client = client(&endpoint, "testSecret");
        client.config.retry.max_attempts = 3;
        let spec = RequestSpec::rpc(Product::Ram, "ListUsers");
        let err = client.call(&spec).unwrap_err();
        assert_eq!(client.api_calls(), 3);
        assert!(matches!(
            BackendError::from(err),
            BackendError::Transport(_)
        ));
        server.join().unwrap();
    }

    #[test]
    fn retry_after_beyond_the_time_budget_gives_up_at_once() {
        let (endpoint, server) = serve(vec![(
            429,
            vec![("x-acs-retry-after", "3600000".to_string())],
            json!({"Code": "Throttling"}).to_string(),
        )]);
        let client = client(&endpoint, "testSecret");
        let err = client
            .call(&RequestSpec::rpc(Product::Ram, "ListUsers"))
            .unwrap_err();
        assert_eq!(client.api_calls(), 1);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
        assert!(matches!(
            BackendError::from(err),
            BackendError::Throttled(_)
        ));
        server.join().unwrap();
    }

    #[test]
    fn success_false_and_unreadable_bodies_are_errors() {
        let (endpoint, server) = serve(vec![
            (
                200,
                vec![],
                json!({"requestId": "r-9", "code": "Workspace.NotFound", "success": false})
                    .to_string(),
            ),
            (200, vec![], String::new()),
        ]);
        let client = client(&endpoint, "testSecret");
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "ListWorkspaces",
            Method::Get,
            "/modelstudio/workspaces",
        );
        let err = client.call(&spec).unwrap_err();
        assert!(matches!(BackendError::from(err), BackendError::NotFound(_)));
        let err = client.call(&spec).unwrap_err();
        assert!(
            matches!(err, CallError::InvalidResponse { status: 200, .. }),
            "{err:?}"
        );
        assert_eq!(client.api_calls(), 2);
        server.join().unwrap();
    }

    #[test]
    fn connection_failures_are_retried_transport_errors() {
        // A port that was just free: nothing listens there any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = client(&format!("http://127.0.0.1:{port}"), "testSecret");
        client.config.retry.max_attempts = 2;
        let err = client
            .call(&RequestSpec::rpc(Product::Ram, "ListUsers"))
            .unwrap_err();
        assert!(matches!(err, CallError::Transport { .. }), "{err:?}");
        assert_eq!(client.api_calls(), 2);
        let BackendError::Transport(message) = BackendError::from(err) else {
            panic!("expected Transport");
        };
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("testSecret"));
    }

    #[test]
    fn default_hosts_and_endpoint_override() {
        assert_eq!(
            Product::ModelStudio
                .default_host(Some("cn-beijing"))
                .unwrap(),
            "modelstudio.cn-beijing.aliyuncs.com"
        );
        assert_eq!(
            Product::AiWorkspace
                .default_host(Some("cn-hangzhou"))
                .unwrap(),
            "aiworkspace.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(Product::Ram.default_host(None).unwrap(), "ram.aliyuncs.com");
        assert!(Product::ModelStudio.default_host(None).is_err());
        assert!(
            Product::ModelStudio
                .default_host(Some("evil.com/x"))
                .is_err()
        );

        let c = Client::new(Credentials::new("a", "b"), ClientConfig::default());
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "ListModels",
            Method::Get,
            "/modelstudio/models",
        )
        .region("ap-southeast-1");
        assert_eq!(
            c.endpoint_for(&spec).unwrap(),
            Endpoint::https("modelstudio.ap-southeast-1.aliyuncs.com")
        );
        let c = Client::new(
            Credentials::new("a", "b"),
            ClientConfig {
                endpoint: Some(Endpoint::parse("http://127.0.0.1:18080").unwrap()),
                ..ClientConfig::default()
            },
        );
        assert_eq!(c.endpoint_for(&spec).unwrap().authority, "127.0.0.1:18080");
        assert!(!format!("{c:?}").contains("\"b\""));
        let relative = RequestSpec::roa(Product::Ram, "ListUsers", Method::Post, "api");
        assert!(matches!(
            c.call(&relative),
            Err(CallError::InvalidRequest(_))
        ));
        assert_eq!(c.api_calls(), 0);

        let parsed = |s: &str| Endpoint::parse(s).map(|e| (e.scheme, e.authority));
        assert_eq!(
            parsed("HTTPS://h.example/"),
            Ok((Scheme::Https, "h.example".into()))
        );
        assert_eq!(
            parsed("h.example:8443"),
            Ok((Scheme::Https, "h.example:8443".into()))
        );
        for bad in [
            "",
            "http://",
            "ftp://h",
            "http://h/path",
            "http://u:p@h",
            "http://h x",
            "http://h?q",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("http://127.0.0.1:1").unwrap().is_loopback());
        assert!(Endpoint::parse("http://[::1]:1").unwrap().is_loopback());
        assert!(Endpoint::parse("http://localhost").unwrap().is_loopback());
        assert!(
            !Endpoint::parse("https://ram.aliyuncs.com")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn without_ambiguous_retry_a_5xx_comes_back_at_once_but_throttling_is_retried() {
        let (endpoint, server) = serve(vec![
            (
                429,
                vec![("x-acs-retry-after", "1".to_string())],
                json!({"Code": "Throttling.User"}).to_string(),
            ),
            (
                503,
                vec![],
                json!({"Code": "ServiceUnavailable"}).to_string(),
            ),
        ]);
        let c = client(&endpoint, "testSecret");
        let spec = RequestSpec::rpc(Product::Ram, "CreateUser").query("UserName", "alice");
        let err = c
            .call_with(&spec, CallOptions::NO_AMBIGUOUS_RETRY)
            .unwrap_err();
        // The throttled attempt was retried (nothing was done); the 503 was not (it may have been).
        assert_eq!(c.api_calls(), 2);
        assert!(err.is_ambiguous(), "{err:?}");
        assert_eq!(err.api().map(|e| e.status), Some(503));
        server.join().unwrap();

        // A connection never made is not ambiguous: retried as usual.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = client(&format!("http://127.0.0.1:{port}"), "testSecret");
        client.config.retry.max_attempts = 3;
        let err = client
            .call_with(&spec, CallOptions::NO_AMBIGUOUS_RETRY)
            .unwrap_err();
        assert!(
            matches!(err, CallError::Transport { sent: false, .. }),
            "{err:?}"
        );
        assert!(!err.is_ambiguous());
        assert_eq!(client.api_calls(), 3);
    }

    #[test]
    fn a_dropped_connection_after_sending_is_ambiguous() {
        // A server that reads the request and closes without a word (the emulator's drop fault).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            stream.shutdown(std::net::Shutdown::Both).unwrap();
        });
        let client = client(&endpoint, "testSecret");
        let spec = RequestSpec::rpc(Product::Ram, "CreateUser").query("UserName", "alice");
        let err = client
            .call_with(&spec, CallOptions::NO_AMBIGUOUS_RETRY)
            .unwrap_err();
        assert!(
            matches!(err, CallError::Transport { sent: true, .. }),
            "{err:?}"
        );
        assert!(err.is_ambiguous());
        assert_eq!(client.api_calls(), 1);
        let message = err.to_string();
        assert!(
            message.starts_with("failed to call `CreateUser`"),
            "{message}"
        );
        server.join().unwrap();
    }

    #[test]
    fn throttling_halves_the_concurrency_cap_and_successes_raise_it_again() {
        let limiter = Limiter::new(8);
        assert_eq!(limiter.cap(), 8);
        let (a, b) = (limiter.acquire(), limiter.acquire());
        limiter.throttled(&a);
        assert_eq!(limiter.cap(), 4);
        // b started before the cut: the same burst of flow control does not cut twice.
        limiter.throttled(&b);
        assert_eq!(limiter.cap(), 4);
        drop((a, b));
        let c = limiter.acquire();
        limiter.throttled(&c);
        assert_eq!(limiter.cap(), 2);
        drop(c);
        for _ in 0..3 {
            let d = limiter.acquire();
            limiter.throttled(&d);
        }
        assert_eq!(limiter.cap(), 1, "never below one");
        let mut successes = 0;
        while limiter.cap() < 8 {
            limiter.succeeded();
            successes += 1;
            assert!(successes < 100, "the cap must grow back");
        }
        limiter.succeeded();
        assert_eq!(limiter.cap(), 8, "never above the maximum");

        // Through the client: a throttled answer lowers the cap, later successes raise it.
        let throttled = (
            429,
            vec![("x-acs-retry-after", "1".to_string())],
            json!({"Code": "Throttling.User"}).to_string(),
        );
        let mut script = vec![throttled.clone(), throttled];
        script.extend((0..40).map(|_| (200, vec![], ok_body())));
        let (endpoint, server) = serve(script);
        let mut client = client(&endpoint, "testSecret");
        client.limiter = Limiter::new(4);
        let spec = RequestSpec::rpc(Product::Ram, "ListUsers");
        client.call(&spec).unwrap();
        // Two cuts, 4 → 2 → 1, then one success: 1 + 1/1.
        assert_eq!(client.concurrency(), 2);
        for _ in 0..39 {
            client.call(&spec).unwrap();
        }
        assert_eq!(client.concurrency(), 4);
        server.join().unwrap();
    }

    #[test]
    fn the_breaker_opens_after_failures_over_a_window_and_a_probe_closes_it() {
        let endpoint = Endpoint::parse("http://127.0.0.1:9").unwrap();
        let bad: Result<Value, CallError> = Err(CallError::Transport {
            endpoint: endpoint.base_url(),
            action: "ListUsers".into(),
            message: "connection refused".into(),
            sent: false,
        });
        let throttled: Result<Value, CallError> = Err(CallError::from(ApiError::from_response(
            429,
            Some("10"),
            None,
            b"{}",
        )));
        let breaker = Breaker::new(BreakerPolicy {
            min_failures: 3,
            window: Duration::ZERO,
            cooldown: Duration::from_secs(3600),
        });
        for _ in 0..2 {
            breaker.record(health(&bad), || failure_reason(&bad));
            // Throttling says nothing about health: it neither counts nor breaks the streak.
            breaker.record(health(&throttled), || failure_reason(&throttled));
        }
        assert!(breaker.admit(&endpoint, "ListUsers").is_ok());
        breaker.record(health(&Ok(Value::Null)), String::new);
        breaker.record(health(&bad), || failure_reason(&bad));
        breaker.record(health(&bad), || failure_reason(&bad));
        assert!(!breaker.is_open(), "a success broke the streak");
        breaker.record(health(&bad), || failure_reason(&bad));
        assert!(breaker.is_open());
        let err = breaker.admit(&endpoint, "CreateUser").unwrap_err();
        let CallError::Unavailable {
            failures,
            action,
            last,
            ..
        } = &err
        else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert_eq!((*failures, action.as_str()), (3, "CreateUser"));
        assert_eq!(last, "connection refused");
        assert!(!err.is_retryable());
        assert!(matches!(
            BackendError::from(err),
            BackendError::Unavailable(_)
        ));

        // After the cooldown one probe goes through while the others are still refused.
        let breaker = Breaker::new(BreakerPolicy {
            min_failures: 1,
            window: Duration::ZERO,
            cooldown: Duration::ZERO,
        });
        breaker.record(health(&bad), || failure_reason(&bad));
        assert!(breaker.is_open());
        assert!(breaker.admit(&endpoint, "ListUsers").is_ok());
        assert!(breaker.admit(&endpoint, "ListUsers").is_err());
        breaker.record(health(&bad), || failure_reason(&bad));
        assert!(breaker.is_open(), "a failed probe re-opens");
        assert!(breaker.admit(&endpoint, "ListUsers").is_ok());
        breaker.record(health(&Ok(Value::Null)), String::new);
        assert!(!breaker.is_open(), "a good probe closes");
        assert!(breaker.admit(&endpoint, "ListUsers").is_ok());
    }

    #[test]
    fn a_dead_endpoint_opens_the_breaker_and_later_calls_fail_at_once() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(
            Credentials::new("testAK", "testSecret"),
            ClientConfig {
                endpoint: Some(Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap()),
                retry: RetryPolicy {
                    max_attempts: 50,
                    max_elapsed: Duration::from_secs(30),
                    base_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(2),
                },
                breaker: BreakerPolicy {
                    min_failures: 4,
                    window: Duration::ZERO,
                    cooldown: Duration::from_secs(3600),
                },
                ..ClientConfig::default()
            },
        );
        let spec = RequestSpec::rpc(Product::Ram, "ListUsers");
        let err = client.call(&spec).unwrap_err();
        assert!(matches!(err, CallError::Unavailable { .. }), "{err:?}");
        assert_eq!(client.api_calls(), 4, "the breaker cut the retries short");
        assert!(client.is_unavailable());
        let err = client.call(&spec).unwrap_err();
        assert!(matches!(err, CallError::Unavailable { .. }), "{err:?}");
        assert_eq!(client.api_calls(), 4, "an open breaker sends nothing");
        let message = BackendError::from(err).to_string();
        assert!(message.contains("looks unavailable"), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("testSecret"));
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let policy = RetryPolicy::default();
        for retry in 1..40 {
            assert!(policy.backoff(retry) <= policy.max_delay);
        }
        assert!(policy.backoff(1) <= policy.base_delay);
    }

    #[test]
    fn ambiguous_failures_are_returned_when_asked_and_throttling_is_still_retried() {
        let err = |status: u16, code: &str| {
            (
                status,
                vec![],
                json!({"Code": code, "Message": "m"}).to_string(),
            )
        };
        let (endpoint, server) = serve(vec![
            err(429, "Throttling.User"),
            err(500, "InternalError"),
            err(503, "ServiceUnavailable"),
            (200, vec![], ok_body()),
        ]);
        let client = client(&endpoint, "testSecret");
        let spec = RequestSpec::roa(
            Product::ModelStudio,
            "CreateWorkspace",
            Method::Post,
            "/modelstudio/workspaces",
        );
        // Throttling is retried; the 500 that follows comes back at once.
        let first = client
            .call_with(&spec, CallOptions::NO_AMBIGUOUS_RETRY)
            .unwrap_err();
        assert!(first.is_ambiguous(), "{first:?}");
        assert_eq!(client.api_calls(), 2);
        // The default retries it.
        assert!(client.call(&spec).is_ok());
        assert_eq!(client.api_calls(), 4);
        server.join().unwrap();

        let throttled = CallError::from(ApiError::from_response(
            400,
            Some("5"),
            None,
            br#"{"Code":"Throttling.User","Message":"m"}"#,
        ));
        assert!(!throttled.is_ambiguous());
        assert!(!CallError::InvalidRequest("x".into()).is_ambiguous());
    }

    #[test]
    fn client_is_shareable() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<Client>();
    }
}
