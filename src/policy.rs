//! TEMPORARY placeholder until the policy branch merges (not committed).
use serde_json::Value;
pub enum PolicyKind {
    Permission,
    Trust,
}
pub struct PolicyProblem {
    pub pointer: String,
    pub message: String,
    pub hint: Option<String>,
}
pub fn validate(_doc: &Value, _kind: PolicyKind) -> Vec<PolicyProblem> {
    Vec::new()
}
#[derive(Clone, Copy, Debug)]
pub enum Risk {
    SuperAdmin,
    ModelStudioManagement,
    RamAdmin,
    Billing,
    Data,
}
impl Risk {
    pub fn describe(&self) -> &'static str {
        "risky"
    }
}
pub fn system_policy_risk(name: &str) -> Option<Risk> {
    if name == "AliyunBailianFullAccess" {
        Some(Risk::SuperAdmin)
    } else if name.starts_with("AliyunBSS") {
        Some(Risk::Billing)
    } else {
        None
    }
}
pub fn document_risk(_d: &Value) -> Option<Risk> {
    None
}
