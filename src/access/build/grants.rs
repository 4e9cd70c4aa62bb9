//! What policies grant: system policies by name, custom policy documents statement by statement,
//! who a trust policy admits, and model limits as text.

use super::*;

/// `120 requests/60 s, 120000 tokens/60 s`.
pub(super) fn limit_text(l: &ModelLimit) -> String {
    let mut s = format!("{} requests/{} s", l.requests, l.request_period);
    if let Some(t) = l.tokens {
        s.push_str(&format!(", {t} tokens/{} s", l.usage_period.unwrap_or(60)));
    }
    s
}

/// The limit lines a call inherits from its workspace.
pub(super) fn limits_of(access: &ModelAccess) -> Vec<String> {
    let mut out = vec![format!("limit: {}", access.limit)];
    if let Some(share) = access.quota_share {
        out.push(format!("quota share: {share}"));
    }
    out
}

/// The grants of a system policy, by name.
pub(super) fn system_grants(name: &str) -> Vec<Grant> {
    if name == "AdministratorAccess" {
        // Everything: Model Studio, RAM, billing, the data APIs.
        return vec![
            Grant::SuperAdmin,
            Grant::RamAdmin,
            Grant::Billing,
            Grant::DataPolicy {
                policy: name.to_string(),
            },
        ];
    }
    match policy::system_policy_risk(name) {
        Some(Risk::SuperAdmin) => vec![Grant::SuperAdmin],
        Some(Risk::RamAdmin) => vec![Grant::RamAdmin],
        Some(Risk::Billing) => vec![Grant::Billing],
        Some(Risk::ModelStudioManagement) => vec![Grant::Management {
            policy: name.to_string(),
        }],
        Some(Risk::Data) => vec![Grant::DataPolicy {
            policy: name.to_string(),
        }],
        None => Vec::new(),
    }
}

/// The grants of a custom policy document, each with the step that shows it: its management-layer
/// risks (from `policy::document_risks`) and every data-layer statement action, Allow and Deny.
pub(super) fn custom_grants(p: &RamPolicy) -> Vec<(Grant, Step)> {
    let address = Address::RamPolicy {
        name: p.name.clone(),
    };
    let mut out = Vec::new();
    for risk in policy::document_risks(&p.document) {
        let grant = match risk {
            Risk::SuperAdmin => Grant::SuperAdmin,
            Risk::RamAdmin => Grant::RamAdmin,
            Risk::Billing => Grant::Billing,
            Risk::ModelStudioManagement => Grant::Management {
                policy: p.name.clone(),
            },
            // The statements below say which data actions, one by one.
            Risk::Data => continue,
        };
        out.push((
            grant,
            Step::new(
                address.clone(),
                format!("the document of {} {}", p.name, risk.describe()),
            ),
        ));
    }
    let Some(Value::Array(statements)) = p.document.get("Statement") else {
        return out;
    };
    for (i, st) in statements.iter().enumerate() {
        let effect = match st.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => continue,
        };
        let condition = match st.get("Condition") {
            Some(Value::Object(c)) if !c.is_empty() => {
                Some(policy::canonical(&Value::Object(c.clone())).to_string())
            }
            _ => None,
        };
        let resources = st.get("Resource").map(strings).unwrap_or_default();
        let resource =
            (!resources.is_empty() && !resources.contains(&"*")).then(|| resources.join(", "));
        let verb = match effect {
            Effect::Allow => "allows",
            Effect::Deny => "denies",
        };
        let actions: Vec<String> = match (st.get("Action"), st.get("NotAction")) {
            (Some(a), _) => strings(a).into_iter().map(str::to_string).collect(),
            // Allow/Deny + NotAction covers every action but the listed ones: it reaches the
            // data APIs unless it lists one of their services whole.
            (None, Some(except)) => {
                let except = strings(except);
                let covers_data = DATA_SERVICES.iter().any(|s| {
                    !except
                        .iter()
                        .any(|e| policy::wildcard_match(e, &format!("{s}:*")))
                });
                if covers_data {
                    vec![format!("* except {}", except.join(", "))]
                } else {
                    Vec::new()
                }
            }
            (None, None) => Vec::new(),
        };
        for action in actions {
            let service = action.split_once(':').map_or(action.as_str(), |(s, _)| s);
            let data = action.starts_with("* except")
                || DATA_SERVICES
                    .iter()
                    .any(|s| policy::wildcard_match(service, s));
            if !data {
                continue;
            }
            out.push((
                Grant::Api {
                    effect,
                    action: action.clone(),
                    condition: condition.clone(),
                    resource: resource.clone(),
                },
                Step::new(
                    address.clone(),
                    format!("statement {} of {} {verb} {action}", i + 1, p.name),
                ),
            ));
        }
    }
    out
}

/// RAM users a trust policy lets assume the role (`acs:ram::UID:user/NAME` in an Allow statement
/// on `sts:AssumeRole`).
pub fn trusted_users(trust: &Value) -> Vec<String> {
    let Some(Value::Array(statements)) = trust.get("Statement") else {
        return Vec::new();
    };
    let mut users = Vec::new();
    for st in statements {
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let assumes = st
            .get("Action")
            .map(strings)
            .unwrap_or_default()
            .iter()
            .any(|a| policy::wildcard_match(a, "sts:AssumeRole"));
        if !assumes {
            continue;
        }
        let Some(ram) = st.get("Principal").and_then(|p| p.get("RAM")) else {
            continue;
        };
        for arn in strings(ram) {
            if let Some((_, user)) = arn.rsplit_once(":user/")
                && !user.is_empty()
                && !users.iter().any(|u| u == user)
            {
                users.push(user.to_string());
            }
        }
    }
    users
}

pub(super) fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}
