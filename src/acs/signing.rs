//! ACS3-HMAC-SHA256 request signing (contract §4.4–4.5), the V3 signature every Alibaba Cloud SDK
//! sends for RPC and ROA calls alike.
//!
//! The building blocks are public so the emulator's verifier ([`super::verify`]) computes exactly
//! the same canonical request, and so tests can check every intermediate value of §4.7:
//!
//! ```text
//! CanonicalRequest = METHOD \n URI \n QUERY \n HEADERS(each "name:value\n") \n SIGNED \n
//!                    PAYLOAD_HASH
//! StringToSign     = "ACS3-HMAC-SHA256\n" + hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(secret, StringToSign))
//! ```
//!
//! There is no key derivation and no date or region scope, unlike AWS SigV4.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;
use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

/// The only algorithm msctl sends or the emulator accepts.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// `x-acs-content-sha256` of an empty body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub const HEADER_DATE: &str = "x-acs-date";
pub const HEADER_NONCE: &str = "x-acs-signature-nonce";
pub const HEADER_CONTENT_SHA256: &str = "x-acs-content-sha256";
pub const HEADER_SECURITY_TOKEN: &str = "x-acs-security-token";
pub const HEADER_ACCESS_KEY_ID: &str = "x-acs-accesskey-id";

pub(crate) type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------------
// Encoding and hashing primitives
// ---------------------------------------------------------------------------------------------

/// RFC 3986 percent-encoding: `A–Z a–z 0–9 - _ . ~` kept, every other byte `%XX` in upper-case
/// hex. This is Python's `quote(value, safe='~')`, used for canonical query values, and also the
/// SDK's path-segment rule (`quote(s, safe='')` then `*`→`%2A`, `%7E`→`~`), which comes out the
/// same.
pub fn percent_encode(s: &str) -> String {
    percent_encode_bytes(s.as_bytes())
}

/// [`percent_encode`] over raw bytes, for values the verifier decoded from the wire (which need
/// not be UTF-8).
pub fn percent_encode_bytes(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Encodes one path parameter for an ROA path: `ws-a/b c` → `ws-a%2Fb%20c` (contract §1.2).
pub fn encode_path_segment(segment: &str) -> String {
    percent_encode(segment)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_for(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps it panic-free
    // should that ever change.
    HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

// ---------------------------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------------------------

/// The canonical query string from already percent-encoded `(key, value)` pairs: sorted by key,
/// then by value for repeated keys, joined as `k=v&…`; an empty value still gives `k=`.
pub fn canonical_query_from_encoded(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical query string from raw (unencoded) parameters. Keys are encoded with the same
/// rule as values; every SDK key is `[A-Za-z0-9._-]`, so this equals Python's unencoded keys.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    canonical_query_from_encoded(
        params
            .iter()
            .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
            .collect(),
    )
}

/// Canonical headers and the signed-headers list for exactly the headers given: names lower-cased
/// and sorted, values trimmed, a repeated name's values sorted and joined with `,`.
/// Returns `(canonical_headers, signed_headers)`; each canonical entry ends in `\n`.
pub fn canonical_headers<N: AsRef<str>, V: AsRef<str>>(headers: &[(N, V)]) -> (String, String) {
    let mut grouped: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        grouped
            .entry(name.as_ref().to_ascii_lowercase())
            .or_default()
            .push(value.as_ref().trim());
    }
    let mut canonical = String::new();
    for (name, values) in &mut grouped {
        values.sort_unstable();
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
    }
    let signed = grouped.keys().cloned().collect::<Vec<_>>().join(";");
    (canonical, signed)
}

/// Joins the six parts of §4.4. `canonical_uri` is the path exactly as sent; empty means `/`.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    hashed_payload: &str,
) -> String {
    let uri = if canonical_uri.is_empty() {
        "/"
    } else {
        canonical_uri
    };
    format!(
        "{}\n{uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}",
        method.to_ascii_uppercase()
    )
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Lower-case hex HMAC-SHA256 of the string to sign, keyed by the access key secret.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = hmac_for(secret);
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value (no spaces after the commas).
pub fn authorization(access_key_id: &str, signed_headers: &str, signature: &str) -> String {
    format!(
        "{ALGORITHM} \
            Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
    )
}

// ---------------------------------------------------------------------------------------------
// Dates and nonces
// ---------------------------------------------------------------------------------------------

/// `x-acs-date`: UTC `YYYY-MM-DDThh:mm:ssZ`, no fractional seconds.
pub fn format_acs_date(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an `x-acs-date` into seconds since the Unix epoch; `None` unless it is exactly
/// `YYYY-MM-DDThh:mm:ssZ` with a real calendar date.
pub fn parse_acs_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A fresh `x-acs-signature-nonce`: 32 lower-case hex characters from the OS random source, the
/// same shape as the SDK's md5-based nonce. Should the OS source fail, time and a counter still
/// give a nonce that never repeats within this process.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&count.to_le_bytes());
    }
    hex::encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// The signer
// ---------------------------------------------------------------------------------------------

/// One request as the signer needs it. `path` is already percent-encoded (see
/// [`encode_path_segment`]); `query` holds raw values, encoded here; `headers` are those the
/// caller sends (at least `host`, `x-acs-action`, `x-acs-version`, and `content-type` with a body).
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Signs requests with one set of credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
}

/// Headers the signer sets itself; a caller's copy of any of them is dropped so the request never
/// carries two differing values.
const SIGNER_HEADERS: [&str; 6] = [
    HEADER_DATE,
    HEADER_NONCE,
    HEADER_CONTENT_SHA256,
    HEADER_SECURITY_TOKEN,
    HEADER_ACCESS_KEY_ID,
    "authorization",
];

impl Signer {
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Signs with the current time and a fresh nonce; returns every header to send.
    pub fn sign(&self, request: &RequestToSign<'_>) -> Vec<(String, String)> {
        self.sign_at(request, &format_acs_date(SystemTime::now()), &new_nonce())
    }

    /// Signs with the given `x-acs-date` and nonce (tests pin both). Returns the caller's headers
    /// followed by `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256`, the STS headers
    /// when a token is set, and `Authorization` last.
    ///
    /// Signed: `host`, `content-type` and every `x-acs-*` header, as Alibaba's V3 document
    /// requires; other headers (user-agent, accept) travel unsigned, as the Go and Java SDKs do.
    pub fn sign_at(
        &self,
        request: &RequestToSign<'_>,
        date: &str,
        nonce: &str,
    ) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(name, _)| !SIGNER_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
            .cloned()
            .collect();
        let payload_hash = sha256_hex(request.body);
        headers.push((HEADER_DATE.to_string(), date.to_string()));
        headers.push((HEADER_NONCE.to_string(), nonce.to_string()));
        headers.push((HEADER_CONTENT_SHA256.to_string(), payload_hash.clone()));
        if let Some(token) = self.credentials.security_token() {
            headers.push((
                HEADER_ACCESS_KEY_ID.to_string(),
                self.credentials.access_key_id().to_string(),
            ));
            headers.push((HEADER_SECURITY_TOKEN.to_string(), token.to_string()));
        }

        let to_sign: Vec<&(String, String)> = headers
            .iter()
            .filter(|(name, _)| is_signed_header(name))
            .collect();
        let to_sign: Vec<(&str, &str)> = to_sign
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (canonical_hdrs, signed_headers) = canonical_headers(&to_sign);
        let canonical = canonical_request(
            request.method,
            request.path,
            &canonical_query(request.query),
            &canonical_hdrs,
            &signed_headers,
            &payload_hash,
        );
        let sig = signature(self.credentials.secret(), &string_to_sign(&canonical));
        headers.push((
            "Authorization".to_string(),
            authorization(self.credentials.access_key_id(), &signed_headers, &sig),
        ));
        headers
    }
}

fn is_signed_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "host" || lower == "content-type" || lower.starts_with("x-acs-")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const E: &str = EMPTY_PAYLOAD_SHA256;
    pub(crate) const DATE: &str = "2026-03-01T12:00:00Z";
    pub(crate) const NONCE: &str = "0123456789abcdef0123456789abcdef";

    pub(crate) fn strings(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("missing header {name}"))
    }

    /// Signs like msctl does and checks the Authorization header, returning the headers.
    fn sign_vector(
        creds: Credentials,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let query = strings(query);
        let headers = strings(headers);
        Signer::new(creds).sign_at(
            &RequestToSign {
                method,
                path,
                query: &query,
                headers: &headers,
                body,
            },
            DATE,
            NONCE,
        )
    }

    /// Rebuilds the canonical request from signed headers, as a cross-check of `sign_at`.
    fn canonical_of(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        sent: &[(String, String)],
    ) -> String {
        let signed: Vec<&(String, String)> =
            sent.iter().filter(|(n, _)| is_signed_header(n)).collect();
        let signed: Vec<(&str, &str)> = signed
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (hdrs, names) = canonical_headers(&signed);
        canonical_request(
            method,
            path,
            &canonical_query(query),
            &hdrs,
            &names,
            header(sent, HEADER_CONTENT_SHA256),
        )
    }

    #[test]
    fn upstream_primitive_vectors() {
        assert_eq!(
            sha256_hex(b"test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(sha256_hex(b""), E);
        // The upstream canonical-query vector: {'test': ' ~/*-+'}.
        assert_eq!(
            canonical_query(&[("test", " ~/*-+")]),
            "test=%20~%2F%2A-%2B"
        );
        assert_eq!(encode_path_segment("ws-a/b c"), "ws-a%2Fb%20c");
        assert_eq!(percent_encode("a=b+c Ü"), "a%3Db%2Bc%20%C3%9C");
    }

    /// T1: the upstream unit test of `get_authorization` (given payload hash, repeated header).
    #[test]
    fn t1_upstream_unit_vector() {
        let (hdrs, signed) = canonical_headers(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        assert_eq!(hdrs, "x-acs-test:http,https\n");
        assert_eq!(signed, "x-acs-test");
        let hash = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23";
        let cr = canonical_request(
            "GET",
            "",
            &canonical_query(&[("test", "ok"), ("empty", "")]),
            &hdrs,
            &signed,
            hash,
        );
        assert_eq!(
            cr,
            format!("GET\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n{hash}")
        );
        let sig = signature("secret", &string_to_sign(&cr));
        assert_eq!(
            authorization("acesskey", &signed, &sig),
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,\
             Signature=d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"
        );
    }

    /// T2: the official V3 documentation example (ECS RunInstances).
    #[test]
    fn t2_official_documentation_example() {
        let query = strings(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = strings(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
        ]);
        let sent = Signer::new(Credentials::new("YourAccessKeyId", "YourAccessKeySecret")).sign_at(
            &RequestToSign {
                method: "POST",
                path: "/",
                query: &query,
                headers: &headers,
                body: b"",
            },
            "2023-10-26T10:22:32Z",
            "3156853299f313e23d1673dc12e1703d",
        );
        assert_eq!(
            header(&sent, "authorization"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    /// T3: ListWorkspaces, query with a space, `*` and `~`; the full canonical request is given.
    #[test]
    fn t3_list_workspaces_special_characters() {
        let query = [("maxResults", "10"), ("workspaceName", "my ws*~")];
        let sent = sign_vector(
            Credentials::new("testAK", "testSecret"),
            "GET",
            "/modelstudio/workspaces",
            &query,
            &[
                ("host", "modelstudio.cn-beijing.aliyuncs.com"),
                ("x-acs-action", "ListWorkspaces"),
                ("x-acs-version", "2026-02-10"),
            ],
            b"",
        );
        let cr = canonical_of("GET", "/modelstudio/workspaces", &query, &sent);
        let expected = format!(
            "GET\n/modelstudio/workspaces\nmaxResults=10&workspaceName=my%20ws%2A~\n\
             host:modelstudio.cn-beijing.aliyuncs.com\nx-acs-action:ListWorkspaces\n\
             x-acs-content-sha256:{E}\nx-acs-date:{DATE}\nx-acs-signature-nonce:{NONCE}\n\
             x-acs-version:2026-02-10\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;\
             x-acs-version\n{E}"
        );
        assert_eq!(cr, expected);
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "95524b9f1e6da60bbe87ca6c69328706a63ba81422a7043194670c346ea93dff"
        );
        assert_eq!(
            string_to_sign(&cr),
            "ACS3-HMAC-SHA256\n95524b9f1e6da60bbe87ca6c69328706a63ba81422a7043194670c346ea93dff"
        );
        assert_eq!(
            header(&sent, "authorization"),
            "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=3e4cda7d2507e3d2561a821f938416ffebd3c0b29cb9d1f693a406f30fe72ad6"
        );
    }

    /// T4: RAM CreateUser with an STS token (RPC, everything in the query, non-ASCII value).
    #[test]
    fn t4_ram_create_user_with_sts_token() {
        let query = [
            ("UserName", "alice"),
            ("DisplayName", "Alice Ü"),
            ("Comments", "a+b"),
        ];
        let sent = sign_vector(
            Credentials::new("STS.testAK", "testSecret")
                .with_security_token("token/with+special=chars"),
            "POST",
            "/",
            &query,
            &[
                ("host", "ram.aliyuncs.com"),
                ("x-acs-action", "CreateUser"),
                ("x-acs-version", "2015-05-01"),
            ],
            b"",
        );
        assert_eq!(
            canonical_query(&query),
            "Comments=a%2Bb&DisplayName=Alice%20%C3%9C&UserName=alice"
        );
        assert_eq!(header(&sent, HEADER_ACCESS_KEY_ID), "STS.testAK");
        assert_eq!(
            header(&sent, HEADER_SECURITY_TOKEN),
            "token/with+special=chars"
        );
        let cr = canonical_of("POST", "/", &query, &sent);
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "8078efe198d0845dcba56bd1c17066d81a716255e75d7c72e5c7a6e77b0e823c"
        );
        assert_eq!(
            header(&sent, "authorization"),
            "ACS3-HMAC-SHA256 Credential=STS.testAK,SignedHeaders=host;x-acs-accesskey-id;\
             x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;\
             x-acs-signature-nonce;x-acs-version,\
             Signature=4bf9869c1369a1d26837ce33b3dc36cf16137d9e5fdcc7468a94fee8c5e9ecf8"
        );
    }

    /// T5: AIWorkSpace CreateMember with a JSON body; content-type is signed.
    #[test]
    fn t5_aiworkspace_json_body() {
        let body = br#"{"Members":[{"Roles":["PAI.AlgoDeveloper"],"UserId":"2000"}]}"#;
        let sent = sign_vector(
            Credentials::new("testAK", "testSecret"),
            "POST",
            "/api/v1/workspaces/123/members",
            &[],
            &[
                ("host", "aiworkspace.cn-hangzhou.aliyuncs.com"),
                ("x-acs-action", "CreateMember"),
                ("x-acs-version", "2021-02-04"),
                ("content-type", "application/json; charset=utf-8"),
            ],
            body,
        );
        assert_eq!(
            header(&sent, HEADER_CONTENT_SHA256),
            "bf919908ff869f970a44a5ed15de35bf4ac430ac0e1641e248cd53b14783009b"
        );
        let cr = canonical_of("POST", "/api/v1/workspaces/123/members", &[], &sent);
        assert!(cr.starts_with("POST\n/api/v1/workspaces/123/members\n\ncontent-type:"));
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "683f22243f018d43b09da3206373021db246d054701d0a4cd0557efcfa5ba79d"
        );
        assert_eq!(
            header(&sent, "authorization"),
            "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=content-type;host;x-acs-action;\
             x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=6ccc9662021cfe7cd3ca51587688ddbfbdca687d56ab84671c35d930fff12169"
        );
    }

    /// T6: ModelStudio UpdateModelPermissions with a form body.
    #[test]
    fn t6_model_studio_form_body() {
        let body = b"accessAllEntities=KEEP&models.1.deploy=false&models.1.fineTune=false\
                     &models.1.inference=true&models.1.model=qwen-plus&workspaceId=ws-1";
        let sent = sign_vector(
            Credentials::new("testAK", "testSecret"),
            "POST",
            "/modelstudio/models/permissions",
            &[],
            &[
                ("host", "modelstudio.cn-beijing.aliyuncs.com"),
                ("x-acs-action", "UpdateModelPermissions"),
                ("x-acs-version", "2026-02-10"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body,
        );
        assert_eq!(
            header(&sent, HEADER_CONTENT_SHA256),
            "d386e2f61528f9150d99f4588a48dbc6b9ded9fa18db764d6e34443f18fcf46a"
        );
        let cr = canonical_of("POST", "/modelstudio/models/permissions", &[], &sent);
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "dfac1b3e0911bc5a103dde524c2f915b9356c92517003b6e2665d8528a059add"
        );
        assert!(header(&sent, "authorization").ends_with(
            ",Signature=22269df3fdf84130a2a840faaab79bc3ad594b356fcd237123151f606f2e1c30"
        ));
    }

    /// T7: an encoded path segment and a host with a port.
    #[test]
    fn t7_encoded_path_and_host_with_port() {
        let path = format!(
            "/modelstudio/workspaces/{}",
            encode_path_segment("ws-a/b c")
        );
        assert_eq!(path, "/modelstudio/workspaces/ws-a%2Fb%20c");
        let sent = sign_vector(
            Credentials::new("testAK", "testSecret"),
            "DELETE",
            &path,
            &[],
            &[
                ("host", "127.0.0.1:18080"),
                ("x-acs-action", "DeleteWorkspace"),
                ("x-acs-version", "2026-02-10"),
            ],
            b"",
        );
        let cr = canonical_of("DELETE", &path, &[], &sent);
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "fc81f27dea3d4eefd8b89535fc33e54b9164c518093e8adb484a2ab42fe27f0d"
        );
        assert!(header(&sent, "authorization").ends_with(
            ",Signature=dbc5492bae52abad812178014fd38f9967e3086c3cc557bf9965726d7591b1df"
        ));
    }

    #[test]
    fn caller_copies_of_signer_headers_are_replaced() {
        let query = strings(&[]);
        let headers = strings(&[
            ("host", "h"),
            ("X-Acs-Date", "1999-01-01T00:00:00Z"),
            ("Authorization", "forged"),
            ("user-agent", "msctl"),
        ]);
        let sent = Signer::new(Credentials::new("ak", "sk")).sign_at(
            &RequestToSign {
                method: "GET",
                path: "/",
                query: &query,
                headers: &headers,
                body: b"",
            },
            DATE,
            NONCE,
        );
        let dates: Vec<_> = sent
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-acs-date"))
            .collect();
        assert_eq!(dates.len(), 1);
        assert_eq!(dates[0].1, DATE);
        let auth = header(&sent, "authorization");
        assert!(auth.contains("SignedHeaders=host;x-acs-content-sha256;x-acs-date;"));
        assert!(!auth.contains("user-agent"));
        assert_eq!(sent.last().map(|(n, _)| n.as_str()), Some("Authorization"));
    }

    #[test]
    fn acs_dates_round_trip_and_reject_garbage() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_772_366_400);
        assert_eq!(format_acs_date(t), DATE);
        assert_eq!(parse_acs_date(DATE), Some(1_772_366_400));
        assert_eq!(format_acs_date(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(parse_acs_date("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for bad in [
            "",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01 12:00:00Z",
            "2026-03-01T12:00:00",
            "+026-03-01T12:00:00Z",
            "2026-03-01T12:00:00.000Z",
            "ÜÜÜÜÜÜÜÜÜÜ",
        ] {
            assert_eq!(parse_acs_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_32_hex_and_differ() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
