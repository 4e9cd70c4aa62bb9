//! Tests of the HTTP client, against scripted servers on 127.0.0.1.

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
    // Retries count under the operation they retry.
    let by = client.api_calls_by_operation();
    assert_eq!(by.len(), 1, "{by:?}");
    assert_eq!(by["modelstudio"].get("ListWorkspaces"), Some(&3), "{by:?}");

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
    assert_eq!(client.api_calls_by_operation()["ram"]["CreateUser"], 1);
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
            json!({"requestId": "r-9", "code": "Workspace.NotFound", "success": false}).to_string(),
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
