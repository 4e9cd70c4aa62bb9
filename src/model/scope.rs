//! What a read of live state covers.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to read: the regions msctl governs and whether RAM and PAI are in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadScope {
    /// Model Studio regions whose workspaces (and their models, limits, members, keys) are read.
    pub regions: BTreeSet<String>,
    /// Read RAM users, groups, roles, custom policies and attachments.
    pub ram: bool,
    /// PAI regions whose workspaces and members are read.
    pub pai_regions: BTreeSet<String>,
}

impl ReadScope {
    /// The scopes a desired state governs: its workspaces' regions, RAM, its PAI regions.
    pub fn governed_by(desired: &super::State) -> ReadScope {
        let mut scope = ReadScope {
            ram: true,
            ..ReadScope::default()
        };
        for r in desired.resources.values() {
            match r {
                super::Resource::Workspace(w) => {
                    scope.regions.insert(w.region.clone());
                }
                super::Resource::PaiWorkspace(w) => {
                    scope.pai_regions.insert(w.region.clone());
                }
                _ => {}
            }
        }
        scope
    }
}
