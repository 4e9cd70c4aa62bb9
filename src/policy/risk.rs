//! Risk classification: which policies deserve a plan warning, and which make a principal governed.
//!
//! System policies are classified by name, custom documents by the actions their `Allow`
//! statements grant. The reasons come from domain.md: super administrators manage every
//! workspace; RAM administrators can grant anything to anyone; billing is account-wide; the data
//! layer (`sfm:`, `bailiandata:`) is bounded by workspace membership.
//!
//! The document classifier errs towards warning: it ignores `Condition` and `Resource` scoping on
//! `Allow` statements, and honours a `Deny` only when it is unconditional, covers every resource
//! and removes a whole service (`bss:*`), as in "everything except billing" policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a policy grants that a reviewer should know about. Variants are declared most severe
/// first, so `Ord` sorts by severity and [`document_risk`] returns the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// `AliyunBailianFullAccess`, `AdministratorAccess`, or a custom `*` / full wildcard on the
    /// Model Studio management services (`bailiancontrol:*`, `modelstudio:*`).
    SuperAdmin,
    /// `AliyunRAMFullAccess`, or RAM actions that change who may do what (attach policies,
    /// create users and keys, edit policies and roles, pass roles).
    RamAdmin,
    /// Other Model Studio management-layer policies (`AliyunBailian*`, `AliyunModelStudio*`) or
    /// actions on `bailiancontrol:`, `modelstudio:`, `bailianchatbot:`.
    ModelStudioManagement,
    /// `AliyunBSS*` (`AliyunBSSReadOnlyAccess`, `AliyunBSSOrderAccess`) or `bss:` / `efc:` actions.
    Billing,
    /// `AliyunBailianData*`, or `sfm:` / `bailiandata:` actions: the Model Studio data-layer APIs.
    Data,
}

impl Risk {
    /// A stable machine name (`super_admin`, ...) for JSON output and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::SuperAdmin => "super_admin",
            Risk::RamAdmin => "ram_admin",
            Risk::ModelStudioManagement => "model_studio_management",
            Risk::Billing => "billing",
            Risk::Data => "data",
        }
    }

    /// One line saying why this deserves attention, for plan and validation warnings.
    pub fn describe(self) -> &'static str {
        match self {
            Risk::SuperAdmin => {
                "grants Model Studio super administrator rights: workspaces, model calls and rate \
                    limits, users and API keys in every workspace"
            }
            Risk::RamAdmin => {
                "grants RAM administration: the holder can grant any policy, including \
                    AliyunBailianFullAccess, to anyone"
            }
            Risk::ModelStudioManagement => {
                "grants Model Studio management-layer access; it gives no workspace access by \
                    itself, membership is still required"
            }
            Risk::Billing => {
                "grants billing access, which is account-wide: it cannot be limited to a workspace"
            }
            Risk::Data => {
                "grants Model Studio data-layer APIs (applications, knowledge bases, prompts, \
                    memory), bounded by workspace membership"
            }
        }
    }
}

/// The risk of an Alibaba Cloud system policy, by its (case-sensitive) name.
pub fn system_policy_risk(name: &str) -> Option<Risk> {
    match name {
        // AliyunSFMFullAccess is the earlier name of the Model Studio administrator policy: the
        // platform's own error message names the two together.
        "AliyunBailianFullAccess" | "AliyunSFMFullAccess" | "AdministratorAccess" => {
            Some(Risk::SuperAdmin)
        }
        "AliyunRAMFullAccess" => Some(Risk::RamAdmin),
        _ if name.starts_with("AliyunBailianData") => Some(Risk::Data),
        _ if name.starts_with("AliyunBailian") || name.starts_with("AliyunModelStudio") => {
            Some(Risk::ModelStudioManagement)
        }
        _ if name.starts_with("AliyunBSS") => Some(Risk::Billing),
        _ => None,
    }
}

/// Whether a principal holding this system policy is in a scope msctl governs (Model Studio,
/// RAM administration or billing): `drift` then reports unmanaged holders as drift.
pub fn is_model_studio_related(name: &str) -> bool {
    system_policy_risk(name).is_some()
}

/// The most severe risk a custom policy document grants, if any.
pub fn document_risk(doc: &Value) -> Option<Risk> {
    document_risks(doc).into_iter().next()
}

/// Every risk a custom policy document grants, most severe first, without duplicates.
pub fn document_risks(doc: &Value) -> Vec<Risk> {
    let statements: &[Value] = match doc.get("Statement") {
        Some(Value::Array(list)) => list,
        _ => return Vec::new(),
    };
    let denied = denied_services(statements);
    let mut risks = Vec::new();
    for statement in statements {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if let Some(actions) = statement.get("Action") {
            for action in strings(actions) {
                classify(action, &denied, &[], &mut risks);
            }
        } else if let Some(except) = statement.get("NotAction") {
            // Allow + NotAction grants everything but the listed actions: classify it as `*`,
            // minus the services it excludes entirely.
            let excluded = whole_services(strings(except));
            classify("*", &denied, &excluded, &mut risks);
        }
    }
    risks.sort();
    risks.dedup();
    risks
}

/// Model Studio management services, and whether a full wildcard on them is super admin.
const MANAGEMENT: &[(&str, bool)] = &[
    ("bailiancontrol", true),
    ("modelstudio", true),
    ("bailianchatbot", false),
];
const DATA: &[&str] = &["sfm", "bailiandata"];
/// Billing RAM codes: the ones Alibaba Cloud's own "everything except billing" example policies
/// deny (corpus 18 and 19).
const BILLING: &[&str] = &["bss", "efc"];

/// RAM actions that change who may do what (API contract §2.3–2.6); reading, MFA and
/// service-linked roles do not.
const RAM_ESCALATION: &[&str] = &[
    "AttachPolicyToUser",
    "AttachPolicyToGroup",
    "AttachPolicyToRole",
    "DetachPolicyFromUser",
    "DetachPolicyFromGroup",
    "DetachPolicyFromRole",
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "CreateUser",
    "UpdateUser",
    "DeleteUser",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "CreateGroup",
    "UpdateGroup",
    "DeleteGroup",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "CreateRole",
    "UpdateRole",
    "DeleteRole",
    "PassRole",
    "SetSecurityPreference",
    "SetPasswordPolicy",
];

fn classify(action: &str, denied: &[String], excluded: &[String], risks: &mut Vec<Risk>) {
    let (service, name) = match action.split_once(':') {
        Some(parts) => parts,
        None if action == "*" => ("*", "*"),
        None => return,
    };
    let grants = |target: &str| {
        wildcard_match(service, target)
            && !denied
                .iter()
                .any(|d| d == "*" || d.eq_ignore_ascii_case(target))
            && !excluded
                .iter()
                .any(|d| d == "*" || d.eq_ignore_ascii_case(target))
    };
    let everything = name.chars().all(|c| c == '*');
    for (target, full_is_admin) in MANAGEMENT {
        if grants(target) {
            risks.push(if everything && *full_is_admin {
                Risk::SuperAdmin
            } else {
                Risk::ModelStudioManagement
            });
        }
    }
    if grants("ram") && RAM_ESCALATION.iter().any(|a| wildcard_match(name, a)) {
        risks.push(Risk::RamAdmin);
    }
    if BILLING.iter().any(|t| grants(t)) {
        risks.push(Risk::Billing);
    }
    if DATA.iter().any(|t| grants(t)) {
        risks.push(Risk::Data);
    }
}

/// Services removed for the whole document by unconditional `Deny` statements on every resource
/// (`{"Effect": "Deny", "Action": ["bss:*"], "Resource": "*"}`); `*` means every service.
fn denied_services(statements: &[Value]) -> Vec<String> {
    let mut denied = Vec::new();
    for statement in statements {
        let unconditional = match statement.get("Condition") {
            None => true,
            Some(Value::Object(c)) => c.is_empty(),
            Some(_) => false,
        };
        let every_resource = statement
            .get("Resource")
            .is_some_and(|r| strings(r).contains(&"*"));
        if statement.get("Effect").and_then(Value::as_str) == Some("Deny")
            && unconditional
            && every_resource
            && let Some(actions) = statement.get("Action")
        {
            denied.extend(whole_services(strings(actions)));
        }
    }
    denied
}

/// The services an action list covers entirely: `svc:*` gives `svc`, `*` gives `*`.
fn whole_services(actions: Vec<&str>) -> Vec<String> {
    actions
        .into_iter()
        .filter_map(|a| match a.split_once(':') {
            Some((service, name)) if name.chars().all(|c| c == '*') && !name.is_empty() => {
                Some(service.to_ascii_lowercase())
            }
            None if a == "*" => Some("*".to_string()),
            _ => None,
        })
        .collect()
}

/// The strings of a string-or-list element; anything else (invalid) yields nothing.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// RAM wildcard matching, ASCII case-insensitive (action values are not case-sensitive): `*`
/// matches any run of characters, `?` one character. Linear backtracking, no recursion.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildcard(pattern, text, true)
}

/// [`wildcard_match`], case-sensitive: for names that are, such as resource addresses
/// (`import --select`).
pub fn wildcard_match_exact(pattern: &str, text: &str) -> bool {
    wildcard(pattern, text, false)
}

fn wildcard(pattern: &str, text: &str, fold_case: bool) -> bool {
    let fold = |c: char| if fold_case { c.to_ascii_lowercase() } else { c };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let t: Vec<char> = text.chars().map(fold).collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        // `*` first: a literal `*` in the text must not be consumed as an ordinary character.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wildcards_match_anywhere_ignoring_case() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("Get*", "GetObject"));
        assert!(wildcard_match("*Describe*", "BatchDescribeThings"));
        assert!(wildcard_match("*describe*", "DescribeInstances"));
        assert!(wildcard_match("sts:AssumeRole", "STS:assumerole"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("Attach*", "AttachPolicyToUser"));
        assert!(!wildcard_match("Get*", "ListUsers"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(!wildcard_match("*MFA*", "AttachPolicyToUser"));
        assert!(!wildcard_match("", "x"));
        assert!(wildcard_match("*a", "*ba"));
        // Pathological patterns stay fast: no exponential backtracking.
        let text = "a".repeat(2000);
        assert!(!wildcard_match(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn system_policies_by_name() {
        let cases = [
            ("AliyunBailianFullAccess", Some(Risk::SuperAdmin)),
            ("AdministratorAccess", Some(Risk::SuperAdmin)),
            ("AliyunSFMFullAccess", Some(Risk::SuperAdmin)),
            (
                "AliyunBailianReadOnlyAccess",
                Some(Risk::ModelStudioManagement),
            ),
            (
                "AliyunBailianControlFullAccess",
                Some(Risk::ModelStudioManagement),
            ),
            (
                "AliyunBailianControlReadOnlyAccess",
                Some(Risk::ModelStudioManagement),
            ),
            (
                "AliyunModelStudioFullAccess",
                Some(Risk::ModelStudioManagement),
            ),
            ("AliyunRAMFullAccess", Some(Risk::RamAdmin)),
            ("AliyunRAMReadOnlyAccess", None),
            ("AliyunBSSReadOnlyAccess", Some(Risk::Billing)),
            ("AliyunBSSOrderAccess", Some(Risk::Billing)),
            ("AliyunBailianDataFullAccess", Some(Risk::Data)),
            ("AliyunBailianDataReadOnlyAccess", Some(Risk::Data)),
            ("AliyunOSSFullAccess", None),
            ("AliyunPAILangStudioDefaultRolePolicy", None),
            ("aliyunbailianfullaccess", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(system_policy_risk(name), want, "{name}");
            assert_eq!(is_model_studio_related(name), want.is_some(), "{name}");
        }
    }

    fn risk_of(statements: Value) -> Option<Risk> {
        document_risk(&json!({"Version": "1", "Statement": statements}))
    }

    #[test]
    fn documents_by_what_they_allow() {
        let allow = |action: &str| json!([{"Effect": "Allow", "Action": action, "Resource": "*"}]);
        assert_eq!(risk_of(allow("*")), Some(Risk::SuperAdmin));
        assert_eq!(risk_of(allow("*:*")), Some(Risk::SuperAdmin));
        assert_eq!(risk_of(allow("bailiancontrol:*")), Some(Risk::SuperAdmin));
        assert_eq!(risk_of(allow("ModelStudio:*")), Some(Risk::SuperAdmin));
        assert_eq!(
            risk_of(allow("modelstudio:Create*")),
            Some(Risk::ModelStudioManagement)
        );
        assert_eq!(risk_of(allow("ram:*")), Some(Risk::RamAdmin));
        assert_eq!(risk_of(allow("ram:Attach*")), Some(Risk::RamAdmin));
        assert_eq!(risk_of(allow("ram:PassRole")), Some(Risk::RamAdmin));
        assert_eq!(risk_of(allow("*:Create*")), Some(Risk::RamAdmin));
        assert_eq!(risk_of(allow("ram:Get*")), None);
        assert_eq!(risk_of(allow("ram:CreateServiceLinkedRole")), None);
        assert_eq!(risk_of(allow("ram:*MFADevice")), None);
        assert_eq!(risk_of(allow("bss:DescribeBill")), Some(Risk::Billing));
        assert_eq!(risk_of(allow("sfm:*")), Some(Risk::Data));
        assert_eq!(risk_of(allow("sfm:CreateIndex")), Some(Risk::Data));
        assert_eq!(risk_of(allow("oss:*")), None);
        // Deny statements grant nothing.
        assert_eq!(
            risk_of(json!([{"Effect": "Deny", "Action": "*", "Resource": "*"}])),
            None
        );
    }

    #[test]
    fn unconditional_whole_service_denies_are_subtracted() {
        let doc = json!([
            {"Effect": "Allow", "Action": "bss:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["bss:*"], "Resource": "*"}
        ]);
        assert_eq!(risk_of(doc), None);
        // A conditional deny does not remove the grant.
        let doc = json!([
            {"Effect": "Allow", "Action": "bss:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "bss:*", "Resource": "*",
             "Condition": {"Bool": {"acs:MFAPresent": "false"}}}
        ]);
        assert_eq!(risk_of(doc), Some(Risk::Billing));
    }

    #[test]
    fn allow_not_action_is_everything_but_the_exclusions() {
        let doc = json!([{"Effect": "Allow", "NotAction": "ram:*", "Resource": "*"}]);
        assert_eq!(
            document_risks(&json!({"Statement": doc})),
            vec![
                Risk::SuperAdmin,
                Risk::ModelStudioManagement,
                Risk::Billing,
                Risk::Data
            ]
        );
        let doc = json!([{"Effect": "Allow", "NotAction": ["bailiancontrol:*", "modelstudio:*",
                                                           "bailianchatbot:*", "bss:*", "sfm:*",
            "bailiandata:*"], "Resource": "*"}]);
        assert_eq!(risk_of(doc), Some(Risk::RamAdmin));
    }

    #[test]
    fn malformed_documents_have_no_risk_and_do_not_panic() {
        for doc in [
            json!(null),
            json!("x"),
            json!({"Statement": "x"}),
            json!({"Statement": [1, null, {"Effect": "Allow", "Action": 5}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": [null, ":", "::"]}]}),
        ] {
            assert_eq!(document_risks(&doc), Vec::new(), "{doc}");
            assert_eq!(document_risk(&doc), None, "{doc}");
        }
        // Not malformed enough to ignore: a wildcard service with an empty action name is read
        // as the widest grant, so a doubtful document warns rather than passes silently.
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": [null, "*:"]}]});
        assert_eq!(document_risk(&doc), Some(Risk::SuperAdmin));
    }

    #[test]
    fn descriptions_are_one_lowercase_line() {
        for risk in [
            Risk::SuperAdmin,
            Risk::RamAdmin,
            Risk::ModelStudioManagement,
            Risk::Billing,
            Risk::Data,
        ] {
            let d = risk.describe();
            assert!(
                !d.contains('\n') && d.starts_with(char::is_lowercase),
                "{d}"
            );
            assert!(!risk.as_str().is_empty());
        }
    }
}
