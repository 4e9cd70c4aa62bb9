//! `msctl emulator`: an HTTP server that speaks the wire protocol of Model Studio 2026-02-10, RAM
//! 2015-05-01 and PAI AIWorkSpace 2021-02-04 (contract `shared/api/alibaba-api.md`), backed by
//! the local backend's SQLite [`Store`], so the aliyun client and the official SDKs can be tested
//! end to end on loopback, and `msctl --backend local` sees the same world.
//!
//! One request: read (own small HTTP/1.1 reader, [`crate::http`]), sleep the injected latency,
//! draw a fault ([`faults`]; before anything else, so a failed request never changed state,
//! except a lost reply, which is executed and then left unanswered), verify the ACS3 signature
//! with the aliyun layer's verifier, route on `x-acs-version` + `x-acs-action` and check the
//! method and path template (never the Host header), decode the parameters as the SDKs encode
//! them, and run the product's handler with the store locked, so each operation is atomic with
//! respect to the others.

pub mod faults;
mod modelstudio;
mod pai;
mod ram;
mod sts;
mod wire;

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use crate::acs::encoding::parse_urlencoded;
use crate::acs::verify::{DEFAULT_WINDOW, NonceCache, VerifyOptions, verify};
use crate::acs::{Credentials, Product};
use crate::backend::BackendError;
use crate::http::{Connection, HttpRequest, Incoming};
use crate::pool::{self, Pool};
use crate::store::Store;

pub use faults::{Fault, FaultConfig};
use wire::{Failure, Params};

/// How long a keep-alive connection may sit idle before the emulator closes it.
const IDLE: Duration = Duration::from_secs(10);

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// `host:port` to listen on; port 0 picks a free one (see [`RunningEmulator::addr`]).
    pub listen: String,
    /// The SQLite state file shared with `msctl --backend local`.
    pub state: PathBuf,
    /// The one valid access key; its `Debug` hides the secret.
    pub credentials: Credentials,
    /// Region of requests that name none (a loopback Host, no `x-acs-region-id`).
    pub region: String,
    /// The account's UID: `createdBy` of API keys made through the API.
    pub account_uid: String,
    /// The RAM user the access key belongs to (STS `GetCallerIdentity` answers with it, and API
    /// keys made through the API are that user's); `None`: the account's own access key.
    pub caller_user: Option<String>,
    pub faults: FaultConfig,
    /// Refuse requests whose `x-acs-date` is more than 15 minutes off.
    pub check_clock: bool,
    /// Refuse a nonce seen in the last 15 minutes.
    pub check_nonce: bool,
    /// Connections served at once.
    pub workers: usize,
    /// One line per request on stderr (method, path, action, status, time; never parameters).
    pub log: bool,
    /// How long a keep-alive connection may sit idle before it is closed, when no other
    /// connection waits for a worker (default 10 s; tests raise it so that only making way, not
    /// the idle limit, can free a worker).
    pub idle: Duration,
}

impl EmulatorConfig {
    /// Defaults: an ephemeral loopback port, `cn-beijing`, every check on, no faults, no log.
    pub fn new(state: impl Into<PathBuf>, credentials: Credentials) -> Self {
        Self {
            listen: "127.0.0.1:0".to_string(),
            state: state.into(),
            credentials,
            region: "cn-beijing".to_string(),
            account_uid: "1378030599924858".to_string(),
            caller_user: None,
            faults: FaultConfig::default(),
            check_clock: true,
            check_nonce: true,
            workers: 8,
            log: false,
            idle: IDLE,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "failed to listen on `{addr}`: {source}\nhint: pick another port, or 0 for any free one"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] BackendError),
    #[error("{0}")]
    Config(String),
}

/// Stops a running emulator from anywhere (a signal handler, another thread).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    wake: SocketAddr,
}

impl ShutdownHandle {
    /// Asks the emulator to stop: no new connections, open ones end after their current request.
    pub fn shutdown(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            // The acceptor blocks in `accept`; one connection wakes it to see the flag.
            let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A started emulator. Dropping it shuts it down and waits for its threads.
#[derive(Debug)]
pub struct RunningEmulator {
    /// Where it listens (the real port when port 0 was asked for).
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    threads: Vec<JoinHandle<()>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`, for `--endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Stops and waits until every thread has finished.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Waits until someone calls [`ShutdownHandle::shutdown`], then for every thread.
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    fn stop_and_join(&mut self) {
        self.handle.shutdown();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What every connection thread shares.
struct Shared {
    store: Mutex<Store>,
    credentials: Credentials,
    region: String,
    account_uid: String,
    caller_user: Option<String>,
    check_clock: bool,
    nonces: Option<NonceCache>,
    faults: faults::FaultPlan,
    log: bool,
    stop: Arc<AtomicBool>,
    idle: Duration,
}

/// Opens the state, binds, and serves on background threads.
pub fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    config.faults.validate().map_err(EmulatorError::Config)?;
    if config.workers == 0 {
        return Err(EmulatorError::Config(
            "the emulator needs at least one worker".to_string(),
        ));
    }
    let store = Store::open(&config.state)?;
    let listener = TcpListener::bind(&config.listen).map_err(|source| EmulatorError::Bind {
        addr: config.listen.clone(),
        source,
    })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    // Waking the acceptor needs an address to connect to: the loopback one for a wildcard bind.
    let wake = if addr.ip().is_unspecified() {
        ("localhost", addr.port())
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or(addr)
    } else {
        addr
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        store: Mutex::new(store),
        credentials: config.credentials,
        region: config.region,
        account_uid: config.account_uid,
        caller_user: config.caller_user,
        check_clock: config.check_clock,
        nonces: config.check_nonce.then(|| NonceCache::new(DEFAULT_WINDOW)),
        faults: faults::FaultPlan::new(config.faults),
        log: config.log,
        stop: Arc::clone(&stop),
        idle: config.idle,
    };

    // One thread accepts and hands connections to `workers` threads of a pool; a connection
    // waits in the pool's queue until a worker is free.
    let workers = config.workers;
    let server = std::thread::spawn(move || {
        let serve = |pool: &Pool<TcpStream, ()>, stream| serve_connection(&shared, pool, stream);
        pool::run(workers, serve, |pool| {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                match stream {
                    Ok(stream) => {
                        if !pool.submit(stream) {
                            break;
                        }
                    }
                    // Out of descriptors or a connection reset before accept: back off briefly.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            // Returning closes the pool: the workers end once the queued connections are served.
        });
    });
    Ok(RunningEmulator {
        addr,
        handle: ShutdownHandle { stop, wake },
        threads: vec![server],
    })
}

fn serve_connection(shared: &Shared, pool: &Pool<TcpStream, ()>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(stream);
    let stopped = || shared.stop.load(Ordering::SeqCst);
    // An idle keep-alive connection makes way for connections waiting for a worker.
    let give_up = || stopped() || pool.waiting() > 0;
    loop {
        let request = match conn.read_request(shared.idle, &give_up) {
            Incoming::Request(r) => r,
            Incoming::Closed => return,
            Incoming::Bad(status, why) => {
                let failure = Failure::new(status, "InvalidRequest", why);
                let body = error_body(None, &wire::request_id(), &failure, &shared.region);
                let _ = conn.write_response(status, &[], body.to_string().as_bytes(), false);
                return;
            }
        };
        // A handler bug must cost one request a 500, not the worker thread.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.handle(&request)))
                .unwrap_or_else(|_| {
                    let failure =
                        Failure::new(500, "InternalError", "The emulator failed on this request.");
                    Outcome::Reply(Reply {
                        status: 500,
                        headers: Vec::new(),
                        body: error_body(None, &wire::request_id(), &failure, &shared.region),
                    })
                });
        match outcome {
            Outcome::Drop => {
                conn.abort();
                return;
            }
            Outcome::Reply(reply) => {
                // Others waiting for a worker get it sooner if this connection closes now.
                let keep = request.keep_alive && !stopped() && pool.waiting() == 0;
                let body = reply.body.to_string();
                if conn
                    .write_response(reply.status, &reply.headers, body.as_bytes(), keep)
                    .is_err()
                    || !keep
                {
                    return;
                }
            }
        }
    }
}

/// The answer to one request, or none at all.
enum Outcome {
    Reply(Reply),
    Drop,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

/// A product's operation as routed: the action, method and path template (`*` = a parameter).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub action: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

/// Every operation the emulator serves for `product`.
pub fn routes(product: Product) -> &'static [Route] {
    match product {
        Product::ModelStudio => modelstudio::ROUTES,
        Product::Ram => ram::ROUTES,
        Product::AiWorkspace => pai::ROUTES,
        Product::Sts => sts::ROUTES,
    }
}

/// One routed call as handlers see it.
pub(crate) struct Call<'a> {
    pub action: &'a str,
    /// Decoded values of the path template's `*` segments, in order.
    pub path: Vec<String>,
    /// Query parameters, followed by form-body parameters (RAM merges both; ROA form ops
    /// put their body fields there).
    pub params: Params,
    /// A JSON body (AIWorkSpace), when one was sent.
    pub json: Option<Value>,
}

/// What handlers may use besides the call.
pub(crate) struct Ctx<'a> {
    pub store: &'a mut Store,
    /// The region the request is for (see [`region_of`]).
    pub region: &'a str,
    pub account_uid: &'a str,
    /// The RAM user the access key belongs to (`None`: the account's own key).
    pub caller_user: Option<&'a str>,
}

/// Codes for the store's own failures while reading or writing the emulator's side records.
const META_CODES: wire::Codes = wire::Codes::new(
    "InternalError",
    "InternalError",
    "InternalError",
    "InternalError",
);

impl Ctx<'_> {
    /// A side record of the emulator in the store's meta table; an empty value counts as none.
    pub fn meta(&self, key: &str) -> Result<Option<String>, Failure> {
        self.store
            .meta(key)
            .map(|v| v.filter(|s| !s.is_empty()))
            .map_err(|e| wire::from_backend(e, META_CODES))
    }

    /// Writes a side record; the empty string clears it.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), Failure> {
        self.store
            .set_meta(key, value)
            .map_err(|e| wire::from_backend(e, META_CODES))
    }
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, Store> {
        // Each store change is one transaction, so a handler that panicked cannot have left half
        // a change behind; the store is still sound.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, req: &HttpRequest) -> Outcome {
        let started = Instant::now();
        let request_id = wire::request_id();
        let product = req.header("x-acs-version").and_then(product_of);
        let action = req.header("x-acs-action").unwrap_or_default();
        let latency = self.faults.config().latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let log = |status: &dyn std::fmt::Display| {
            if self.log {
                eprintln!(
                    "{} {} {} -> {} ({} ms)",
                    req.method,
                    req.path,
                    if action.is_empty() { "-" } else { action },
                    status,
                    started.elapsed().as_millis()
                );
            }
        };

        let mut extra_headers = Vec::new();
        let result = match self.faults.next() {
            Fault::Drop => {
                log(&"dropped (injected)");
                return Outcome::Drop;
            }
            Fault::Throttle { status } => {
                extra_headers.push((
                    "x-acs-retry-after".to_string(),
                    self.faults.config().retry_after_ms.max(1).to_string(),
                ));
                Err(Failure::new(
                    status,
                    "Throttling.User",
                    "Request was denied due to user flow control.",
                ))
            }
            Fault::ServerError { status: 503 } => Err(Failure::new(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            )),
            Fault::ServerError { status } => Err(Failure::new(
                status,
                "InternalError",
                "The request processing has failed due to some unknown error.",
            )),
            Fault::None => self.verified(req, product, action),
            Fault::LostReply => {
                // Executed in full, its changes committed; only the answer never leaves.
                let status = match self.verified(req, product, action) {
                    Ok(_) => 200,
                    Err(failure) => failure.status,
                };
                log(&format_args!("{status}, reply lost (injected)"));
                return Outcome::Drop;
            }
        };
        let region = region_of(req, &self.region);
        let (status, body) = match result {
            Ok(body) => (200, with_request_id(product, &request_id, body)),
            Err(failure) => (
                failure.status,
                error_body(product, &request_id, &failure, &region),
            ),
        };
        log(&status);
        extra_headers.push(("x-acs-request-id".to_string(), request_id));
        Outcome::Reply(Reply {
            status,
            headers: extra_headers,
            body,
        })
    }

    /// Verifies the signature, routes, decodes and runs the handler.
    fn verified(
        &self,
        req: &HttpRequest,
        product: Option<Product>,
        action: &str,
    ) -> Result<Value, Failure> {
        let options = VerifyOptions {
            max_clock_skew: self.check_clock.then_some(DEFAULT_WINDOW),
            nonce_cache: self.nonces.as_ref(),
        };
        let lookup = |ak: &str| {
            (ak == self.credentials.access_key_id()).then(|| self.credentials.secret().to_string())
        };
        verify(
            &req.method,
            &req.path,
            &req.query,
            &req.headers,
            &req.body,
            lookup,
            SystemTime::now(),
            &options,
        )
        .map_err(|e| Failure::new(e.http_status(), e.code(), e.to_string()))?;

        let Some(product) = product else {
            return Err(match req.header("x-acs-version") {
                None | Some("") => Failure::new(
                    400,
                    "MissingParameter.Version",
                    "The x-acs-version header is required.",
                ),
                Some(v) => Failure::new(
                    400,
                    "InvalidVersion",
                    format!("Specified API version `{v}` is not supported."),
                ),
            });
        };
        let Some(route) = routes(product).iter().find(|r| r.action == action) else {
            return Err(Failure::new(
                404,
                "InvalidAction.NotFound",
                format!(
                    "Specified api `{action}` is not found for version {}.",
                    product.version()
                ),
            ));
        };
        let path = match_route(route, &req.method, &req.path).ok_or_else(|| {
            Failure::new(
                404,
                "InvalidAction.NotFound",
                format!(
                    "`{action}` is `{} {}`; the request was `{} {}`.",
                    route.method, route.path, req.method, req.path
                ),
            )
        })?;

        let mut params = Params::new(parse_urlencoded(&req.query));
        let content_type = req
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut json = None;
        if content_type.starts_with("application/x-www-form-urlencoded") {
            params.extend(parse_urlencoded(&String::from_utf8_lossy(&req.body)));
        } else if content_type.starts_with("application/json") && !req.body.is_empty() {
            json = Some(serde_json::from_slice::<Value>(&req.body).map_err(|e| {
                Failure::new(
                    400,
                    "InvalidParameter.Body",
                    format!("The request body is not valid JSON: {e}"),
                )
            })?);
        }
        let call = Call {
            action,
            path,
            params,
            json,
        };
        let region = region_of(req, &self.region);
        let mut store = self.lock_store();
        let mut ctx = Ctx {
            store: &mut store,
            region: &region,
            account_uid: &self.account_uid,
            caller_user: self.caller_user.as_deref(),
        };
        match product {
            Product::ModelStudio => modelstudio::handle(&mut ctx, &call),
            Product::Ram => ram::handle(&mut ctx, &call),
            Product::AiWorkspace => pai::handle(&mut ctx, &call),
            Product::Sts => sts::handle(&mut ctx, &call),
        }
    }
}

fn product_of(version: &str) -> Option<Product> {
    [
        Product::ModelStudio,
        Product::Ram,
        Product::AiWorkspace,
        Product::Sts,
    ]
    .into_iter()
    .find(|p| p.version() == version)
}

/// The region a request is for: `x-acs-region-id` when sent, else the one in a platform Host
/// (`modelstudio.cn-beijing.aliyuncs.com`), else the emulator's own. Only the region is taken
/// from the Host; routing never looks at it.
fn region_of(req: &HttpRequest, default: &str) -> String {
    let valid = |r: &str| {
        !r.is_empty()
            && r.len() <= 64
            && r.contains('-')
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if let Some(r) = req.header("x-acs-region-id").filter(|r| valid(r)) {
        return r.to_string();
    }
    if let Some(host) = req.header("host") {
        let host = host.split(':').next().unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        if let [_, region, "aliyuncs", "com"] = labels.as_slice()
            && valid(region)
        {
            return (*region).to_string();
        }
    }
    default.to_string()
}

/// Matches a path against a template; `*` segments are captured, percent-decoded.
fn match_route(route: &Route, method: &str, raw_path: &str) -> Option<Vec<String>> {
    if !route.method.eq_ignore_ascii_case(method) {
        return None;
    }
    let want: Vec<&str> = route.path.split('/').collect();
    let got: Vec<&str> = raw_path.split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut captured = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if *w == "*" {
            if g.is_empty() {
                return None;
            }
            captured.push(decode_path_segment(g));
        } else if w != g {
            return None;
        }
    }
    Some(captured)
}

/// Percent-decodes one path segment (`+` is a literal plus in paths, unlike in queries).
fn decode_path_segment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|c| hex(*c)),
                bytes.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Puts the request id first in a success body: `requestId` for Model Studio, `RequestId` for
/// the PascalCase products.
fn with_request_id(product: Option<Product>, request_id: &str, body: Value) -> Value {
    let key = match product {
        Some(Product::ModelStudio) => "requestId",
        _ => "RequestId",
    };
    let mut map = Map::new();
    map.insert(key.to_string(), Value::String(request_id.to_string()));
    if let Value::Object(rest) = body {
        for (k, v) in rest {
            map.entry(k).or_insert(v);
        }
    }
    Value::Object(map)
}

/// An error body in the product's style (contract §5.2): Model Studio's camelCase envelope, or
/// the gateway's PascalCase one for RAM, AIWorkSpace and requests that name no product.
fn error_body(
    product: Option<Product>,
    request_id: &str,
    failure: &Failure,
    region: &str,
) -> Value {
    match product {
        Some(Product::ModelStudio) => json!({
            "requestId": request_id,
            "success": false,
            "httpStatusCode": failure.status,
            "code": failure.code,
            "message": failure.message,
            "errorMessage": failure.message,
        }),
        _ => {
            let (host, name) = match product {
                Some(Product::Ram) => ("ram.aliyuncs.com".to_string(), "Ram"),
                Some(Product::Sts) => ("sts.aliyuncs.com".to_string(), "Sts"),
                Some(Product::AiWorkspace) => {
                    (format!("aiworkspace.{region}.aliyuncs.com"), "AIWorkSpace")
                }
                _ => ("emulator".to_string(), "Unknown"),
            };
            json!({
                "RequestId": request_id,
                "HostId": host,
                "Code": failure.code,
                "Message": failure.message,
                "Recommend": format!(
                    "https://api.aliyun.com/troubleshoot?q={}&product={name}&\
                        requestId={request_id}",
                    failure.code
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests;
