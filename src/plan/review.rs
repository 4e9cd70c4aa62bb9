//! Pull-request review (`msctl plan --base REV`): one document with what the pull request changes
//! in the desired state, the plan against live, and live drift from the base that merging would
//! overwrite. Plain data; `crate::render::review` formats it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::history::{ChangeCounts, CommitRef, DesiredChange};
use super::{DriftItem, Plan};

/// Bumped whenever the review JSON shape changes incompatibly; `schema/review.schema.json`
/// documents it.
pub const REVIEW_FORMAT_VERSION: &str = "1";

/// The review document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    pub format_version: String,
    /// The base revision as given (`origin/main`).
    pub base_rev: String,
    /// The commit it names.
    pub base: CommitRef,
    /// (1) The desired state at the head (`plan.source`) against the desired state at the base,
    /// resource by resource. Moving or reformatting a declaration is no change.
    pub changes: Vec<DesiredChange>,
    /// (2) What applying the head would change live.
    pub plan: Plan,
    /// (3) Resources whose live state already differs from the base's desired state: drift that
    /// applying the merged config would overwrite. `before` is live, `after` the base's value.
    pub overwritten_drift: Vec<DriftItem>,
}

impl Review {
    pub fn new(
        base_rev: String,
        base: CommitRef,
        changes: Vec<DesiredChange>,
        plan: Plan,
        overwritten_drift: Vec<DriftItem>,
    ) -> Review {
        Review {
            format_version: REVIEW_FORMAT_VERSION.to_string(),
            base_rev,
            base,
            changes,
            plan,
            overwritten_drift,
        }
    }

    pub fn counts(&self) -> ChangeCounts {
        ChangeCounts::of(&self.changes)
    }

    /// Whether the drifted resource is also changed by the pull request (its reviewer should
    /// know the live value the change starts from is not the base's).
    pub fn changed_by_pr(&self, item: &DriftItem) -> bool {
        self.changes.iter().any(|c| c.address == item.address)
    }
}
