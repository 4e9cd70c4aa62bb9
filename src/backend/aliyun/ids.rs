//! Platform ids by msctl name, learnt by reads and creates, so an apply does not list again.

use std::collections::HashMap;
use std::time::Instant;

/// A Model Studio workspace as msctl knows it: its platform id, region and default flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MsWorkspace {
    pub id: String,
    pub region: String,
    pub default: bool,
}

/// A PAI workspace's id and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PaiWorkspaceId {
    pub id: String,
    pub region: String,
}

/// Platform ids by msctl name, learnt by reads and creates, so an apply does not list again.
#[derive(Debug, Default)]
pub(super) struct Ids {
    /// msctl workspace name (the default one is `default-<region>`) → workspace.
    pub workspaces: HashMap<String, MsWorkspace>,
    /// (msctl workspace name, msctl key name) → `apiKeyId`.
    pub api_keys: HashMap<(String, String), i64>,
    /// RAM user name → `UserId`.
    pub users: HashMap<String, String>,
    /// PAI workspace name → id.
    pub pai_workspaces: HashMap<String, PaiWorkspaceId>,
    /// (PAI workspace id, RAM `UserId`) → `MemberId`.
    pub pai_members: HashMap<(String, String), String>,
    /// Ids this process created, and when: their reads may lag (see
    /// [`super::base::AliyunBackend::settled`]).
    pub fresh: HashMap<String, Instant>,
}
