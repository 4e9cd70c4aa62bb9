//! Name rules and the platform catalogue that config validation checks against. Sources:
//! domain.md and the API contract.

pub use crate::model::platform::{IP_ALLOW_REGION, PAGES, PAI_ROLES, REGIONS, SYSTEM_POLICIES};
use crate::policy;

/// The largest rate limit the Model Studio API takes: `requestLimit` and `usageLimit` of
/// `UpdateModelLimits` are int64 (API contract §1.6).
pub const API_LIMIT_MAX: u64 = i64::MAX as u64;

/// The placeholder a workspace with `environments` substitutes in its fields.
pub const ENV_PLACEHOLDER: &str = "{env}";

/// `{word}` placeholders in `text` that are not `{env}`, with their byte ranges: msctl
/// substitutes only `{env}`, so any other one is a typo (`{evn}`) that would pass through
/// literally.
pub fn unknown_placeholders(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find('{').map(|i| rest + i) {
        let Some(close) = text[open + 1..].find(['{', '}']).map(|i| open + 1 + i) else {
            break;
        };
        if text.as_bytes()[close] == b'{' {
            rest = close;
            continue;
        }
        let inner = &text[open + 1..close];
        let word = !inner.is_empty()
            && inner.len() <= 32
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ');
        if word && &text[open..=close] != ENV_PLACEHOLDER {
            out.push((open..close + 1, &text[open..=close]));
        }
        rest = close + 1;
    }
    out
}

/// A rule for a name's first character, and its description.
pub type FirstChar = (fn(char) -> bool, &'static str);

/// A name rule: length bounds and allowed characters, as the platform enforces them.
pub struct NameRule {
    pub what: &'static str,
    pub min: usize,
    pub max: usize,
    pub allowed: fn(char) -> bool,
    pub allowed_text: &'static str,
    /// The first character must satisfy this too (PAI workspaces start with a letter).
    pub first: Option<FirstChar>,
}

impl NameRule {
    /// Why `name` breaks the rule, if it does.
    pub fn check(&self, name: &str) -> Option<String> {
        let len = name.chars().count();
        if len < self.min || len > self.max {
            return Some(format!(
                "{} `{name}` is {len} characters long; the platform allows {}–{}",
                self.what, self.min, self.max
            ));
        }
        if let Some(bad) = name.chars().find(|c| !(self.allowed)(*c)) {
            return Some(format!(
                "{} `{name}` contains `{bad}`; allowed characters are {}",
                self.what, self.allowed_text
            ));
        }
        if let Some((first_ok, text)) = self.first
            && let Some(c) = name.chars().next()
            && !first_ok(c)
        {
            return Some(format!("{} `{name}` must start with {text}", self.what));
        }
        None
    }
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

pub const WORKSPACE_NAME: NameRule = NameRule {
    what: "workspace name",
    min: 1,
    max: 64,
    allowed: |c| alnum(c) || c == '-' || c == '_',
    allowed_text: "letters, digits, `-` and `_`",
    first: None,
};

pub const API_KEY_NAME: NameRule = NameRule {
    what: "API key name",
    min: 1,
    max: 64,
    allowed: |c| alnum(c) || c == '-' || c == '_',
    allowed_text: "letters, digits, `-` and `_`",
    first: None,
};

pub const RAM_USER_NAME: NameRule = NameRule {
    what: "RAM user name",
    min: 1,
    max: policy::RAM_USER_NAME.max,
    allowed: |c| policy::RAM_USER_NAME.allows(c),
    allowed_text: "letters, digits, `.`, `_` and `-`",
    first: None,
};

pub const RAM_GROUP_NAME: NameRule = NameRule {
    what: "RAM group name",
    max: policy::RAM_GROUP_NAME.max,
    allowed: |c| policy::RAM_GROUP_NAME.allows(c),
    ..RAM_USER_NAME
};

pub const RAM_ROLE_NAME: NameRule = NameRule {
    what: "RAM role name",
    min: 1,
    max: policy::RAM_ROLE_NAME.max,
    allowed: |c| policy::RAM_ROLE_NAME.allows(c),
    allowed_text: "letters, digits, `.` and `-`",
    first: None,
};

pub const RAM_POLICY_NAME: NameRule = NameRule {
    what: "RAM policy name",
    min: 1,
    max: policy::RAM_POLICY_NAME.max,
    allowed: |c| policy::RAM_POLICY_NAME.allows(c),
    allowed_text: "letters, digits and `-`",
    first: None,
};

pub const PAI_WORKSPACE_NAME: NameRule = NameRule {
    what: "PAI workspace name",
    min: 3,
    max: 23,
    allowed: |c| alnum(c) || c == '_',
    allowed_text: "letters, digits and `_`",
    first: Some((|c| c.is_ascii_alphabetic(), "a letter")),
};

/// Whether `s` is an IPv4/IPv6 address or CIDR block.
pub fn is_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    match prefix {
        None => true,
        Some(p) => p
            .parse::<u8>()
            .is_ok_and(|n| n <= if ip.is_ipv4() { 32 } else { 128 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_follow_the_platform() {
        assert!(RAM_USER_NAME.check("alice.smith-01_x").is_none());
        assert!(RAM_ROLE_NAME.check("ops_role").unwrap().contains("`_`"));
        assert!(
            RAM_POLICY_NAME
                .check(&"a".repeat(129))
                .unwrap()
                .contains("1–128")
        );
        assert!(
            PAI_WORKSPACE_NAME
                .check("1abc")
                .unwrap()
                .contains("start with a letter")
        );
        assert!(PAI_WORKSPACE_NAME.check("ab").is_some());
        assert!(WORKSPACE_NAME.check("chatbot-prod").is_none());
    }

    #[test]
    fn cidrs() {
        assert!(is_cidr("10.0.0.0/8"));
        assert!(is_cidr("::/0"));
        assert!(is_cidr("1.2.3.4"));
        assert!(!is_cidr("10.0.0.0/33"));
        assert!(!is_cidr("example.com"));
    }

    #[test]
    fn unknown_placeholders_are_found() {
        let found = |t: &str| -> Vec<String> {
            unknown_placeholders(t)
                .into_iter()
                .map(|(_, p)| p.to_string())
                .collect()
        };
        assert_eq!(found("app-{evn}"), ["{evn}"]);
        assert_eq!(found("key for {env} and {ENV}"), ["{ENV}"]);
        assert_eq!(found("{env}"), Vec::<String>::new());
        assert_eq!(found("json {\"a\": 1} {{x}"), ["{x}"]);
        assert_eq!(found("no braces"), Vec::<String>::new());
    }
}
