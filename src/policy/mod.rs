//! RAM policy documents: validation, a canonical form for comparison, stable rendering, and risk.
//!
//! Pure functions over `serde_json::Value`; no I/O. The grammar is the one in `domain.md` ("RAM
//! policy documents") and every published document in `tests/fixtures/corpus/` must pass it.
//!
//! - [`validate`] reports every problem in a permission or trust policy at once, each with a JSON
//!   pointer into the document, so config validation can point at the offending element.
//! - [`canonical`] gives the form two documents are compared in: the API may hand back `RAM` as a
//!   string where a list was sent, and list order inside `Action` means nothing;
//!   [`documents_equal`] compares two documents in it.
//! - [`pretty`] renders a document with a fixed key order so plan diffs show only real changes.
//! - [`system_policy_risk`] and [`document_risk`] classify what a policy grants, for plan and
//!   validation warnings and for deciding which live principals are governed.

mod names;
mod normal;
mod risk;
mod validate;

use std::fmt;

pub use names::{
    RAM_GROUP_NAME, RAM_POLICY_NAME, RAM_ROLE_NAME, RAM_USER_NAME, RamName, RamNameProblem,
};
pub use normal::{canonical, documents_equal, pretty};
pub use risk::{
    Risk, document_risk, document_risks, is_model_studio_related, system_policy_risk,
    wildcard_match, wildcard_match_exact,
};
pub use validate::validate;

/// RAM's limit on a policy document, in characters of the JSON text sent to the API (the API
/// contract: `PolicyDocument` 1–6144 chars). msctl sends compact JSON, so that is what is measured.
pub const MAX_DOCUMENT_CHARS: usize = 6144;

/// Which grammar a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A permission (identity) policy: `Action` and `Resource`, no `Principal`.
    Permission,
    /// A role trust policy (`AssumeRolePolicyDocument`): `sts:` actions and a `Principal`.
    Trust,
}

/// One thing wrong with a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyProblem {
    /// JSON pointer (RFC 6901) to the offending element, e.g. `/Statement/0/Effect`; `""` is the
    /// whole document. Condition keys such as `oss:BucketTag/Product` are escaped (`~1`).
    pub pointer: String,
    /// Lowercase; says what is wrong.
    pub message: String,
    /// What to do about it, when there is something specific to suggest.
    pub hint: Option<String>,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
