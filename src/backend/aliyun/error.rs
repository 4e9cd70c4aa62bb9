//! Errors of Alibaba Cloud API calls: parsing error bodies (contract §5.1–5.2), deciding what to
//! retry, hints for the user, and the mapping to [`BackendError`] kinds.
//!
//! Bodies come in two dialects, gateway PascalCase (`Code`, `Message`, `RequestId`) and Model
//! Studio camelCase (`code`, `message`, `requestId`, plus `errorMessage`), so every field is read
//! under both spellings. Nothing here ever holds the access key secret or the STS token: errors
//! are built from the response alone.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::backend::BackendError;

/// Longest piece of a non-JSON body quoted in an error (an HTML error page from a proxy, say).
const BODY_SNIPPET_CHARS: usize = 200;

/// The `AccessDeniedDetail` of a 403 (field names per RAM `DecodeDiagnosticMessage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessDenied {
    /// The action that was denied, e.g. `ram:CreateUser` or `modelstudio:CreateWorkspace`.
    pub auth_action: Option<String>,
    pub auth_principal_type: Option<String>,
    pub auth_principal_display_name: Option<String>,
    /// e.g. `ImplicitDeny` (no policy allows it) or `ExplicitDeny` (a policy denies it).
    pub no_permission_type: Option<String>,
    pub policy_type: Option<String>,
    /// Opaque; RAM `DecodeDiagnosticMessage` turns it into the full evaluation.
    pub encoded_diagnostic_message: Option<String>,
}

/// An error answer from the service: an HTTP 4xx/5xx, or a 2xx whose body says `success:false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status; for a 2xx failure body, its `httpStatusCode` when that is an error status.
    pub status: u16,
    /// The platform code (`EntityNotExist.User`, `Throttling.User`, …); empty if the body had none.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub access_denied: Option<AccessDenied>,
    /// From `x-acs-retry-after` (milliseconds on the wire), when it held a positive integer.
    pub retry_after: Option<Duration>,
    /// The API action that failed, e.g. `CreateUser`, when known.
    pub action: Option<String>,
}

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The service answered with an error (boxed: it is several times the size of the others).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No answer: connection refused, DNS, TLS, timeout, a broken connection.
    #[error("failed to call `{action}`: no answer from `{endpoint}`: {message}")]
    Transport {
        endpoint: String,
        action: String,
        message: String,
        /// Whether the request may have reached the server: false when no connection was made
        /// (refused, DNS, connect timeout), true when it broke or timed out afterwards. A
        /// non-idempotent call that was sent may have been carried out.
        sent: bool,
    },
    /// The client's circuit breaker is open: calls to the endpoint kept failing (no connection,
    /// timeouts, server errors) with no success for a while, so msctl stopped calling it.
    #[error(
        "failed to call `{action}`: `{endpoint}` looks unavailable ({failures} calls in a row \
         failed over {} s, the last with: {last}); msctl stopped calling it",
        over.as_secs()
    )]
    Unavailable {
        endpoint: String,
        action: String,
        failures: u32,
        over: Duration,
        last: String,
    },
    /// A 2xx answer whose body is not JSON; the SDK treats this as unretryable, and so does msctl.
    #[error("failed to read the answer to `{action}`: HTTP {status}, {reason}")]
    InvalidResponse {
        action: String,
        status: u16,
        reason: String,
    },
    /// The request could not be built (no region for a regional product, a bad endpoint URL).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Which [`BackendError`] kind an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    Throttled,
    Refused,
    Invalid,
    Transport,
    /// The endpoint looks down (see [`CallError::Unavailable`]): stop, do not retry.
    Unavailable,
}

/// Codes that mean the credentials or the signature were rejected, whatever their status.
const AUTH_CODE_PREFIXES: [&str; 7] = [
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidTimeStamp",
    "SignatureNonceUsed",
    "InvalidCredentials",
];

fn str_field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| obj.get(*n))
        .filter(|v| !v.is_null())
}

/// A JSON scalar as text (`"code": 200` and `"code": "200"` both occur).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_SNIPPET_CHARS)
        .collect();
    if text.chars().count() > BODY_SNIPPET_CHARS {
        out.push('…');
    }
    out.trim().to_string()
}

/// `x-acs-retry-after` as the SDK reads it: a positive integer of milliseconds, else nothing.
pub fn parse_retry_after(header: Option<&str>) -> Option<Duration> {
    header
        .and_then(|h| h.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

impl AccessDenied {
    fn from_json(v: &Value) -> Option<Self> {
        // Some gateways send the detail as a JSON-encoded string rather than an object.
        let parsed;
        let obj = match v {
            Value::Object(_) => v,
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s).ok()?;
                &parsed
            }
            _ => return None,
        };
        if !obj.is_object() {
            return None;
        }
        let get = |pascal: &str, camel: &str| str_field(obj, &[pascal, camel]).and_then(text);
        Some(AccessDenied {
            auth_action: get("AuthAction", "authAction"),
            auth_principal_type: get("AuthPrincipalType", "authPrincipalType"),
            auth_principal_display_name: get(
                "AuthPrincipalDisplayName",
                "authPrincipalDisplayName",
            ),
            no_permission_type: get("NoPermissionType", "noPermissionType"),
            policy_type: get("PolicyType", "policyType"),
            encoded_diagnostic_message: get("EncodedDiagnosticMessage", "encodedDiagnosticMessage"),
        })
    }
}

impl ApiError {
    /// Builds the error for an HTTP error answer. A body that is not a JSON object still gives an
    /// error (with an empty code and a snippet as message): the status alone decides what to do.
    pub fn from_response(
        status: u16,
        retry_after_header: Option<&str>,
        request_id_header: Option<&str>,
        body: &[u8],
    ) -> Self {
        let mut error = match serde_json::from_slice::<Value>(body) {
            Ok(json) if json.is_object() => Self::from_json(status, &json),
            _ => ApiError {
                status,
                code: String::new(),
                message: snippet(body),
                request_id: None,
                access_denied: None,
                retry_after: None,
                action: None,
            },
        };
        error.retry_after = parse_retry_after(retry_after_header);
        if error.request_id.is_none() {
            error.request_id = request_id_header
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        error
    }

    /// The error carried by a 2xx body with `success: false` (contract §5.1: the SDK does not raise
    /// it, msctl does). `None` when the body is not a failure.
    pub fn from_success_body(status: u16, body: &Value) -> Option<Self> {
        if str_field(body, &["success", "Success"]) != Some(&Value::Bool(false)) {
            return None;
        }
        let body_status = str_field(body, &["httpStatusCode", "HttpStatusCode"])
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (400..=599).contains(s));
        Some(Self::from_json(body_status.unwrap_or(status), body))
    }

    fn from_json(status: u16, json: &Value) -> Self {
        let message = str_field(
            json,
            &["Message", "message", "errorMessage", "ErrorMessage"],
        )
        .and_then(text)
        .unwrap_or_default();
        ApiError {
            status,
            code: str_field(json, &["Code", "code"])
                .and_then(text)
                .unwrap_or_default(),
            message,
            request_id: str_field(json, &["RequestId", "requestId"]).and_then(text),
            access_denied: str_field(json, &["AccessDeniedDetail", "accessDeniedDetail"])
                .and_then(AccessDenied::from_json),
            retry_after: None,
            action: None,
        }
    }

    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Flow control: a `Throttling*` code, HTTP 429, or an `x-acs-retry-after` header.
    pub fn is_throttling(&self) -> bool {
        self.code.starts_with("Throttling") || self.status == 429 || self.retry_after.is_some()
    }

    /// Worth retrying: throttling and server-side failures (5xx, including 503). Other 4xx are the
    /// request's fault and would fail the same way again.
    pub fn is_retryable(&self) -> bool {
        self.is_throttling() || (500..=599).contains(&self.status)
    }

    fn is_auth_failure(&self) -> bool {
        AUTH_CODE_PREFIXES.iter().any(|p| self.code.starts_with(p))
    }

    fn is_permission_denied(&self) -> bool {
        self.code == "NoPermission" || self.code.starts_with("Forbidden")
    }

    /// What the caller can do about it. Order matters: throttling first (it may come as a 400),
    /// then credentials (`InvalidAccessKeyId.NotFound` is a 404 but no missing resource), then the
    /// code families, then the status.
    pub fn kind(&self) -> ErrorKind {
        let code = self.code.as_str();
        if self.is_throttling() {
            ErrorKind::Throttled
        } else if self.is_auth_failure() || self.is_permission_denied() {
            ErrorKind::Refused
        } else if code.starts_with("EntityNotExist") {
            ErrorKind::NotFound
        } else if code.starts_with("EntityAlreadyExists") || code.starts_with("DeleteConflict") {
            ErrorKind::Conflict
        } else if code.starts_with("LimitExceeded") {
            // A quota, not a conflict with live state: retrying or adopting will not help.
            ErrorKind::Refused
        } else if code.starts_with("InvalidAction") || code == "InvalidVersion" {
            // The API does not know the operation: a bug in msctl, not a missing resource.
            ErrorKind::Invalid
        } else if self.status == 404 || code.ends_with(".NotFound") {
            ErrorKind::NotFound
        } else if self.status == 409 {
            ErrorKind::Conflict
        } else if self.status == 403 {
            ErrorKind::Refused
        } else if (500..=599).contains(&self.status) {
            ErrorKind::Transport
        } else {
            ErrorKind::Invalid
        }
    }

    /// A fix the user can apply, for the errors that have one.
    pub fn hint(&self) -> Option<String> {
        let code = self.code.as_str();
        if self.is_throttling() {
            return Some(
                "the API is rate-limiting this account; retry later or apply with less parallelism"
                    .to_string(),
            );
        }
        if code.starts_with("InvalidAccessKeyId") {
            return Some(
                "check ALIBABA_CLOUD_ACCESS_KEY_ID: the key is unknown or disabled \
                 (an expired STS token gives this too)"
                    .to_string(),
            );
        }
        if code.starts_with("InvalidSecurityToken") {
            return Some(
                "refresh ALIBABA_CLOUD_SECURITY_TOKEN: STS tokens expire, and it must belong to \
                 ALIBABA_CLOUD_ACCESS_KEY_ID"
                    .to_string(),
            );
        }
        if code == "SignatureDoesNotMatch" {
            return Some(
                "check ALIBABA_CLOUD_ACCESS_KEY_SECRET; a proxy that rewrites requests also \
                 breaks signatures"
                    .to_string(),
            );
        }
        if code.starts_with("InvalidTimeStamp") {
            return Some(
                "the local clock is more than 15 minutes off; synchronise it (NTP)".to_string(),
            );
        }
        if self.is_permission_denied() || (self.status == 403 && self.access_denied.is_some()) {
            let denied = self.access_denied.as_ref();
            let who = denied
                .and_then(|d| d.auth_principal_display_name.as_deref())
                .map(|name| format!("`{name}`"))
                .unwrap_or_else(|| "the RAM user or role whose access key msctl uses".to_string());
            let explicit = denied
                .and_then(|d| d.no_permission_type.as_deref())
                .is_some_and(|t| t.eq_ignore_ascii_case("ExplicitDeny"));
            let mut hint = match denied.and_then(|d| d.auth_action.as_deref()) {
                Some(action) => format!(
                    "grant {who} a RAM policy allowing `{action}`: the system policy `{}`, or a \
                     custom policy with that action",
                    suggested_policy(action)
                ),
                None => format!(
                    "grant {who} a RAM policy allowing this action, e.g. the system policy \
                     `AliyunBailianFullAccess`, or a custom policy with that action"
                ),
            };
            if explicit {
                hint.push_str("; a policy explicitly denies it, so remove that Deny first");
            }
            return Some(hint);
        }
        if code.starts_with("LimitExceeded") {
            return Some(
                "an account quota is reached; remove unused objects or ask for a higher quota"
                    .to_string(),
            );
        }
        None
    }

    pub fn to_backend_error(&self) -> BackendError {
        let mut message = self.to_string();
        if let Some(hint) = self.hint() {
            message.push_str("\nhint: ");
            message.push_str(&hint);
        }
        match self.kind() {
            ErrorKind::NotFound => BackendError::NotFound(message),
            ErrorKind::Conflict => BackendError::Conflict(message),
            ErrorKind::Throttled => BackendError::Throttled(message),
            ErrorKind::Refused => BackendError::Refused(message),
            ErrorKind::Invalid => BackendError::Invalid(message),
            ErrorKind::Transport => BackendError::Transport(message),
            ErrorKind::Unavailable => BackendError::Unavailable(message),
        }
    }
}

/// The system policy to suggest for a denied action, by its RAM namespace.
fn suggested_policy(action: &str) -> &'static str {
    let namespace = action.split(':').next().unwrap_or_default();
    if namespace.eq_ignore_ascii_case("ram") {
        "AliyunRAMFullAccess"
    } else if namespace.eq_ignore_ascii_case("paiworkspace") {
        "AliyunPAIFullAccess"
    } else {
        "AliyunBailianFullAccess"
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Some(action) => write!(f, "failed to call `{action}`: HTTP {}", self.status)?,
            None => write!(f, "the API answered HTTP {}", self.status)?,
        }
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(action) = self
            .access_denied
            .as_ref()
            .and_then(|d| d.auth_action.as_ref())
        {
            write!(f, " (denied action `{action}`)")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl CallError {
    /// Retry throttling, 5xx and transport failures; never other 4xx, unreadable 2xx bodies, or
    /// requests that could not be built.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Api(e) => e.is_retryable(),
            CallError::Transport { .. } => true,
            CallError::Unavailable { .. }
            | CallError::InvalidResponse { .. }
            | CallError::InvalidRequest(_) => false,
        }
    }

    /// The call failed in a way that leaves unknown whether the service carried it out: a 5xx
    /// answer, or a connection that broke or timed out after the request was sent. Throttling,
    /// other 4xx and connections never made are not ambiguous: the request was not acted on.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            CallError::Api(e) => !e.is_throttling() && (500..=599).contains(&e.status),
            CallError::Transport { sent, .. } => *sent,
            CallError::Unavailable { .. }
            | CallError::InvalidResponse { .. }
            | CallError::InvalidRequest(_) => false,
        }
    }

    /// The delay the service asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Api(e) => e.retry_after,
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            CallError::Api(e) => e.kind(),
            CallError::Transport { .. } => ErrorKind::Transport,
            CallError::Unavailable { .. } => ErrorKind::Unavailable,
            CallError::InvalidResponse { .. } | CallError::InvalidRequest(_) => ErrorKind::Invalid,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            CallError::Api(e) => e.hint(),
            CallError::Transport { .. } => Some(
                "check the network, a proxy (HTTPS_PROXY), or --endpoint; msctl retried already"
                    .to_string(),
            ),
            CallError::Unavailable { .. } => Some(
                "check that the service is up and reachable (network, proxy, --endpoint); changes \
                 not started were left for the next run"
                    .to_string(),
            ),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            CallError::Api(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        CallError::Api(Box::new(e))
    }
}

impl From<CallError> for BackendError {
    fn from(e: CallError) -> Self {
        match &e {
            CallError::Api(api) => api.to_backend_error(),
            other => {
                let mut message = other.to_string();
                if let Some(hint) = other.hint() {
                    message.push_str("\nhint: ");
                    message.push_str(&hint);
                }
                match other.kind() {
                    ErrorKind::Transport => BackendError::Transport(message),
                    ErrorKind::Unavailable => BackendError::Unavailable(message),
                    _ => BackendError::Invalid(message),
                }
            }
        }
    }
}

/// Treats a `NotFound` of a delete as done: a retried delete (or an out-of-band one) finds the
/// object gone, which is what the delete wanted.
pub(super) fn gone_is_ok(result: Result<(), BackendError>) -> Result<(), BackendError> {
    match result {
        Err(BackendError::NotFound(_)) => Ok(()),
        other => other,
    }
}

impl From<crate::acs::product::InvalidHost> for CallError {
    fn from(e: crate::acs::product::InvalidHost) -> Self {
        CallError::InvalidRequest(e.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(status: u16, body: &str) -> ApiError {
        ApiError::from_response(status, None, None, body.as_bytes())
    }

    #[test]
    fn parses_gateway_pascal_case_body() {
        let e = parse(
            404,
            r#"{"RequestId":"R-1","HostId":"ram.aliyuncs.com","Code":"EntityNotExist.User",
                "Message":"The user does not exist.","Recommend":"https://example.invalid"}"#,
        )
        .with_action("GetUser");
        assert_eq!(e.code, "EntityNotExist.User");
        assert_eq!(e.message, "The user does not exist.");
        assert_eq!(e.request_id.as_deref(), Some("R-1"));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "failed to call `GetUser`: HTTP 404 EntityNotExist.User: The user does not exist. \
             (request id R-1)"
        );
    }

    #[test]
    fn parses_model_studio_camel_case_body() {
        let e = parse(
            400,
            r#"{"requestId":"r-8","code":"InvalidParameter.maxResults","message":"bad maxResults",
                "success":false,"httpStatusCode":400}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str(), e.request_id.as_deref()),
            ("InvalidParameter.maxResults", "bad maxResults", Some("r-8"))
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        // errorMessage is the fallback when message is absent.
        let e = parse(400, r#"{"code":"X","errorMessage":"only here"}"#);
        assert_eq!(e.message, "only here");
    }

    #[test]
    fn no_permission_names_the_action_and_a_policy() {
        let e = parse(
            403,
            r#"{"RequestId":"R-3","Code":"NoPermission","Message":"You are not authorized.",
                "AccessDeniedDetail":{"AuthAction":"modelstudio:CreateWorkspace",
                "AuthPrincipalType":"SubUser","AuthPrincipalDisplayName":"ci-bot",
                "NoPermissionType":"ImplicitDeny","PolicyType":"AccountLevelIdentityBasedPolicy",
                "EncodedDiagnosticMessage":"AQEAAA=="}}"#,
        );
        let denied = e.access_denied.as_ref().unwrap();
        assert_eq!(
            denied.auth_action.as_deref(),
            Some("modelstudio:CreateWorkspace")
        );
        assert_eq!(
            denied.encoded_diagnostic_message.as_deref(),
            Some("AQEAAA==")
        );
        assert_eq!(e.kind(), ErrorKind::Refused);
        let hint = e.hint().unwrap();
        assert_eq!(
            hint,
            "grant `ci-bot` a RAM policy allowing `modelstudio:CreateWorkspace`: the system policy \
             `AliyunBailianFullAccess`, or a custom policy with that action"
        );
        let BackendError::Refused(message) = e.to_backend_error() else {
            panic!("expected Refused");
        };
        assert!(message.contains("\nhint: grant `ci-bot`"), "{message}");

        let ram = parse(
            403,
            concat!(
                r#"{"Code":"NoPermission","AccessDeniedDetail":"#,
                r#"{"AuthAction":"ram:CreateUser","NoPermissionType":"ExplicitDeny"}}"#,
            ),
        );
        let hint = ram.hint().unwrap();
        assert!(hint.contains("`AliyunRAMFullAccess`"), "{hint}");
        assert!(hint.contains("explicitly denies"), "{hint}");

        let bare = parse(403, r#"{"Code":"Forbidden.RAM"}"#);
        assert!(bare.hint().unwrap().contains("AliyunBailianFullAccess"));
    }

    #[test]
    fn throttling_is_recognised_by_code_status_or_header() {
        let by_code = parse(
            400,
            concat!(
                r#"{"Code":"Throttling.User","#,
                r#""Message":"Request was denied due to user flow control."}"#,
            ),
        );
        assert!(by_code.is_throttling() && by_code.is_retryable());
        assert_eq!(by_code.kind(), ErrorKind::Throttled);

        let by_status = parse(429, "");
        assert_eq!(by_status.kind(), ErrorKind::Throttled);

        let by_header =
            ApiError::from_response(400, Some("1500"), Some("RID"), br#"{"Code":"Busy"}"#);
        assert_eq!(by_header.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(by_header.request_id.as_deref(), Some("RID"));
        assert_eq!(by_header.kind(), ErrorKind::Throttled);

        for bad in ["0", "-5", "soon", ""] {
            assert_eq!(parse_retry_after(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn statuses_and_codes_map_to_backend_kinds() {
        let kind = |status, code: &str| parse(status, &json!({"Code": code}).to_string()).kind();
        assert_eq!(kind(404, "EntityNotExist.User.Group"), ErrorKind::NotFound);
        assert_eq!(kind(404, "Whatever"), ErrorKind::NotFound);
        assert_eq!(kind(409, "EntityAlreadyExists.User"), ErrorKind::Conflict);
        assert_eq!(kind(409, "DeleteConflict.Group.User"), ErrorKind::Conflict);
        assert_eq!(kind(409, "Other"), ErrorKind::Conflict);
        assert_eq!(kind(409, "LimitExceeded.User.Group"), ErrorKind::Refused);
        assert_eq!(kind(403, "Inactive"), ErrorKind::Refused);
        assert_eq!(kind(404, "InvalidAccessKeyId.NotFound"), ErrorKind::Refused);
        assert_eq!(kind(400, "SignatureDoesNotMatch"), ErrorKind::Refused);
        assert_eq!(kind(404, "InvalidAction.NotFound"), ErrorKind::Invalid);
        assert_eq!(kind(400, "MalformedPolicyDocument"), ErrorKind::Invalid);
        assert_eq!(kind(500, "InternalError"), ErrorKind::Transport);
        assert_eq!(kind(503, "ServiceUnavailable"), ErrorKind::Transport);
        assert!(parse(503, "{}").is_retryable());
        assert!(parse(500, "{}").is_retryable());
        assert!(!parse(400, "{}").is_retryable());

        assert!(matches!(
            BackendError::from(CallError::from(parse(
                409,
                r#"{"Code":"EntityAlreadyExists.User"}"#
            ))),
            BackendError::Conflict(_)
        ));
        assert!(matches!(
            BackendError::from(CallError::from(parse(429, "{}"))),
            BackendError::Throttled(_)
        ));
        assert!(matches!(
            BackendError::from(CallError::Transport {
                endpoint: "https://ram.aliyuncs.com".into(),
                action: "ListUsers".into(),
                message: "connection refused".into(),
                sent: false,
            }),
            BackendError::Transport(_)
        ));
        let unavailable = BackendError::from(CallError::Unavailable {
            endpoint: "https://ram.aliyuncs.com".into(),
            action: "CreateUser".into(),
            failures: 9,
            over: Duration::from_secs(6),
            last: "connection refused".into(),
        });
        let BackendError::Unavailable(message) = unavailable else {
            panic!("expected Unavailable, got {unavailable:?}");
        };
        assert!(
            message.starts_with(
                "failed to call `CreateUser`: `https://ram.aliyuncs.com` looks unavailable \
                 (9 calls in a row failed over 6 s"
            ),
            "{message}"
        );
        assert!(message.contains("\nhint: "), "{message}");
        assert!(matches!(
            BackendError::from(CallError::InvalidRequest("no region".into())),
            BackendError::Invalid(_)
        ));
    }

    #[test]
    fn success_false_in_a_2xx_body_is_an_error() {
        let body = json!({"requestId":"r-9","code":"Workspace.NotFound","success":false});
        let e = ApiError::from_success_body(200, &body).unwrap();
        assert_eq!((e.status, e.code.as_str()), (200, "Workspace.NotFound"));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let body = json!({"code":"Forbidden","success":false,"httpStatusCode":403,"message":"no"});
        assert_eq!(ApiError::from_success_body(200, &body).unwrap().status, 403);
        assert!(
            ApiError::from_success_body(200, &json!({"success": true, "code": "200"})).is_none()
        );
        assert!(ApiError::from_success_body(200, &json!({"RequestId": "x"})).is_none());
        assert!(ApiError::from_success_body(200, &json!([1])).is_none());
    }

    #[test]
    fn odd_bodies_still_give_an_error() {
        let e = parse(502, "<html>\n<body>Bad Gateway</body></html>");
        assert_eq!(e.code, "");
        assert_eq!(e.message, "<html> <body>Bad Gateway</body></html>");
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.is_retryable());
        let long = "x".repeat(5000);
        assert!(parse(400, &long).message.chars().count() <= BODY_SNIPPET_CHARS + 1);
        assert_eq!(parse(400, "[1,2]").code, "");
        assert_eq!(parse(400, r#"{"Code":200,"Message":null}"#).code, "200");
        assert_eq!(parse(400, "\u{0}\u{ff}").kind(), ErrorKind::Invalid);
        let e = parse(
            403,
            r#"{"Code":"NoPermission","AccessDeniedDetail":"{\"AuthAction\":\"ram:GetUser\"}"}"#,
        );
        assert_eq!(
            e.access_denied.unwrap().auth_action.as_deref(),
            Some("ram:GetUser")
        );
        let e = parse(403, r#"{"Code":"NoPermission","AccessDeniedDetail":42}"#);
        assert!(e.access_denied.is_none());
        assert_eq!(e.to_string(), "the API answered HTTP 403 NoPermission");
    }
}
