//! The emulator's side of ACS3-HMAC-SHA256: checks a signed request (contract §4.6).
//!
//! It recomputes the canonical request from what arrived on the wire, not from what a client meant
//! to send: the raw still-encoded path, the raw query re-encoded after decoding (`+` is a space,
//! because the Python SDK sends spaces that way), and exactly the headers the request's own
//! `SignedHeaders` names, in its order (the Python SDK signs `accept` and `user-agent`, other SDKs
//! do not, so no fixed set would do). Requests come from an untrusted socket: nothing here panics.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::Mac;

use super::encoding::parse_urlencoded_bytes;
use super::signing::{
    ALGORITHM, HEADER_CONTENT_SHA256, HEADER_DATE, HEADER_NONCE, canonical_query_from_encoded,
    canonical_request, hmac_for, parse_acs_date, percent_encode_bytes, sha256_hex, string_to_sign,
};

/// The platform's window for `x-acs-date` skew and for remembering nonces.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Longest nonce accepted: SDKs send 32 hex characters or a 36-character UUID. The cap keeps a
/// hostile client from filling the nonce cache with megabyte keys.
pub const MAX_NONCE_LEN: usize = 128;

/// The access key id a request was verified to be signed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessKeyId(pub String);

impl AccessKeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request's signature was rejected; [`VerifyError::code`] gives the platform error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The Authorization header or a required signing input is missing or malformed.
    #[error("the request signature is incomplete: {0}")]
    IncompleteSignature(String),
    /// `Credential` names an access key the emulator does not know.
    #[error("the specified access key is not found")]
    AccessKeyNotFound,
    /// `x-acs-date` is further from the server clock than the allowed window.
    #[error("the x-acs-date of the request is outside the allowed 15-minute window")]
    TimestampExpired,
    /// The nonce was already used within the window: a replay.
    #[error("the x-acs-signature-nonce has already been used")]
    NonceUsed,
    /// The signature (or the body hash) does not match. `string_to_sign` is the server's, given
    /// back as Alibaba's gateway does, since comparing it with the client's is the quickest way to
    /// find a canonicalisation bug; it holds only a hash, nothing secret.
    #[error(
        "the request signature does not match: {reason}{}",
        server_string_to_sign(.string_to_sign.as_deref())
    )]
    SignatureDoesNotMatch {
        reason: String,
        string_to_sign: Option<String>,
    },
}

/// The server's string to sign as [`VerifyError::SignatureDoesNotMatch`] shows it, on one line.
fn server_string_to_sign(string_to_sign: Option<&str>) -> String {
    string_to_sign
        .map(|s| {
            format!(
                "; the server's string to sign is `{}`",
                s.replace('\n', "\\n")
            )
        })
        .unwrap_or_default()
}

impl VerifyError {
    /// The platform error code (contract §5.3).
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::IncompleteSignature(_) => "IncompleteSignature",
            VerifyError::AccessKeyNotFound => "InvalidAccessKeyId.NotFound",
            VerifyError::TimestampExpired => "InvalidTimeStamp.Expired",
            VerifyError::NonceUsed => "SignatureNonceUsed",
            VerifyError::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            VerifyError::AccessKeyNotFound => 404,
            _ => 400,
        }
    }
}

/// Nonces seen within a window, shared by every request the emulator handles.
#[derive(Debug)]
pub struct NonceCache {
    window: Duration,
    capacity: usize,
    state: Mutex<NonceState>,
}

#[derive(Debug, Default)]
struct NonceState {
    /// Insertion order, so expired nonces are dropped from the front.
    order: VecDeque<(SystemTime, String)>,
    seen: HashSet<String>,
}

impl NonceCache {
    /// A cache remembering nonces for `window`, holding at most a million of them (beyond that
    /// the oldest are forgotten early: memory stays bounded under a flood).
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, 1_000_000)
    }

    pub fn with_capacity(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            state: Mutex::new(NonceState::default()),
        }
    }

    /// Records `nonce` at `now`; false if it was already seen within the window.
    pub fn check_and_record(&self, nonce: &str, now: SystemTime) -> bool {
        // A poisoned lock only means another thread panicked mid-update; the sets are still
        // consistent enough to use, and refusing every later request would be worse.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((at, _)) = state.order.front() {
            if at.checked_add(self.window).is_none_or(|end| end > now) {
                break;
            }
            if let Some((_, old)) = state.order.pop_front() {
                state.seen.remove(&old);
            }
        }
        if state.seen.contains(nonce) {
            return false;
        }
        while state.order.len() >= self.capacity {
            if let Some((_, old)) = state.order.pop_front() {
                state.seen.remove(&old);
            }
        }
        state.seen.insert(nonce.to_string());
        state.order.push_back((now, nonce.to_string()));
        true
    }
}

/// Which replay checks run. Tests that pin the date or reuse a nonce switch them off.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// Maximum distance between `x-acs-date` and `now`; `None` skips the time check.
    pub max_clock_skew: Option<Duration>,
    /// Where nonces are remembered; `None` skips the replay check.
    pub nonce_cache: Option<&'a NonceCache>,
}

impl VerifyOptions<'_> {
    /// Only the signature itself is checked.
    pub fn signature_only() -> Self {
        VerifyOptions {
            max_clock_skew: None,
            nonce_cache: None,
        }
    }
}

/// Verifies one request as it arrived.
///
/// `raw_path` and `raw_query` are exactly as on the request line (still encoded, no `?`);
/// `headers` are every header received; `lookup_secret` maps an access key id to its secret.
///
/// Order of checks: Authorization syntax, required signed headers, access key, time, body hash,
/// signature, and last the nonce, so a forged request cannot burn a nonce a genuine client will
/// use. (A replayed request therefore reports `SignatureNonceUsed` only when its signature is
/// good.)
#[allow(clippy::too_many_arguments)]
pub fn verify<N, V>(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(N, V)],
    body: &[u8],
    lookup_secret: impl Fn(&str) -> Option<String>,
    now: SystemTime,
    options: &VerifyOptions<'_>,
) -> Result<AccessKeyId, VerifyError>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let incomplete = |why: &str| VerifyError::IncompleteSignature(why.to_string());
    let values_of = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref().trim())
            .collect()
    };
    let single = |name: &str| -> Option<&str> {
        match values_of(name).as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    };

    let authorization = match values_of("authorization").as_slice() {
        [] => return Err(incomplete("the Authorization header is missing")),
        [one] => *one,
        _ => return Err(incomplete("the Authorization header is repeated")),
    };
    let auth = parse_authorization(authorization)?;

    // Names the signature must cover: the three inputs that make a request unique and bind the
    // body, plus every x-acs-* header present (V3 requires all common headers to be signed, and
    // an unsigned x-acs-security-token could otherwise be swapped).
    for required in [HEADER_CONTENT_SHA256, HEADER_DATE, HEADER_NONCE] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(VerifyError::IncompleteSignature(format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    for (name, _) in headers {
        let lower = name.as_ref().to_ascii_lowercase();
        if lower.starts_with("x-acs-") && !auth.signed_headers.contains(&lower) {
            return Err(VerifyError::IncompleteSignature(format!(
                "header {lower} is sent but not signed"
            )));
        }
    }

    let secret = lookup_secret(&auth.credential).ok_or(VerifyError::AccessKeyNotFound)?;

    let nonce = single(HEADER_NONCE)
        .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_LEN)
        .ok_or_else(|| incomplete("x-acs-signature-nonce is missing, repeated or malformed"))?;
    if let Some(skew) = options.max_clock_skew {
        let date = single(HEADER_DATE)
            .and_then(parse_acs_date)
            .ok_or_else(|| incomplete("x-acs-date is not YYYY-MM-DDThh:mm:ssZ"))?;
        let now_secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i128::from(d.as_secs()),
            Err(e) => -i128::from(e.duration().as_secs()),
        };
        if (now_secs - i128::from(date)).unsigned_abs() > u128::from(skew.as_secs()) {
            return Err(VerifyError::TimestampExpired);
        }
    }

    let payload_hash = single(HEADER_CONTENT_SHA256)
        .ok_or_else(|| incomplete("x-acs-content-sha256 is missing or repeated"))?;
    if !payload_hash.eq_ignore_ascii_case(&sha256_hex(body)) {
        return Err(VerifyError::SignatureDoesNotMatch {
            reason: "x-acs-content-sha256 is not the SHA-256 of the body".to_string(),
            string_to_sign: None,
        });
    }

    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let mut values = values_of(name);
        if values.is_empty() {
            return Err(VerifyError::IncompleteSignature(format!(
                "signed header {name} is missing from the request"
            )));
        }
        values.sort_unstable();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }

    let query = canonical_query_from_encoded(
        parse_urlencoded_bytes(raw_query)
            .iter()
            .map(|(k, v)| (percent_encode_bytes(k), percent_encode_bytes(v)))
            .collect(),
    );
    let canonical = canonical_request(
        method,
        raw_path,
        &query,
        &canonical_headers,
        &auth.signed_headers.join(";"),
        payload_hash,
    );
    let to_sign = string_to_sign(&canonical);
    let mut mac = hmac_for(&secret);
    mac.update(to_sign.as_bytes());
    // `verify_slice` compares in constant time, so response timing leaks nothing about the
    // expected signature.
    if mac.verify_slice(&auth.signature).is_err() {
        return Err(VerifyError::SignatureDoesNotMatch {
            reason: "the signature is not the HMAC of the canonical request".to_string(),
            string_to_sign: Some(to_sign),
        });
    }

    if let Some(cache) = options.nonce_cache {
        if !cache.check_and_record(nonce, now) {
            return Err(VerifyError::NonceUsed);
        }
    }
    Ok(AccessKeyId(auth.credential))
}

/// The three fields of `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.
struct Authorization {
    credential: String,
    /// Lower-cased, in the order given.
    signed_headers: Vec<String>,
    signature: Vec<u8>,
}

fn parse_authorization(value: &str) -> Result<Authorization, VerifyError> {
    let incomplete = |why: &str| VerifyError::IncompleteSignature(why.to_string());
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or_else(|| incomplete("the Authorization header is malformed"))?;
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "the signature algorithm must be ACS3-HMAC-SHA256",
        ));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("the Authorization header is malformed"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(incomplete("the Authorization header has an unknown field")),
        };
        if slot.replace(val).is_some() {
            return Err(incomplete("the Authorization header repeats a field"));
        }
    }
    let credential = credential
        .filter(|c| !c.is_empty())
        .ok_or_else(|| incomplete("the Authorization header lacks Credential"))?;
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("the Authorization header lacks SignedHeaders"))?;
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    let mut unique = HashSet::new();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || h == "authorization" || !unique.insert(h.as_str()))
    {
        return Err(incomplete("SignedHeaders is malformed"));
    }
    let signature = signature
        .and_then(decode_hex_32)
        .ok_or_else(|| incomplete("Signature must be 64 hex characters"))?;
    Ok(Authorization {
        credential: credential.to_string(),
        signed_headers,
        signature,
    })
}

fn decode_hex_32(s: &str) -> Option<Vec<u8>> {
    // `hex` takes either case, as the platform does, and nothing but hex digits.
    hex::decode(s).ok().filter(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::super::credentials::Credentials;
    use super::super::signing::tests::{DATE, E, NONCE, strings};
    use super::super::signing::{RequestToSign, Signer, canonical_query};
    use super::*;

    fn at(date: &str) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(parse_acs_date(date).unwrap() as u64)
    }

    fn secrets(ak: &str) -> Option<String> {
        match ak {
            "testAK" => Some("testSecret".to_string()),
            "STS.testAK" => Some("testSecret".to_string()),
            _ => None,
        }
    }

    /// T8: the full Python-SDK request (signs accept and user-agent; `+` for the space on the
    /// wire).
    fn t8_headers() -> Vec<(String, String)> {
        strings(&[
            ("accept", "application/json"),
            ("host", "127.0.0.1:18080"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            ),
            ("x-acs-action", "ListWorkspaces"),
            ("x-acs-content-sha256", E),
            ("x-acs-credentials-provider", "static_ak"),
            ("x-acs-date", DATE),
            ("x-acs-signature-nonce", NONCE),
            ("x-acs-version", "2026-02-10"),
            (
                "Authorization",
                "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=accept;host;user-agent;\
                 x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;\
                 x-acs-signature-nonce;x-acs-version,\
                 Signature=9a1ef4fee33ee3e93afb151f8e971dc4c37ac34eaac11d061461f7dfa69dc23a",
            ),
        ])
    }

    const T8_QUERY: &str = "maxResults=10&workspaceName=my+ws%2A~";

    #[test]
    fn t8_python_sdk_request_verifies() {
        let ak = verify(
            "GET",
            "/modelstudio/workspaces",
            T8_QUERY,
            &t8_headers(),
            b"",
            secrets,
            at(DATE),
            &VerifyOptions::signature_only(),
        )
        .unwrap();
        assert_eq!(ak.as_str(), "testAK");
    }

    #[test]
    fn t8_tampered_query_reports_the_server_string_to_sign() {
        let err = verify(
            "GET",
            "/modelstudio/workspaces",
            "maxResults=11&workspaceName=my+ws%2A~",
            &t8_headers(),
            b"",
            secrets,
            at(DATE),
            &VerifyOptions::signature_only(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        assert!(err.to_string().contains("ACS3-HMAC-SHA256\\n"), "{err}");
    }

    /// A request signed by msctl's signer, as sent over the wire.
    struct Wire {
        method: &'static str,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    fn signed(creds: Credentials, body: &[u8]) -> Wire {
        let query = strings(&[
            ("workspaceName", "my ws*~"),
            ("maxResults", "10"),
            ("e", ""),
        ]);
        let headers = strings(&[
            ("host", "127.0.0.1:18080"),
            ("x-acs-action", "CreateApiKey"),
            ("x-acs-version", "2026-02-10"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", "msctl"),
        ]);
        let sent = Signer::new(creds).sign_at(
            &RequestToSign {
                method: "POST",
                path: "/modelstudio/api%2Fkeys",
                query: &query,
                headers: &headers,
                body,
            },
            DATE,
            NONCE,
        );
        Wire {
            method: "POST",
            path: "/modelstudio/api%2Fkeys".to_string(),
            // The client may encode the wire query differently from the canonical form (`+`
            // for a space, any order); the verifier must not care.
            query: "workspaceName=my+ws%2A%7E&e=&maxResults=10".to_string(),
            headers: sent,
            body: body.to_vec(),
        }
    }

    fn check(
        w: &Wire,
        now: SystemTime,
        options: &VerifyOptions<'_>,
    ) -> Result<AccessKeyId, VerifyError> {
        verify(
            w.method, &w.path, &w.query, &w.headers, &w.body, secrets, now, options,
        )
    }

    fn code(w: &Wire) -> &'static str {
        check(w, at(DATE), &VerifyOptions::signature_only())
            .unwrap_err()
            .code()
    }

    fn set_header(w: &mut Wire, name: &str, value: &str) {
        for (n, v) in &mut w.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_string();
            }
        }
    }

    #[test]
    fn round_trip_sign_then_verify() {
        let w = signed(Credentials::new("testAK", "testSecret"), b"auth.type=All");
        assert_eq!(canonical_query(&[("a", "b")]), "a=b");
        let ak = check(&w, at(DATE), &VerifyOptions::signature_only()).unwrap();
        assert_eq!(ak, AccessKeyId("testAK".to_string()));

        let sts = signed(
            Credentials::new("STS.testAK", "testSecret").with_security_token("t/+="),
            b"",
        );
        assert_eq!(
            check(&sts, at(DATE), &VerifyOptions::signature_only())
                .unwrap()
                .as_str(),
            "STS.testAK"
        );
    }

    #[test]
    fn tampering_fails_with_signature_does_not_match() {
        let base = || signed(Credentials::new("testAK", "testSecret"), b"auth.type=All");

        let mut w = base();
        w.body = b"auth.type=Custom".to_vec();
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        w.body = b"auth.type=Custom".to_vec();
        set_header(
            &mut w,
            HEADER_CONTENT_SHA256,
            &sha256_hex(b"auth.type=Custom"),
        );
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        w.query = w.query.replace("maxResults=10", "maxResults=100");
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        w.path = "/modelstudio/api/keys".to_string();
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        set_header(&mut w, "x-acs-action", "DeleteApiKey");
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        set_header(&mut w, "host", "evil.example");
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        let mut w = base();
        w.method = "PUT";
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        // Unsigned headers may change freely.
        let mut w = base();
        set_header(&mut w, "user-agent", "someone-else");
        assert!(check(&w, at(DATE), &VerifyOptions::signature_only()).is_ok());

        let w = signed(Credentials::new("testAK", "wrongSecret"), b"");
        assert_eq!(code(&w), "SignatureDoesNotMatch");

        // Dropping a signed header from SignedHeaders changes the canonical request.
        let mut w = base();
        let auth = w.headers.last().unwrap().1.replace("content-type;", "");
        set_header(&mut w, "authorization", &auth);
        assert_eq!(code(&w), "SignatureDoesNotMatch");
    }

    #[test]
    fn unknown_access_key() {
        let w = signed(Credentials::new("nobody", "x"), b"");
        let err = check(&w, at(DATE), &VerifyOptions::signature_only()).unwrap_err();
        assert_eq!(err, VerifyError::AccessKeyNotFound);
        assert_eq!(
            (err.code(), err.http_status()),
            ("InvalidAccessKeyId.NotFound", 404)
        );
    }

    #[test]
    fn time_window_is_enforced_when_enabled() {
        let w = signed(Credentials::new("testAK", "testSecret"), b"");
        let options = VerifyOptions {
            max_clock_skew: Some(DEFAULT_WINDOW),
            nonce_cache: None,
        };
        let date = at(DATE);
        assert!(check(&w, date + Duration::from_secs(15 * 60), &options).is_ok());
        assert!(check(&w, date - Duration::from_secs(15 * 60), &options).is_ok());
        for now in [
            date + Duration::from_secs(15 * 60 + 1),
            date - Duration::from_secs(3600),
            UNIX_EPOCH,
        ] {
            assert_eq!(
                check(&w, now, &options).unwrap_err(),
                VerifyError::TimestampExpired
            );
        }
        // Switched off, any clock passes.
        assert!(check(&w, UNIX_EPOCH, &VerifyOptions::signature_only()).is_ok());
    }

    #[test]
    fn nonce_replay_is_rejected_when_enabled() {
        let cache = NonceCache::new(DEFAULT_WINDOW);
        let options = VerifyOptions {
            max_clock_skew: None,
            nonce_cache: Some(&cache),
        };
        let w = signed(Credentials::new("testAK", "testSecret"), b"");
        assert!(check(&w, at(DATE), &options).is_ok());
        assert_eq!(
            check(&w, at(DATE), &options).unwrap_err().code(),
            "SignatureNonceUsed"
        );
        // After the window the nonce is forgotten.
        assert!(check(&w, at(DATE) + DEFAULT_WINDOW, &options).is_ok());

        // A forged request does not burn the nonce of a genuine one.
        let cache = NonceCache::new(DEFAULT_WINDOW);
        let options = VerifyOptions {
            max_clock_skew: None,
            nonce_cache: Some(&cache),
        };
        let mut forged = signed(Credentials::new("testAK", "testSecret"), b"");
        forged.query.push_str("&x=1");
        assert_eq!(
            check(&forged, at(DATE), &options).unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
        assert!(check(&w, at(DATE), &options).is_ok());
    }

    #[test]
    fn nonce_cache_capacity_is_bounded() {
        let cache = NonceCache::with_capacity(DEFAULT_WINDOW, 2);
        let now = at(DATE);
        assert!(cache.check_and_record("a", now));
        assert!(cache.check_and_record("b", now));
        assert!(cache.check_and_record("c", now));
        // "a" was evicted to stay within capacity.
        assert!(cache.check_and_record("a", now));
        assert!(!cache.check_and_record("c", now));
    }

    #[test]
    fn malformed_requests_are_incomplete_signatures() {
        let base = || signed(Credentials::new("testAK", "testSecret"), b"");
        let auth_of = |w: &Wire| {
            w.headers
                .iter()
                .find(|(n, _)| n == "Authorization")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let good_auth = auth_of(&base());
        let bad_auths = [
            String::new(),
            "ACS3-HMAC-SHA256".to_string(),
            good_auth.replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3"),
            good_auth.replace("Credential=testAK,", ""),
            good_auth.replace("Credential=testAK", "Credential="),
            good_auth.replace("SignedHeaders=", "SignedHeaders=authorization;"),
            good_auth.replace("SignedHeaders=", "SignedHeaders=host;"),
            good_auth.replace("x-acs-date;", ""),
            good_auth.replace(";x-acs-version", ";x-acs-version;x-missing"),
            good_auth.replace(",Signature=", ",Signature=zz"),
            format!("{good_auth},Extra=1"),
            format!("{good_auth},Signature=00"),
            format!("{}+f", &good_auth[..good_auth.len() - 2]),
            good_auth[..good_auth.find(",Signature=").unwrap()].to_string(),
            "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=;,Signature=ü".to_string(),
        ];
        for auth in bad_auths {
            let mut w = base();
            set_header(&mut w, "authorization", &auth);
            let err = check(&w, at(DATE), &VerifyOptions::signature_only()).unwrap_err();
            assert!(
                matches!(err, VerifyError::IncompleteSignature(_)),
                "{auth}: {err:?}"
            );
        }

        // A missing Authorization header, and a repeated one.
        let mut w = base();
        w.headers.retain(|(n, _)| n != "Authorization");
        assert_eq!(code(&w), "IncompleteSignature");
        let mut w = base();
        w.headers
            .push(("authorization".to_string(), good_auth.clone()));
        assert_eq!(code(&w), "IncompleteSignature");

        // An x-acs-* header that is sent but not signed.
        let mut w = base();
        w.headers
            .push(("x-acs-security-token".to_string(), "swapped".to_string()));
        assert_eq!(code(&w), "IncompleteSignature");

        // A malformed date only matters when the time check runs.
        let mut w = base();
        set_header(&mut w, HEADER_DATE, "yesterday");
        assert_eq!(code(&w), "SignatureDoesNotMatch");
        let options = VerifyOptions {
            max_clock_skew: Some(DEFAULT_WINDOW),
            nonce_cache: None,
        };
        assert_eq!(
            check(&w, at(DATE), &options).unwrap_err().code(),
            "IncompleteSignature"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let junk = [
            "", "%", "%%%", "&&&", "=", "a=%ZZ&b", "\u{0}", "ü=ü", "+&+=+",
        ];
        for q in junk {
            for p in junk {
                let headers = strings(&[
                    ("Authorization", q),
                    ("x-acs-date", p),
                    ("x-acs-signature-nonce", q),
                    ("x-acs-content-sha256", p),
                ]);
                let verdict = verify(
                    q,
                    p,
                    q,
                    &headers,
                    p.as_bytes(),
                    secrets,
                    UNIX_EPOCH,
                    &VerifyOptions::signature_only(),
                );
                assert!(verdict.is_err(), "junk accepted: {q:?} {p:?}");
            }
        }
        let w = signed(Credentials::new("testAK", "testSecret"), b"");
        for q in junk {
            // A real signature over other junk: refused, never accepted for a path or query
            // it was not made for.
            let verdict = verify(
                "GET",
                q,
                q,
                &w.headers,
                b"",
                secrets,
                UNIX_EPOCH,
                &VerifyOptions::signature_only(),
            );
            assert!(verdict.is_err(), "junk accepted: {q:?}");
        }
    }
}
