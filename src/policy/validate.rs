//! The validator: every problem in a policy document, each with a JSON pointer and a hint.
//!
//! It checks structure, not values: an action's service and name are checked for shape, not
//! looked up; an ARN's region and account may be empty, `*`, or masked (`123456789012****`,
//! `177530505652XXXX`), as in published documents. Element names, operators and fixed values
//! (`Allow`/`Deny`) are case-sensitive, as RAM's are; near-misses get a "did you mean" hint.
//!
//! Where the documentation is silent we lean towards accepting: a document rejected here cannot
//! be applied at all, while one RAM rejects fails loudly at apply with `MalformedPolicyDocument`.

use serde_json::{Map, Value};

use super::{MAX_DOCUMENT_CHARS, PolicyKind, PolicyProblem};
mod syntax;

pub(crate) use syntax::*;

const TOP_LEVEL: &[&str] = &["Version", "Statement"];

/// Every element a statement may hold; which ones a kind allows is checked separately, so that a
/// `Principal` in a permission policy gets a clear message rather than "unknown element".
const STATEMENT_ELEMENTS: &[&str] = &[
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "Condition",
];

const PRINCIPAL_TYPES: &[&str] = &["RAM", "Service", "Federated"];

/// RAM's documented operators (string, number, date and time, boolean, IP address).
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "IpAddress",
    "NotIpAddress",
];

/// Set qualifiers for multi-valued keys. RAM's operator page does not list them, but the policy
/// language family does and rejecting a valid document locally would leave no way to apply it;
/// an unsupported one is reported by RAM at apply time instead.
const OPERATOR_PREFIXES: &[&str] = &["ForAllValues:", "ForAnyValue:"];
const OPERATOR_SUFFIX: &str = "IfExists";

/// Validates `doc` as a policy of `kind` and returns every problem found (empty: valid).
pub fn validate(doc: &Value, kind: PolicyKind) -> Vec<PolicyProblem> {
    let mut v = Validator {
        kind,
        problems: Vec::new(),
    };
    v.document(doc);
    v.problems
}

struct Validator {
    kind: PolicyKind,
    problems: Vec<PolicyProblem>,
}

impl Validator {
    fn report(&mut self, pointer: &str, message: String, hint: Option<String>) {
        self.problems.push(PolicyProblem {
            pointer: pointer.to_string(),
            message,
            hint,
        });
    }

    fn document(&mut self, doc: &Value) {
        let Some(top) = doc.as_object() else {
            self.report(
                "",
                format!(
                    "policy document must be a json object, found {}",
                    kind_of(doc)
                ),
                Some(r#"write {"Version": "1", "Statement": [...]}"#.to_string()),
            );
            return;
        };
        let near = self.unknown_keys(
            top,
            "",
            TOP_LEVEL,
            "remove it; a policy document holds only `Version` and `Statement`",
        );

        match top.get("Version") {
            Some(version) => self.version(version),
            None if !near.contains(&"Version") => self.report(
                "",
                "missing `Version`".to_string(),
                Some(r#"add "Version": "1""#.to_string()),
            ),
            None => {}
        }
        match top.get("Statement") {
            Some(statements) => self.statements(statements),
            None if !near.contains(&"Statement") => self.report(
                "",
                "missing `Statement`".to_string(),
                Some(format!(
                    r#"add "Statement": [{{{}}}]"#,
                    self.statement_example()
                )),
            ),
            None => {}
        }
        self.length(doc);
    }

    fn statement_example(&self) -> &'static str {
        match self.kind {
            PolicyKind::Permission => r#""Effect": "Allow", "Action": [...], "Resource": [...]"#,
            PolicyKind::Trust => {
                r#""Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [...]}"#
            }
        }
    }

    /// Reports keys of `obj` not in `known`, suggesting near-misses. Returns the known names that
    /// were suggested, so that the caller does not also report them as missing: one problem
    /// ("did you mean `Version`?") says it better than two.
    fn unknown_keys(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &str,
        known: &[&'static str],
        otherwise: &str,
    ) -> Vec<&'static str> {
        let mut suggested = Vec::new();
        for key in obj.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let hint = match suggest(key, known) {
                Some(name) => {
                    suggested.push(name);
                    if name.eq_ignore_ascii_case(key) {
                        format!("did you mean `{name}`? element names are case-sensitive")
                    } else {
                        format!("did you mean `{name}`?")
                    }
                }
                None => otherwise.to_string(),
            };
            self.report(
                &child(pointer, key),
                format!("unknown element `{key}`"),
                Some(hint),
            );
        }
        suggested
    }

    fn version(&mut self, version: &Value) {
        if version.as_str() == Some("1") {
            return;
        }
        let hint = match version {
            Value::Number(n) if n.as_u64() == Some(1) => r#"write "1" as a string, with quotes"#,
            _ => r#"write "Version": "1"; it is the only policy language version"#,
        };
        self.report(
            "/Version",
            format!(
                r#"`Version` must be the string "1", found {}"#,
                show(version)
            ),
            Some(hint.to_string()),
        );
    }

    fn statements(&mut self, statements: &Value) {
        let list = match statements {
            Value::Array(list) => list,
            Value::Object(_) => {
                self.report(
                    "/Statement",
                    "`Statement` must be a list of statements, found an object".to_string(),
                    Some(r#"wrap the statement in a list: "Statement": [{...}]"#.to_string()),
                );
                return;
            }
            other => {
                self.report(
                    "/Statement",
                    format!(
                        "`Statement` must be a list of statements, found {}",
                        kind_of(other)
                    ),
                    None,
                );
                return;
            }
        };
        if list.is_empty() {
            self.report(
                "/Statement",
                "`Statement` must not be empty".to_string(),
                Some(format!(
                    "add at least one statement: {{{}}}",
                    self.statement_example()
                )),
            );
        }
        let before = self.problems.len();
        for (i, statement) in list.iter().enumerate() {
            let pointer = format!("/Statement/{i}");
            match statement.as_object() {
                Some(obj) => self.statement(obj, &pointer),
                None => self.report(
                    &pointer,
                    format!("statement must be an object, found {}", kind_of(statement)),
                    None,
                ),
            }
        }
        // Only when the statements are otherwise sound: a misspelt `Action` or `Effect` is
        // already reported, and saying "nobody can assume the role" on top would repeat it.
        if self.kind == PolicyKind::Trust
            && !list.is_empty()
            && self.problems.len() == before
            && !list.iter().any(allows_assume_role)
        {
            self.report(
                "/Statement",
                "trust policy has no `Allow` statement for `sts:AssumeRole`".to_string(),
                Some(
                    concat!(
                        r#"add "Action": "sts:AssumeRole" with "Effect": "Allow"; "#,
                        "without it nobody can assume the role"
                    )
                    .to_string(),
                ),
            );
        }
    }

    fn statement(&mut self, obj: &Map<String, Value>, pointer: &str) {
        let otherwise = match self.kind {
            PolicyKind::Permission => {
                "remove it; a statement holds Effect, Action or NotAction, Resource or \
                        NotResource, and Condition"
            }
            PolicyKind::Trust => {
                "remove it; a trust statement holds Effect, Action, Principal and Condition"
            }
        };
        let near = self.unknown_keys(obj, pointer, STATEMENT_ELEMENTS, otherwise);
        let near_any = |names: &[&str]| names.iter().any(|n| near.contains(n));

        match obj.get("Effect") {
            Some(effect) => self.effect(effect, &child(pointer, "Effect")),
            None if !near_any(&["Effect"]) => self.report(
                pointer,
                "missing `Effect`".to_string(),
                Some(r#"add "Effect": "Allow" or "Effect": "Deny""#.to_string()),
            ),
            None => {}
        }

        self.actions(obj, pointer, near_any(&["Action", "NotAction"]));
        self.resources(obj, pointer, near_any(&["Resource", "NotResource"]));

        match (self.kind, obj.get("Principal")) {
            (PolicyKind::Permission, Some(_)) => self.report(
                &child(pointer, "Principal"),
                "`Principal` is only allowed in trust policies".to_string(),
                Some(
                    "remove it; a permission policy applies to whoever it is attached to"
                        .to_string(),
                ),
            ),
            (PolicyKind::Trust, Some(principal)) => {
                self.principal(principal, &child(pointer, "Principal"))
            }
            (PolicyKind::Trust, None) if !near_any(&["Principal"]) => self.report(
                pointer,
                "missing `Principal`".to_string(),
                Some(
                    concat!(
                        r#"add "Principal": {"RAM": ["acs:ram::<account-id>:root"]}, "#,
                        "or a `Service` or `Federated` principal"
                    )
                    .to_string(),
                ),
            ),
            _ => {}
        }

        if let Some(condition) = obj.get("Condition") {
            self.condition(condition, &child(pointer, "Condition"));
        }
    }

    fn effect(&mut self, effect: &Value, pointer: &str) {
        let hint = match effect.as_str() {
            Some("Allow" | "Deny") => return,
            Some(s) if s.eq_ignore_ascii_case("allow") => {
                Some("write `Allow`; values are case-sensitive".to_string())
            }
            Some(s) if s.eq_ignore_ascii_case("deny") => {
                Some("write `Deny`; values are case-sensitive".to_string())
            }
            _ => None,
        };
        self.report(
            pointer,
            format!("`Effect` must be `Allow` or `Deny`, found {}", show(effect)),
            hint,
        );
    }

    fn actions(&mut self, obj: &Map<String, Value>, pointer: &str, near_miss: bool) {
        let action = obj.get("Action");
        let not_action = obj.get("NotAction");
        if action.is_some() && not_action.is_some() {
            self.report(
                pointer,
                "statement has both `Action` and `NotAction`".to_string(),
                Some("keep one: a statement names its actions either way, not both".to_string()),
            );
        }
        if action.is_none() && not_action.is_none() && !near_miss {
            let hint = match self.kind {
                PolicyKind::Permission => {
                    r#"add "Action": ["service:Action", ...] (or `NotAction`)"#
                }
                PolicyKind::Trust => r#"add "Action": "sts:AssumeRole""#,
            };
            self.report(
                pointer,
                "missing `Action`".to_string(),
                Some(hint.to_string()),
            );
        }
        if let Some(value) = action {
            let at = child(pointer, "Action");
            for (item, s) in self.string_or_list(value, &at, "Action") {
                self.action(s, &item);
            }
        }
        if let Some(value) = not_action {
            let at = child(pointer, "NotAction");
            if self.kind == PolicyKind::Trust {
                self.report(
                    &at,
                    "`NotAction` is not allowed in trust policies".to_string(),
                    Some(r#"name the actions in `Action`, e.g. "sts:AssumeRole""#.to_string()),
                );
            } else {
                for (item, s) in self.string_or_list(value, &at, "NotAction") {
                    self.action(s, &item);
                }
            }
        }
    }

    fn action(&mut self, action: &str, pointer: &str) {
        if action == "*" {
            return;
        }
        if action.is_empty() {
            self.report(pointer, "action must not be empty".to_string(), None);
            return;
        }
        if action.chars().any(char::is_whitespace) {
            self.report(
                pointer,
                format!("action `{action}` must not contain whitespace"),
                None,
            );
            return;
        }
        let Some((service, name)) = action.split_once(':') else {
            self.report(
                pointer,
                format!("action `{action}` must be `service:Action`"),
                Some(format!(
                    "e.g. `{action}:*` for every action of the service, `oss:GetObject`, \
                            or `*` for every action"
                )),
            );
            return;
        };
        // Action values are case-insensitive to RAM (domain.md), so upper-case service codes are
        // accepted; the shape is still a RAM code: letters, digits and `-`.
        if !(service == "*" || is_code(service)) {
            self.report(
                pointer,
                format!("action `{action}` has an invalid service `{service}`"),
                Some(
                    "the service is a RAM code of letters, digits and `-` (e.g. `oss`, \
                        `sfm`), or `*`"
                        .to_string(),
                ),
            );
            return;
        }
        if name.is_empty() || name.contains(':') {
            self.report(
                pointer,
                format!("action `{action}` must be `service:Action` with one `:`"),
                Some(format!("e.g. `{service}:*` or `{service}:Get*`")),
            );
            return;
        }
        if self.kind == PolicyKind::Trust
            && !(service == "*" || service.eq_ignore_ascii_case("sts"))
        {
            self.report(
                pointer,
                format!("trust policy action `{action}` is not an `sts` action"),
                Some(
                    "a trust policy grants `sts:AssumeRole` (optionally \
                            `sts:SetSourceIdentity`); permissions belong in a permission policy \
                            attached to the role"
                        .to_string(),
                ),
            );
        }
    }

    fn resources(&mut self, obj: &Map<String, Value>, pointer: &str, near_miss: bool) {
        let resource = obj.get("Resource");
        let not_resource = obj.get("NotResource");
        if resource.is_some() && not_resource.is_some() {
            self.report(
                pointer,
                "statement has both `Resource` and `NotResource`".to_string(),
                Some("keep one".to_string()),
            );
        }
        // Trust policies name a principal instead; a resource there is checked if present.
        if self.kind == PolicyKind::Permission
            && resource.is_none()
            && not_resource.is_none()
            && !near_miss
        {
            self.report(
                pointer,
                "missing `Resource`".to_string(),
                Some(r#"add "Resource": "*" or ARNs such as "acs:oss:*:*:mybucket/*""#.to_string()),
            );
        }
        for (name, value) in [("Resource", resource), ("NotResource", not_resource)] {
            if let Some(value) = value {
                let at = child(pointer, name);
                for (item, s) in self.string_or_list(value, &at, name) {
                    self.resource(s, &item);
                }
            }
        }
    }

    fn resource(&mut self, resource: &str, pointer: &str) {
        if resource == "*" {
            return;
        }
        if let Err((message, hint)) = check_arn(resource) {
            self.report(pointer, message, hint);
        }
    }

    fn principal(&mut self, principal: &Value, pointer: &str) {
        let Some(obj) = principal.as_object() else {
            self.report(
                pointer,
                format!(
                    "`Principal` must be an object with `RAM`, `Service` or `Federated`, found {}",
                    kind_of(principal)
                ),
                Some(r#"e.g. "Principal": {"RAM": ["acs:ram::<account-id>:root"]}"#.to_string()),
            );
            return;
        };
        let near = self.unknown_keys(
            obj,
            pointer,
            PRINCIPAL_TYPES,
            "remove it; a principal is `RAM`, `Service` or `Federated`",
        );
        if !PRINCIPAL_TYPES.iter().any(|t| obj.contains_key(*t)) && near.is_empty() {
            self.report(
                pointer,
                "`Principal` names no principal".to_string(),
                Some(
                    "add `RAM` (accounts, users), `Service` (cloud services) or `Federated` \
                        (SAML/OIDC providers)"
                        .to_string(),
                ),
            );
        }
        for name in PRINCIPAL_TYPES {
            let Some(value) = obj.get(*name) else {
                continue;
            };
            let at = child(pointer, name);
            for (item, s) in self.string_or_list(value, &at, name) {
                if s.is_empty() || s.chars().any(char::is_whitespace) {
                    self.report(
                        &item,
                        format!(
                            "`{name}` principal {} must be non-empty without whitespace",
                            show_str(s)
                        ),
                        None,
                    );
                } else if *name != "Service"
                    && (s.starts_with("acs:") || s.starts_with("arn:"))
                    && let Err((message, hint)) = check_arn(s)
                {
                    self.report(&item, message, hint);
                }
            }
        }
    }

    fn condition(&mut self, condition: &Value, pointer: &str) {
        let Some(operators) = condition.as_object() else {
            self.report(
                pointer,
                format!(
                    "`Condition` must be an object mapping operators to condition keys, found {}",
                    kind_of(condition)
                ),
                Some(
                    r#"e.g. "Condition": {"StringEquals": {"acs:SourceVpc": "vpc-..."}}"#
                        .to_string(),
                ),
            );
            return;
        };
        for (operator, block) in operators {
            let at = child(pointer, operator);
            if let Err(suggestion) = check_operator(operator) {
                let hint = match suggestion {
                    Some(s) if s.eq_ignore_ascii_case(operator) => {
                        format!("did you mean `{s}`? operator names are case-sensitive")
                    }
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "known operators: String*, Numeric*, Date*, Bool, IpAddress, \
                            NotIpAddress, optionally with an `IfExists` suffix or a \
                            `ForAnyValue:`/`ForAllValues:` prefix"
                        .to_string(),
                };
                self.report(
                    &at,
                    format!("unknown condition operator `{operator}`"),
                    Some(hint),
                );
            }
            let Some(keys) = block.as_object() else {
                self.report(
                    &at,
                    format!(
                        "condition operator `{operator}` must map condition keys to \
                                values, found {}",
                        kind_of(block)
                    ),
                    Some(format!(
                        r#"e.g. "{operator}": {{"acs:SourceIp": ["192.0.2.0/24"]}}"#
                    )),
                );
                continue;
            };
            for (key, value) in keys {
                let key_at = child(&at, key);
                if key.is_empty() {
                    self.report(&key_at, "condition key must not be empty".to_string(), None);
                }
                self.condition_value(key, value, &key_at);
            }
        }
    }

    fn condition_value(&mut self, key: &str, value: &Value, pointer: &str) {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            Value::Array(items) => {
                if items.is_empty() {
                    self.report(
                        pointer,
                        format!("condition values for `{key}` must not be an empty list"),
                        Some(r#"list at least one value; `""` matches an empty value"#.to_string()),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    if !is_scalar(item) {
                        self.report(
                            &format!("{pointer}/{i}"),
                            format!(
                                "condition value for `{key}` must be a string, number or \
                                        boolean, found {}",
                                kind_of(item)
                            ),
                            None,
                        );
                    }
                }
            }
            other => self.report(
                pointer,
                format!(
                    "condition value for `{key}` must be a string, number, boolean or a \
                            list of them, found {}",
                    kind_of(other)
                ),
                None,
            ),
        }
    }

    /// `Action`, `Resource` and principals are a string or a non-empty list of strings. Returns
    /// the strings with their pointers so the caller can check each one.
    fn string_or_list<'v>(
        &mut self,
        value: &'v Value,
        pointer: &str,
        name: &str,
    ) -> Vec<(String, &'v str)> {
        match value {
            Value::String(s) => vec![(pointer.to_string(), s.as_str())],
            Value::Array(items) => {
                if items.is_empty() {
                    self.report(pointer, format!("`{name}` must not be an empty list"), None);
                }
                let mut strings = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{pointer}/{i}");
                    match item {
                        Value::String(s) => strings.push((at, s.as_str())),
                        other => self.report(
                            &at,
                            format!("`{name}` entries must be strings, found {}", kind_of(other)),
                            None,
                        ),
                    }
                }
                strings
            }
            other => {
                self.report(
                    pointer,
                    format!(
                        "`{name}` must be a string or a list of strings, found {}",
                        kind_of(other)
                    ),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn length(&mut self, doc: &Value) {
        // Value serialisation cannot fail (keys are strings); treat a failure as "not measured".
        let chars = serde_json::to_string(doc).map_or(0, |s| s.chars().count());
        if chars > MAX_DOCUMENT_CHARS {
            self.report(
                "",
                format!(
                    "policy document is {chars} characters long as compact json; ram \
                            allows at most {MAX_DOCUMENT_CHARS}"
                ),
                Some(
                    "split the statements across several policies, or shorten action lists \
                        with wildcards such as `oss:Get*`"
                        .to_string(),
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
