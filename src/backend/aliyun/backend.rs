//! [`AliyunBackend`]: msctl's [`Backend`] over the public APIs of Model Studio, RAM and PAI.
//!
//! This file is the composition root: construction, and the [`Backend`] contract composed from
//! the per-product mappings in [`super::modelstudio`], [`super::ram`] and [`super::pai`]. What
//! they share has its own file, which they import and this file never needs to re-export:
//! [`super::base`] (the struct, calls, the read-after-write retry), [`super::ids`] (the id caches
//! that turn msctl names into platform ids), [`super::parallel`] (the capped runner for bulk
//! reads), [`super::paging`], [`super::json`] (tolerant accessors for untrusted JSON),
//! [`super::secrets`] (the API-key secrets file) and [`super::ledger`].
//!
//! Reads run in two waves: first every top-level listing (workspaces per region, API keys per
//! region, RAM users/groups/roles/policies, PAI workspaces per region), then everything that
//! needs a listing's ids (permissions and limits per workspace, policies per principal, group
//! members, trust policies, PAI members), each wave under a cap of [`DEFAULT_PARALLELISM`]
//! threads. A no-op plan therefore costs exactly the calls the listing needs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::base::AliyunBackend;
use super::client::{Client, ClientConfig, Endpoint, RequestSpec};
use super::identity::{CallerIdentity, KeyCreators};
use super::ids::{Ids, MsWorkspace, PaiWorkspaceId};
use super::ledger::LedgerFile;
use super::parallel::{Job, run_parallel};
use super::secrets::SecretsFile;
use crate::acs::credentials::Credentials;
use crate::backend::{
    Backend, BackendError, Capabilities, Capability, Ledger, LockInfo, Operation, ReadScope,
};
use crate::model::{Resource, State};

/// Independent reads in flight at once: enough to hide latency, few enough not to be throttled.
pub const DEFAULT_PARALLELISM: usize = 8;

/// How long a write keeps looking for an object that was just created (the platform's reads may
/// lag its writes by a few seconds at peak, domain.md).
const SETTLE_BUDGET: Duration = Duration::from_secs(4);

impl AliyunBackend {
    /// A backend signing with `credentials`. `endpoint` replaces every product's host (the
    /// emulator: `http://127.0.0.1:PORT`); `regions` are the Model Studio regions msctl governs
    /// (reads take their regions from the [`ReadScope`]; these serve lookups during an apply).
    pub fn new(
        credentials: Credentials,
        endpoint: Option<Endpoint>,
        regions: impl IntoIterator<Item = String>,
    ) -> Self {
        Self::with_client_config(
            credentials,
            ClientConfig {
                endpoint,
                ..ClientConfig::default()
            },
            regions,
        )
    }

    /// Like [`AliyunBackend::new`] with full control of the HTTP client (retries, timeouts).
    pub fn with_client_config(
        credentials: Credentials,
        config: ClientConfig,
        regions: impl IntoIterator<Item = String>,
    ) -> Self {
        AliyunBackend {
            client: Client::new(credentials, config),
            regions: regions.into_iter().collect(),
            pai_regions: BTreeSet::new(),
            parallelism: DEFAULT_PARALLELISM,
            ids: Mutex::new(Ids::default()),
            settle: SETTLE_BUDGET,
            secrets: None,
            ledger: LedgerFile::Memory(Mutex::new(Box::default()), Mutex::new(None)),
            caller: None,
            identity: None,
            resume: Mutex::new(None),
        }
    }

    /// PAI regions msctl governs.
    pub fn with_pai_regions(mut self, regions: impl IntoIterator<Item = String>) -> Self {
        self.pai_regions = regions.into_iter().collect();
        self
    }

    /// Where msctl's ledger lives: a SQLite file (the local backend's ledger tables). Opened on
    /// first use, so `plan` on a fresh checkout does not need the directory to be writable...
    /// until something is recorded.
    pub fn with_ledger(mut self, path: impl Into<PathBuf>) -> Self {
        self.ledger = LedgerFile::Sqlite {
            path: path.into(),
            open: Mutex::new(None),
        };
        self
    }

    /// Writes the secret of every API key created to `path` (mode 0600), and nowhere else.
    pub fn with_secrets_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.secrets = Some(SecretsFile::new(path.into()));
        self
    }

    /// The RAM user whose access key msctl signs with, when the operator says so: API keys this
    /// user owns are created through the API, those of anyone else are console steps. Overrides
    /// what [`AliyunBackend::resolve_caller`] finds.
    pub fn with_caller(mut self, caller: Option<String>) -> Self {
        self.caller = caller.filter(|c| !c.trim().is_empty());
        self
    }

    /// Asks STS who the credentials are (`GetCallerIdentity`, one call per run). When STS gives
    /// no answer the caller stays unknown, which is safe: the owner of a key that only the
    /// caller's identity could name reads as unknown and is never compared. The error is
    /// returned for the caller to show; the backend is usable either way.
    pub fn resolve_caller(&mut self) -> Result<&CallerIdentity, BackendError> {
        let spec = RequestSpec::rpc(super::client::Product::Sts, "GetCallerIdentity");
        let body = self.call(&spec)?;
        let identity = CallerIdentity::from_response(&body)
            .map_err(|e| BackendError::Invalid(e.to_string()))?;
        Ok(self.identity.insert(identity))
    }

    /// STS's answer for the credentials, when [`AliyunBackend::resolve_caller`] got one.
    pub fn identity(&self) -> Option<&CallerIdentity> {
        self.identity.as_ref()
    }

    /// What names the owners of API keys: `--caller`, STS's answer and the ledger's record.
    fn key_creators<'a>(&'a self, ledger: &'a Ledger) -> KeyCreators<'a> {
        KeyCreators {
            flag: self.caller.as_deref(),
            identity: self.identity.as_ref(),
            recorded: ledger
                .caller
                .as_ref()
                .map(|r| (r.user_id.as_str(), r.name.as_str())),
        }
    }

    /// Independent reads in flight at once (at least 1).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }

    /// How long writes wait for a just-created object to become readable.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// HTTP requests sent so far, retries included.
    pub fn api_calls(&self) -> u64 {
        self.client.api_calls()
    }

    /// API-key secrets written to the secrets file so far.
    pub fn secrets_written(&self) -> usize {
        self.secrets.as_ref().map_or(0, SecretsFile::written)
    }
}

// ---------------------------------------------------------------------------------------------
// The Backend contract
// ---------------------------------------------------------------------------------------------

impl Backend for AliyunBackend {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    /// Workspace members and API-key owners are console-only (contract §7).
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            missing: [Capability::WorkspaceMembers, Capability::ApiKeyOwner]
                .into_iter()
                .collect(),
            optional: [Capability::IssuesSecrets].into(),
        }
    }

    fn read(&self, scope: &ReadScope) -> Result<State, BackendError> {
        let _resuming = self.resuming();
        // Wave 1: every top-level listing at once.
        let need_users = scope.ram || !scope.pai_regions.is_empty() || !scope.regions.is_empty();
        let mut wave1: Vec<Job<'_, Listing>> = Vec::new();
        for region in &scope.regions {
            let region = region.clone();
            wave1.push(Box::new(move || {
                self.list_workspaces(&region).map(Listing::Workspaces)
            }));
        }
        for region in &scope.regions {
            let region = region.clone();
            wave1.push(Box::new(move || {
                self.list_api_keys(&region).map(Listing::ApiKeys)
            }));
        }
        if need_users {
            wave1.push(Box::new(|| self.list_users().map(Listing::Users)));
        }
        if scope.ram {
            wave1.push(Box::new(|| self.list_groups().map(Listing::Groups)));
            wave1.push(Box::new(|| self.list_roles().map(Listing::Roles)));
            wave1.push(Box::new(|| self.list_policies().map(Listing::Policies)));
        }
        for region in &scope.pai_regions {
            let region = region.clone();
            wave1.push(Box::new(move || {
                self.list_pai_workspaces(&region)
                    .map(Listing::PaiWorkspaces)
            }));
        }
        let mut listings = Listings::default();
        for result in run_parallel(self.parallelism, self.client.deadline(), wave1)? {
            match result {
                Listing::Workspaces(w) => listings.workspaces.extend(w),
                Listing::ApiKeys(k) => listings.api_keys.extend(k),
                Listing::Users(u) => listings.users = u,
                Listing::Groups(g) => listings.groups = g,
                Listing::Roles(r) => listings.roles = r,
                Listing::Policies(p) => listings.policies = p,
                Listing::PaiWorkspaces(w) => listings.pai_workspaces.extend(w),
            }
        }
        self.remember(&listings);

        // Wave 2: what needs the listings' ids.
        let user_names: HashMap<String, String> = listings
            .users
            .iter()
            .map(|u| (u.id.clone(), u.user.name.clone()))
            .collect();
        let mut wave2: Vec<Job<'_, Vec<Resource>>> = Vec::new();
        self.model_studio_jobs(&listings.workspaces, &mut wave2);
        if scope.ram {
            self.ram_jobs(
                &listings.users,
                &listings.groups,
                &listings.roles,
                &listings.policies,
                &mut wave2,
            );
        }
        self.pai_jobs(&listings.pai_workspaces, &user_names, &mut wave2);

        let mut state = State::default();
        // Two workspaces of one name (two applies at once): the lowest id keeps the address,
        // the others are reported as duplicates, never dropped.
        let mut workspaces: Vec<_> = listings.workspaces.iter().collect();
        workspaces.sort_by(|a, b| a.id.cmp(&b.id));
        for w in workspaces {
            let resource = Resource::Workspace(w.resource());
            if state.get(&resource.address()).is_some() {
                state.insert_duplicate(resource, w.id.clone());
            } else {
                state.insert(resource);
            }
        }
        // The ledger is read only when there are keys: it names creators that are no listed
        // RAM user, and the keys rotated out.
        let ledger = if listings.api_keys.is_empty() {
            Ledger::default()
        } else {
            self.ledger.load()?
        };
        for (k, duplicate, live) in super::modelstudio::keys_to_resources(
            &listings.workspaces,
            &listings.api_keys,
            &user_names,
            &self.key_creators(&ledger),
        ) {
            let address = match duplicate {
                Some(id) => {
                    let address = crate::model::Address::Duplicate {
                        of: Box::new(k.address()),
                        id: id.clone(),
                    };
                    state.insert_duplicate(k, id);
                    address
                }
                None => {
                    let address = k.address();
                    state.insert(k);
                    address
                }
            };
            state.set_live_key(address, live);
        }
        // A rotated key's successor is the key at the address; the id cache follows.
        let retiring = ledger.retiring_ids();
        state.seat_successors(&retiring);
        self.remember_seated(&state, &retiring);
        if scope.ram {
            for u in &listings.users {
                state.insert(Resource::RamUser(u.user.clone()));
            }
            for g in &listings.groups {
                state.insert(Resource::RamGroup(g.clone()));
            }
        }
        for w in &listings.pai_workspaces {
            state.insert(Resource::PaiWorkspace(w.workspace.clone()));
        }
        for result in run_parallel(self.parallelism, self.client.deadline(), wave2)? {
            for r in result {
                state.insert(r);
            }
        }
        Ok(state)
    }

    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        if let Operation::Update { before, after } = operation
            && before.address() != after.address()
            && crate::model::Rename::of_update(before, after).is_none()
        {
            return Err(BackendError::Invalid(format!(
                "failed to update `{}`: the update turns it into `{}`\n\
                 hint: this is a bug in msctl's planner; an address change is a replacement",
                before.address(),
                after.address()
            )));
        }
        match operation.resource() {
            Resource::Workspace(_)
            | Resource::ModelPermission(_)
            | Resource::ModelLimit(_)
            | Resource::ApiKey(_) => self.apply_model_studio(operation),
            Resource::Member(m) => Err(BackendError::Refused(format!(
                "failed to change `{}`: Model Studio workspace members are managed in the console \
                 only; the public API has no member operations\n\
                 hint: do the plan's manual step, then run `msctl ack {}`",
                operation.resource().address(),
                Resource::Member(m.clone()).address()
            ))),
            Resource::RamUser(_)
            | Resource::RamGroup(_)
            | Resource::GroupMember(_)
            | Resource::RamRole(_)
            | Resource::RamPolicy(_)
            | Resource::Attachment(_) => self.apply_ram(operation),
            Resource::PaiWorkspace(_) | Resource::PaiMember(_) => self.apply_pai(operation),
        }
    }

    fn load_ledger(&self) -> Result<Ledger, BackendError> {
        self.ledger.load()
    }

    fn save_ledger(&self, ledger: &Ledger) -> Result<(), BackendError> {
        // Record who the credentials are, when both their id and their RAM user are known, so a
        // later run without `--caller` reads the keys this one created as the same user's.
        let caller = self.identity.as_ref().and_then(|me| {
            let name = KeyCreators {
                flag: self.caller.as_deref(),
                identity: Some(me),
                recorded: None,
            }
            .caller()?;
            Some(crate::backend::RecordedCaller {
                user_id: me.user_id.clone(),
                name: name.to_string(),
            })
        });
        match caller {
            Some(caller) if ledger.caller.as_ref() != Some(&caller) => {
                let mut stamped = ledger.clone();
                stamped.caller = Some(caller);
                self.ledger.save(&stamped)
            }
            _ => self.ledger.save(ledger),
        }
    }

    fn try_lock(&self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        self.ledger.try_lock(holder)
    }

    fn unlock(&self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        self.ledger.unlock(id)
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        self.ledger.lock_holder()
    }

    fn deliver_owed_secrets(&self) -> Result<crate::backend::SecretDelivery, BackendError> {
        self.deliver_owed()
    }

    fn api_calls(&self) -> u64 {
        self.client.api_calls()
    }

    fn api_calls_by_operation(&self) -> crate::backend::ApiCallCounts {
        self.client.api_calls_by_operation()
    }

    fn caller(&self) -> Option<String> {
        KeyCreators {
            flag: self.caller.as_deref(),
            identity: self.identity.as_ref(),
            recorded: None,
        }
        .caller()
        .map(str::to_string)
    }

    fn account(&self) -> Option<String> {
        self.identity.as_ref().map(|i| i.account_id.clone())
    }

    fn api_versions(&self) -> Vec<(&'static str, &'static str)> {
        use super::client::Product;
        vec![
            ("ModelStudio", Product::ModelStudio.version()),
            ("RAM", Product::Ram.version()),
            ("AIWorkSpace", Product::AiWorkspace.version()),
        ]
    }
}

impl AliyunBackend {
    /// Points the key id cache at the successors of rotated keys (see
    /// [`State::seat_successors`]), so writes by address reach the key the plan compared.
    fn remember_seated(&self, state: &State, retiring: &std::collections::BTreeSet<String>) {
        if retiring.is_empty() {
            return;
        }
        let mut ids = self.ids();
        for (address, live) in &state.live_keys {
            if let crate::model::Address::ApiKey { workspace, name } = address
                && let Ok(id) = live.id.parse::<i64>()
            {
                ids.api_keys.insert((workspace.clone(), name.clone()), id);
            }
        }
    }

    /// Fills the id caches from a read, so the apply that follows needs no lookups.
    fn remember(&self, listings: &Listings) {
        let mut ids = self.ids();
        for w in &listings.workspaces {
            let known = MsWorkspace {
                id: w.id.clone(),
                region: w.region.clone(),
                default: w.default,
            };
            // Two workspaces of one name: the lowest id is the one at the address (see `read`).
            ids.workspaces
                .entry(w.name.clone())
                .and_modify(|x| {
                    if known.id < x.id {
                        *x = known.clone();
                    }
                })
                .or_insert(known);
        }
        for u in &listings.users {
            ids.users.insert(u.user.name.clone(), u.id.clone());
        }
        for w in &listings.pai_workspaces {
            ids.pai_workspaces.insert(
                w.workspace.name.clone(),
                PaiWorkspaceId {
                    id: w.id.clone(),
                    region: w.workspace.region.clone(),
                },
            );
        }
        let by_id: HashMap<&str, &str> = listings
            .workspaces
            .iter()
            .map(|w| (w.id.as_str(), w.name.as_str()))
            .collect();
        for k in &listings.api_keys {
            if let (Some(ws), Some(name)) = (by_id.get(k.workspace_id.as_str()), &k.name) {
                ids.api_keys
                    .entry((ws.to_string(), name.clone()))
                    // The lowest id wins, as in the state (see `keys_to_resources`).
                    .and_modify(|id| *id = (*id).min(k.id))
                    .or_insert(k.id);
            }
        }
    }
}

/// What the first read wave returns, per listing.
enum Listing {
    Workspaces(Vec<super::modelstudio::ListedWorkspace>),
    ApiKeys(Vec<super::modelstudio::ListedApiKey>),
    Users(Vec<super::ram::ListedUser>),
    Groups(Vec<crate::model::RamGroup>),
    Roles(Vec<String>),
    Policies(Vec<super::ram::ListedPolicy>),
    PaiWorkspaces(Vec<super::pai::ListedPaiWorkspace>),
}

/// Every top-level listing of one read.
#[derive(Default)]
struct Listings {
    pub workspaces: Vec<super::modelstudio::ListedWorkspace>,
    pub api_keys: Vec<super::modelstudio::ListedApiKey>,
    pub users: Vec<super::ram::ListedUser>,
    pub groups: Vec<crate::model::RamGroup>,
    pub roles: Vec<String>,
    pub policies: Vec<super::ram::ListedPolicy>,
    pub pai_workspaces: Vec<super::pai::ListedPaiWorkspace>,
}
