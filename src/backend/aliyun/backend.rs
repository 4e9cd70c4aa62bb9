//! [`AliyunBackend`]: msctl's [`Backend`] over the public APIs of Model Studio, RAM and PAI.
//!
//! This file holds what the three products share: construction, the id caches that turn msctl
//! names into platform ids, the capped parallel runner for bulk reads, paging, tolerant accessors
//! for untrusted JSON, the read-after-write retry, the API-key secrets file and the ledger. The
//! per-product mappings live in [`super::modelstudio`], [`super::ram`] and [`super::pai`].
//!
//! Reads run in two waves: first every top-level listing (workspaces per region, API keys per
//! region, RAM users/groups/roles/policies, PAI workspaces per region), then everything that
//! needs a listing's ids (permissions and limits per workspace, policies per principal, group
//! members, trust policies, PAI members), each wave under a cap of [`DEFAULT_PARALLELISM`]
//! threads. A no-op plan therefore costs exactly the calls the listing needs.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{Client, ClientConfig, Endpoint, RequestSpec};
use super::credentials::{CallerIdentity, Credentials, KeyCreators};
use super::error::CallError;
use crate::backend::local::LocalBackend;
use crate::backend::{
    Backend, BackendError, Capabilities, Capability, Ledger, LockInfo, Operation, ReadScope,
};
use crate::model::{Resource, State};

/// Independent reads in flight at once: enough to hide latency, few enough not to be throttled.
pub const DEFAULT_PARALLELISM: usize = 8;

/// How long a write keeps looking for an object that was just created (the platform's reads may
/// lag its writes by a few seconds at peak, domain.md).
const SETTLE_BUDGET: Duration = Duration::from_secs(4);

/// Pages a listing may take before msctl assumes the API is looping (a repeated token, say).
const MAX_PAGES: usize = 10_000;

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
    /// Ids this process created, and when: their reads may lag (see [`SETTLE_BUDGET`]).
    pub fresh: HashMap<String, Instant>,
}

/// The `aliyun` backend. Build it with [`AliyunBackend::new`], then the `with_*` options.
pub struct AliyunBackend {
    pub(super) client: Client,
    /// Model Studio regions msctl governs: where a workspace is looked for when no read saw it.
    pub(super) regions: BTreeSet<String>,
    /// PAI regions msctl governs.
    pub(super) pai_regions: BTreeSet<String>,
    pub(super) parallelism: usize,
    ids: Mutex<Ids>,
    /// How long to wait for a just-created object to show up in reads.
    pub(super) settle: Duration,
    secrets: Option<SecretsFile>,
    ledger: LedgerFile,
    /// `--caller`: overrides the RAM user STS names.
    caller: Option<String>,
    /// STS's answer for the credentials, once [`AliyunBackend::resolve_caller`] asked.
    identity: Option<CallerIdentity>,
    /// During a read: listings that failed part-way, by request, to resume at the failed page.
    resume: Mutex<Option<HashMap<String, Partial>>>,
}

impl std::fmt::Debug for AliyunBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's Debug redacts credentials; the id caches are noise.
        f.debug_struct("AliyunBackend")
            .field("client", &self.client)
            .field("regions", &self.regions)
            .field("pai_regions", &self.pai_regions)
            .finish_non_exhaustive()
    }
}

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
            ledger: LedgerFile::Memory(Mutex::new(Ledger::default()), Mutex::new(None)),
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
        self.secrets = Some(SecretsFile {
            path: path.into(),
            file: Mutex::new(None),
            written: AtomicUsize::new(0),
        });
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
        self.secrets
            .as_ref()
            .map_or(0, |s| s.written.load(Ordering::Relaxed))
    }

    pub(super) fn ids(&self) -> MutexGuard<'_, Ids> {
        // The caches hold plain maps; a panicking reader cannot leave them half-updated in a way
        // that matters (a stale id fails its call and is looked up again).
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one call, mapping its failure to a [`BackendError`] with code, request id and hint.
    pub(super) fn call(&self, spec: &RequestSpec) -> Result<Value, BackendError> {
        self.client.call(spec).map_err(BackendError::from)
    }

    /// Like [`AliyunBackend::call`], keeping the [`CallError`] so callers can look at its code.
    pub(super) fn call_raw(&self, spec: &RequestSpec) -> Result<Value, CallError> {
        self.client.call(spec)
    }

    /// Records that this process just created `id`.
    pub(super) fn mark_fresh(&self, id: &str) {
        self.ids().fresh.insert(id.to_string(), Instant::now());
    }

    /// Runs `f` until it stops failing with `NotFound`, while `id` is fresh (created by this
    /// process less than [`SETTLE_BUDGET`] ago): the platform's reads may lag its writes.
    pub(super) fn settled<T>(
        &self,
        id: &str,
        f: impl FnMut() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.settled_any(&[id], f)
    }

    /// [`AliyunBackend::settled`] for a write that needs several objects (a user and a group):
    /// retried while the most recently created of them is fresh.
    pub(super) fn settled_any<T>(
        &self,
        ids: &[&str],
        mut f: impl FnMut() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut delay = Duration::from_millis(100);
        loop {
            match f() {
                Err(BackendError::NotFound(m)) => {
                    let created = {
                        let known = self.ids();
                        ids.iter()
                            .filter_map(|id| known.fresh.get(*id).copied())
                            .max()
                    };
                    match created {
                        Some(at) if at.elapsed() + delay <= self.settle => {
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(Duration::from_secs(1));
                        }
                        _ => return Err(BackendError::NotFound(m)),
                    }
                }
                other => return other,
            }
        }
    }

    /// Whether `--secrets-to` was given: only then is a key's secret owed until written.
    pub(super) fn keeps_secrets(&self) -> bool {
        self.secrets.is_some()
    }

    /// The ledger file, for the owed-secrets records kept as keys are created.
    pub(super) fn ledger_file(&self) -> &LedgerFile {
        &self.ledger
    }

    /// Saves a new API key's secret to the secrets file, if one was asked for; otherwise the
    /// secret is dropped here, unseen.
    pub(super) fn keep_secret(&self, address: &str, secret: &str) -> Result<(), BackendError> {
        match &self.secrets {
            Some(file) => file.write(address, secret),
            None => Ok(()),
        }
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
            self.ram_jobs(&listings, &mut wave2);
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
        // The ledger is read only when a key's creator is no listed RAM user.
        let unnamed = listings
            .api_keys
            .iter()
            .any(|k| !user_names.contains_key(&k.created_by));
        let ledger = if unnamed {
            self.ledger.load()?
        } else {
            Ledger::default()
        };
        for (k, duplicate) in super::modelstudio::keys_to_resources(
            &listings.workspaces,
            &listings.api_keys,
            &user_names,
            &self.key_creators(&ledger),
        ) {
            match duplicate {
                Some(id) => state.insert_duplicate(k, id),
                None => {
                    state.insert(k);
                }
            }
        }
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

    fn caller(&self) -> Option<String> {
        KeyCreators {
            flag: self.caller.as_deref(),
            identity: self.identity.as_ref(),
            recorded: None,
        }
        .caller()
        .map(str::to_string)
    }
}

impl AliyunBackend {
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
pub(super) enum Listing {
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
pub(super) struct Listings {
    pub workspaces: Vec<super::modelstudio::ListedWorkspace>,
    pub api_keys: Vec<super::modelstudio::ListedApiKey>,
    pub users: Vec<super::ram::ListedUser>,
    pub groups: Vec<crate::model::RamGroup>,
    pub roles: Vec<String>,
    pub policies: Vec<super::ram::ListedPolicy>,
    pub pai_workspaces: Vec<super::pai::ListedPaiWorkspace>,
}

// ---------------------------------------------------------------------------------------------
// Capped parallelism
// ---------------------------------------------------------------------------------------------

/// One independent read. It may run more than once: a listing that failed runs again later
/// (and resumes at the page that failed, see [`AliyunBackend::resuming`]).
pub(super) type Job<'a, T> = Box<dyn FnMut() -> Result<T, BackendError> + Send + 'a>;

/// The first pause before a failed job runs again; it doubles per failure of that job.
const REQUEUE_PAUSE: Duration = Duration::from_millis(500);
/// The longest pause before a failed job runs again.
const REQUEUE_PAUSE_MAX: Duration = Duration::from_secs(15);

/// Whether a job that failed this way may succeed if run again: throttling and transport
/// failures (the client already retried the call; the service may recover). An unavailable
/// endpoint, a refusal or an invalid request will not change, so the read fails at once.
fn worth_running_again(e: &BackendError) -> bool {
    matches!(e, BackendError::Throttled(_) | BackendError::Transport(_))
}

/// A job waiting in the queue: its index in the results, how often it failed, when it may run.
struct Queued<'a, T> {
    index: usize,
    job: Job<'a, T>,
    failures: u32,
    not_before: Option<Instant>,
}

/// Runs `jobs` on at most `cap` scoped threads and returns their results in job order. A job that
/// fails with a throttling or transport error goes to the back of the queue and runs again after
/// a pause, once the others have had their turn, for as long as `deadline` allows; the read then
/// fails with that job's error. Any other error fails the read at once: no new job starts.
pub(super) fn run_parallel<'a, T: Send>(
    cap: usize,
    deadline: Instant,
    jobs: Vec<Job<'a, T>>,
) -> Result<Vec<T>, BackendError> {
    let count = jobs.len();
    let queue: Mutex<std::collections::VecDeque<Queued<'a, T>>> = Mutex::new(
        jobs.into_iter()
            .enumerate()
            .map(|(index, job)| Queued {
                index,
                job,
                failures: 0,
                not_before: None,
            })
            .collect(),
    );
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let failed: Mutex<Option<BackendError>> = Mutex::new(None);
    let work = || {
        loop {
            if lock(&failed).is_some() {
                return;
            }
            let Some(mut queued) = lock(&queue).pop_front() else {
                return;
            };
            if let Some(at) = queued.not_before {
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
            }
            match (queued.job)() {
                Ok(value) => lock(&results)[queued.index] = Some(value),
                Err(e) if worth_running_again(&e) => {
                    queued.failures += 1;
                    let pause = REQUEUE_PAUSE
                        .saturating_mul(2u32.saturating_pow(queued.failures - 1))
                        .min(REQUEUE_PAUSE_MAX);
                    let at = Instant::now() + pause;
                    if at >= deadline {
                        let mut failed = lock(&failed);
                        if failed.is_none() {
                            *failed = Some(out_of_time(e, queued.failures));
                        }
                        return;
                    }
                    queued.not_before = Some(at);
                    lock(&queue).push_back(queued);
                }
                Err(e) => {
                    let mut failed = lock(&failed);
                    if failed.is_none() {
                        *failed = Some(e);
                    }
                    return;
                }
            }
        }
    };
    let threads = cap.max(1).min(count);
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    if let Some(e) = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| {
                BackendError::Transport(
                    "failed to read live state: a read thread stopped before finishing its job"
                        .to_string(),
                )
            })
        })
        .collect()
}

/// The error of a listing that kept failing until the read's deadline, same kind, with why.
fn out_of_time(e: BackendError, runs: u32) -> BackendError {
    let note = |m: String| {
        let (first, rest) = m.split_once('\n').unwrap_or((m.as_str(), ""));
        let mut out = format!(
            "{first} (the listing failed {runs} time(s) and the run's retry budget is spent)"
        );
        if !rest.is_empty() {
            out.push('\n');
            out.push_str(rest);
        }
        out
    };
    match e {
        BackendError::Throttled(m) => BackendError::Throttled(note(m)),
        BackendError::Transport(m) => BackendError::Transport(note(m)),
        other => other,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------------

/// How far a listing got before a page failed: the items so far and where to continue.
#[derive(Debug, Default)]
pub(super) struct Partial {
    items: Vec<Value>,
    /// The next page's token or marker (the page number for AIWorkSpace); none for the first.
    cursor: Option<String>,
    /// Tokens seen so far, to catch an API that loops.
    seen: BTreeSet<String>,
    pages: usize,
}

/// Clears the resume map when a read ends, however it ends.
pub(super) struct Resuming<'a>(&'a Mutex<Option<HashMap<String, Partial>>>);

impl Drop for Resuming<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

impl AliyunBackend {
    /// Turns on resuming for the read that holds the guard: a listing whose page fails keeps
    /// what it read, and when the job runs again it continues at that page instead of
    /// starting over. Only within one read: a lookup during an apply must see its own writes.
    pub(super) fn resuming(&self) -> Resuming<'_> {
        *lock(&self.resume) = Some(HashMap::new());
        Resuming(&self.resume)
    }

    /// The saved progress of a listing (or a fresh start).
    fn partial(&self, key: &str) -> Partial {
        lock(&self.resume)
            .as_mut()
            .and_then(|m| m.remove(key))
            .unwrap_or_default()
    }

    /// Keeps a listing's progress after a failed page, when a read is resuming.
    fn keep_partial(&self, key: String, partial: Partial) {
        if let Some(map) = lock(&self.resume).as_mut() {
            map.insert(key, partial);
        }
    }

    /// One page of a listing; on failure the progress is kept for the next run of the job.
    fn page(
        &self,
        key: &str,
        partial: &mut Partial,
        spec: &RequestSpec,
    ) -> Result<Value, BackendError> {
        match self.call(spec) {
            Ok(body) => {
                partial.pages += 1;
                Ok(body)
            }
            Err(e) => {
                self.keep_partial(key.to_string(), std::mem::take(partial));
                Err(e)
            }
        }
    }

    /// Every item of a Model Studio listing: `maxResults` + `nextToken`, until the token is absent
    /// or empty (contract §1.1).
    pub(super) fn ms_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        items_key: &str,
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let mut page = spec.clone().query("maxResults", page_size.to_string());
            if let Some(t) = &p.cursor {
                page = page.query("nextToken", t.clone());
            }
            let body = self.page(&key, &mut p, &page)?;
            p.items
                .extend(list(&body, &[items_key]).into_iter().cloned());
            match string(&body, &["nextToken", "NextToken"]).filter(|t| !t.is_empty()) {
                Some(next) => {
                    if !p.seen.insert(next.clone()) {
                        return Err(looping(&spec.action));
                    }
                    p.cursor = Some(next);
                }
                None => return Ok(p.items),
            }
        }
        Err(looping(&spec.action))
    }

    /// Every item of a RAM listing: `MaxItems` + `Marker` while `IsTruncated` (contract §2.1).
    /// `path` leads to the wrapped list, e.g. `["Users", "User"]`.
    pub(super) fn ram_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        path: &[&str],
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let mut page = spec.clone();
            if let Some(m) = &p.cursor {
                page = page.query("Marker", m.clone());
            }
            let page = page.query("MaxItems", page_size.to_string());
            let body = self.page(&key, &mut p, &page)?;
            p.items.extend(list(&body, path).into_iter().cloned());
            let truncated = boolean(&body, &["IsTruncated"]).unwrap_or(false);
            match string(&body, &["Marker"]).filter(|m| !m.is_empty()) {
                Some(next) if truncated => {
                    if !p.seen.insert(next.clone()) {
                        return Err(looping(&spec.action));
                    }
                    p.cursor = Some(next);
                }
                _ => return Ok(p.items),
            }
        }
        Err(looping(&spec.action))
    }

    /// Every item of an AIWorkSpace listing: `PageNumber` from 1 + `PageSize`, until
    /// `TotalCount` items arrived or a page comes back empty (contract §3.1). Without a
    /// `TotalCount`, a short page is the last; with one, a server that caps the page size below
    /// the one asked for is still walked to the end.
    pub(super) fn pai_pages(
        &self,
        spec: &RequestSpec,
        page_size: u32,
        items_key: &str,
    ) -> Result<Vec<Value>, BackendError> {
        let key = resume_key(spec, page_size);
        let mut p = self.partial(&key);
        while p.pages < MAX_PAGES {
            let number = p.pages + 1;
            let page = spec
                .clone()
                .query("PageNumber", number.to_string())
                .query("PageSize", page_size.to_string());
            let body = self.page(&key, &mut p, &page)?;
            let got = list(&body, &[items_key]);
            let empty = got.is_empty();
            let short = got.len() < page_size as usize;
            p.items.extend(got.into_iter().cloned());
            let done = match int(&body, &["TotalCount", "totalCount"]) {
                Some(total) => empty || p.items.len() as i64 >= total,
                None => short,
            };
            if done {
                return Ok(p.items);
            }
        }
        Err(looping(&spec.action))
    }
}

/// What identifies one listing for resuming: the request without its paging parameters.
fn resume_key(spec: &RequestSpec, page_size: u32) -> String {
    format!(
        "{:?} {} {:?} {} {:?} {page_size}",
        spec.product, spec.action, spec.region, spec.path, spec.query
    )
}

fn looping(action: &str) -> BackendError {
    BackendError::Transport(format!(
        "failed to list with `{action}`: the API kept returning more pages (a repeated page \
         token or over {MAX_PAGES} pages)"
    ))
}

// ---------------------------------------------------------------------------------------------
// Tolerant accessors for untrusted JSON
// ---------------------------------------------------------------------------------------------

/// The first of `names` present and not null.
pub(super) fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| v.get(*n))
        .filter(|v| !v.is_null())
}

/// A string field; numbers count too (ids come as either).
pub(super) fn string(v: &Value, names: &[&str]) -> Option<String> {
    match field(v, names)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field; numeric strings count too.
pub(super) fn int(v: &Value, names: &[&str]) -> Option<i64> {
    match field(v, names)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean field: `true`, `"true"`/`"True"`, or 0/1.
pub(super) fn boolean(v: &Value, names: &[&str]) -> Option<bool> {
    match field(v, names)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => super::encoding::parse_bool(s),
        _ => None,
    }
}

/// The items of a list found by following `path`: RAM wraps lists (`Users.User`), and a single
/// wrapped item may come as an object. Anything else is no items.
pub(super) fn list<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let mut at = v;
    for key in path {
        match at.get(*key) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    match at {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![at],
        _ => Vec::new(),
    }
}

/// A list of strings (non-strings are skipped).
pub(super) fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    list(v, path)
        .into_iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A field an item cannot do without.
pub(super) fn required(v: &Value, names: &[&str], action: &str) -> Result<String, BackendError> {
    string(v, names).filter(|s| !s.is_empty()).ok_or_else(|| {
        BackendError::Transport(format!(
            "failed to read the answer to `{action}`: an item has no `{}`",
            names[0]
        ))
    })
}

/// `""` as none: RAM returns empty strings for unset optional text.
pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A policy document as RAM returns it: a JSON string (an object is accepted too). Text that is
/// not JSON stays a string, so the plan shows the difference instead of failing the read.
pub(super) fn document(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// Treats a `NotFound` of a delete as done: a retried delete (or an out-of-band one) finds the
/// object gone, which is what the delete wanted.
pub(super) fn gone_is_ok(result: Result<(), BackendError>) -> Result<(), BackendError> {
    match result {
        Err(BackendError::NotFound(_)) => Ok(()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// The secrets file
// ---------------------------------------------------------------------------------------------

/// `--secrets-to FILE`: created with mode 0600 on the first secret, one `ADDRESS=SECRET` line
/// per created key, appended: a run never truncates the file, so the secrets an earlier run
/// (killed before anyone collected them) wrote there are never lost. A later line for the same
/// address supersedes an earlier one (a reset key).
struct SecretsFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
    written: AtomicUsize,
}

impl SecretsFile {
    fn write(&self, address: &str, secret: &str) -> Result<(), BackendError> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if file.is_none() {
            *file = Some(open_private(&self.path)?);
        }
        let Some(f) = file.as_mut() else {
            unreachable!("the file was opened just above")
        };
        f.write_all(format!("{address}={secret}\n").as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| {
                BackendError::Transport(format!(
                    "failed to write the secret of `{address}` to `{}`: {e}\n\
                     hint: the key exists; reset its secret in the console (Key Management)",
                    self.path.display()
                ))
            })?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Opens `path` for appending, readable by its owner only. A new file is created with mode 0600
/// (never briefly wider); an existing one is narrowed to 0600 before anything is written.
fn open_private(path: &Path) -> Result<File, BackendError> {
    let fail = |e: std::io::Error| {
        BackendError::Transport(format!(
            "failed to open the secrets file `{}`: {e}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

/// Where the aliyun backend keeps msctl's ledger: the cloud has no place for it.
pub(super) enum LedgerFile {
    /// No path given (tests): kept for the life of the backend, with its run lock.
    Memory(Mutex<Ledger>, Mutex<Option<LockInfo>>),
    /// A SQLite file with the local backend's ledger tables, opened on first use.
    Sqlite {
        path: PathBuf,
        open: Mutex<Option<LocalBackend>>,
    },
}

impl LedgerFile {
    fn with<T>(
        &self,
        f: impl FnOnce(&LocalBackend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let LedgerFile::Sqlite { path, open } = self else {
            unreachable!("only called for the SQLite ledger")
        };
        let mut open = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.is_none() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BackendError::Transport(format!(
                        "failed to create the ledger directory `{}`: {e}",
                        dir.display()
                    ))
                })?;
            }
            *open = Some(LocalBackend::open(path)?);
        }
        match open.as_ref() {
            Some(ledger) => f(ledger),
            None => unreachable!("opened just above"),
        }
    }

    fn load(&self) -> Result<Ledger, BackendError> {
        match self {
            LedgerFile::Memory(ledger, _) => Ok(ledger
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()),
            // A ledger that was never written reads as empty, without creating a file.
            LedgerFile::Sqlite { path, open } if !path.exists() => {
                let opened = open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_some();
                if opened {
                    self.with(LocalBackend::load_ledger)
                } else {
                    Ok(Ledger::default())
                }
            }
            LedgerFile::Sqlite { .. } => self.with(LocalBackend::load_ledger),
        }
    }

    fn save(&self, ledger: &Ledger) -> Result<(), BackendError> {
        match self {
            LedgerFile::Memory(held, _) => {
                let mut held = held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Owed secrets are kept as creates happen, never by a whole-ledger save.
                let owed = std::mem::take(&mut held.owed_secrets);
                *held = ledger.clone();
                held.owed_secrets = owed;
                Ok(())
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.save_ledger(ledger)),
        }
    }

    /// The run lock lives beside the ledger (in the ledger file), so two runs sharing a ledger
    /// never overlap; taking it creates the ledger file if needed.
    fn try_lock(&self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => {
                let mut lock = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match lock.as_ref() {
                    Some(held) => Ok(Some(held.clone())),
                    None => {
                        *lock = Some(holder.clone());
                        Ok(None)
                    }
                }
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.try_lock(holder)),
        }
    }

    fn unlock(&self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => {
                let mut lock = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if lock.as_ref().is_some_and(|l| l.id == id) {
                    Ok(lock.take())
                } else {
                    Ok(None)
                }
            }
            LedgerFile::Sqlite { path, .. } if !path.exists() => Ok(None),
            LedgerFile::Sqlite { .. } => self.with(|l| l.unlock(id)),
        }
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => Ok(lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()),
            LedgerFile::Sqlite { path, .. } if !path.exists() => Ok(None),
            LedgerFile::Sqlite { .. } => self.with(LocalBackend::lock_holder),
        }
    }

    /// Records (`Some`) or clears (`None`) the secret owed for `address`, durably at once.
    pub(super) fn set_owed(
        &self,
        address: &str,
        owed: Option<crate::backend::OwedSecret>,
    ) -> Result<(), BackendError> {
        match self {
            LedgerFile::Memory(held, _) => {
                let mut held = held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match owed {
                    Some(o) => {
                        held.owed_secrets.insert(address.to_string(), o);
                    }
                    None => {
                        held.owed_secrets.remove(address);
                    }
                }
                Ok(())
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.set_owed_secret(address, owed)),
        }
    }
}
