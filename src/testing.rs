//! Test support: resource builders, a rich sample state, random states for property tests, and
//! an in-memory backend that enforces the platform's referential rules and injects failures.

pub mod harness;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::backend::{Backend, BackendError, Capabilities, Operation, ReadScope};
use crate::model::*;
use crate::plan::{Action, Change, DiffOptions, Plan, Summary, diff};

pub fn workspace(name: &str, region: &str) -> Resource {
    Resource::Workspace(Workspace {
        name: name.into(),
        region: region.into(),
        default: false,
    })
}

pub fn default_workspace(name: &str, region: &str) -> Resource {
    Resource::Workspace(Workspace {
        name: name.into(),
        region: region.into(),
        default: true,
    })
}

pub fn user(name: &str) -> Resource {
    Resource::RamUser(RamUser {
        name: name.into(),
        display_name: Some(name.to_uppercase()),
        comments: None,
    })
}

pub fn group(name: &str) -> Resource {
    Resource::RamGroup(RamGroup {
        name: name.into(),
        comments: None,
    })
}

pub fn group_member(group: &str, user: &str) -> Resource {
    Resource::GroupMember(GroupMember {
        group: group.into(),
        user: user.into(),
    })
}

pub fn trust_policy(account: &str) -> Value {
    json!({
        "Version": "1",
        "Statement": [{
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"RAM": [format!("acs:ram::{account}:root")]}
        }]
    })
}

pub fn role(name: &str, trust: Value) -> Resource {
    Resource::RamRole(RamRole {
        name: name.into(),
        description: None,
        trust_policy: trust,
        max_session_duration: 3600,
    })
}

pub fn policy(name: &str, document: Value) -> Resource {
    Resource::RamPolicy(RamPolicy {
        name: name.into(),
        description: None,
        document,
    })
}

pub fn attach(principal: Principal, policy: &str, policy_type: PolicyType) -> Resource {
    Resource::Attachment(Attachment {
        principal,
        policy: policy.into(),
        policy_type,
    })
}

pub fn model(ws: &str, model: &str) -> Resource {
    Resource::ModelPermission(ModelPermission {
        workspace: ws.into(),
        model: model.into(),
        inference: true,
        fine_tune: false,
        deploy: false,
    })
}

pub fn limit(ws: &str, model: &str, requests: u64) -> Resource {
    Resource::ModelLimit(ModelLimit {
        workspace: ws.into(),
        model: model.into(),
        requests,
        request_period: 60,
        tokens: None,
        usage_period: None,
    })
}

pub fn member(ws: &str, user: &str, administrator: bool) -> Resource {
    Resource::Member(Member {
        workspace: ws.into(),
        principal: Principal::User(user.into()),
        administrator,
        pages: ["Playground-FullAccess".to_string()].into(),
    })
}

pub fn key(ws: &str, name: &str, owner: &str, models: Option<&[&str]>) -> Resource {
    Resource::ApiKey(ApiKey {
        workspace: ws.into(),
        name: name.into(),
        owner: owner.into(),
        description: format!("{name} key"),
        models: models.map(|m| m.iter().map(|s| s.to_string()).collect()),
        ip_allow: BTreeSet::new(),
        enabled: true,
    })
}

pub fn pai_workspace(name: &str, region: &str) -> Resource {
    Resource::PaiWorkspace(PaiWorkspace {
        name: name.into(),
        region: region.into(),
        display_name: None,
        description: String::new(),
        env_types: vec!["prod".into()],
    })
}

pub fn pai_member(ws: &str, user: &str) -> Resource {
    Resource::PaiMember(PaiMember {
        workspace: ws.into(),
        user: user.into(),
        roles: ["PAI.AlgoDeveloper".to_string()].into(),
    })
}

/// Every kind, with references between them: 25 resources.
pub fn rich_state() -> State {
    [
        user("alice"),
        user("bob"),
        user("carol"),
        group("devs"),
        group_member("devs", "alice"),
        group_member("devs", "bob"),
        role("ops", trust_policy("1234")),
        policy(
            "sfm-create-index",
            json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sfm:CreateIndex",
                                                  "Resource": "*"}]}),
        ),
        attach(
            Principal::User("alice".into()),
            "AliyunBailianDataFullAccess",
            PolicyType::System,
        ),
        attach(
            Principal::Group("devs".into()),
            "sfm-create-index",
            PolicyType::Custom,
        ),
        attach(
            Principal::Role("ops".into()),
            "AliyunOSSReadOnlyAccess",
            PolicyType::System,
        ),
        default_workspace("default-cn", "cn-beijing"),
        workspace("chatbot-prod", "cn-beijing"),
        workspace("chatbot-dev", "cn-beijing"),
        model("chatbot-prod", "qwen-plus"),
        model("chatbot-dev", "qwen-plus"),
        limit("chatbot-prod", "qwen-plus", 600),
        member("chatbot-prod", "alice", true),
        member("chatbot-prod", "bob", false),
        member("chatbot-dev", "bob", true),
        member("chatbot-dev", "carol", false),
        key("chatbot-prod", "ci-bot", "alice", Some(&["qwen-plus"])),
        key("chatbot-dev", "bob-key", "bob", None),
        pai_workspace("langstudio_prod", "cn-beijing"),
        pai_member("langstudio_prod", "alice"),
    ]
    .into_iter()
    .collect()
}

/// What must exist while `resource` does, as the platform enforces it. Written apart from the
/// graph's own rules on purpose: the fake checks the graph rather than echoing it.
pub fn parents(resource: &Resource) -> Vec<Address> {
    let ws = |w: &str| Address::Workspace { name: w.into() };
    let user = |u: &str| Address::RamUser { name: u.into() };
    match resource {
        Resource::ModelPermission(m) => vec![ws(&m.workspace)],
        Resource::ModelLimit(l) => vec![
            ws(&l.workspace),
            Address::ModelPermission {
                workspace: l.workspace.clone(),
                model: l.model.clone(),
            },
        ],
        Resource::Member(m) => vec![ws(&m.workspace), m.principal.ram_address()],
        Resource::ApiKey(k) => {
            let mut out = vec![
                ws(&k.workspace),
                user(&k.owner),
                Address::Member {
                    workspace: k.workspace.clone(),
                    principal: Principal::User(k.owner.clone()),
                },
            ];
            out.extend(k.models.iter().flatten().map(|m| Address::ModelPermission {
                workspace: k.workspace.clone(),
                model: m.clone(),
            }));
            out
        }
        Resource::GroupMember(m) => vec![
            Address::RamGroup {
                name: m.group.clone(),
            },
            user(&m.user),
        ],
        Resource::Attachment(a) => {
            let mut out = vec![a.principal.ram_address()];
            if a.policy_type == PolicyType::Custom {
                out.push(Address::RamPolicy {
                    name: a.policy.clone(),
                });
            }
            out
        }
        Resource::PaiMember(m) => vec![
            Address::PaiWorkspace {
                name: m.workspace.clone(),
            },
            user(&m.user),
        ],
        _ => Vec::new(),
    }
}

/// Drops resources whose parents are missing, until none is.
pub fn consistent(mut state: State) -> State {
    loop {
        let dangling: Vec<Address> = state
            .iter()
            .filter(|(_, r)| parents(r).iter().any(|p| state.get(p).is_none()))
            .map(|(a, _)| a.clone())
            .collect();
        if dangling.is_empty() {
            return state;
        }
        for a in dangling {
            state.resources.remove(&a);
        }
    }
}

/// How many candidate resources `candidate` knows.
const CANDIDATES: usize = 36;

/// Candidate resource `i` in variant `v` (1..=3); variants differ in mutable and immutable
/// attributes, and in documents that are equal only semantically.
fn candidate(i: usize, v: u8) -> Resource {
    const USERS: [&str; 3] = ["alice", "bob", "carol"];
    const WS: [&str; 2] = ["w1", "w2"];
    const MODELS: [&str; 2] = ["qwen-plus", "qwen-max"];
    let region = |v: u8| {
        if v == 3 {
            "ap-southeast-1"
        } else {
            "cn-beijing"
        }
    };
    let trust = |v: u8| match v {
        1 => trust_policy("1"),
        // The same document as variant 1, as the API may return it.
        2 => {
            json!({"Statement": {"Principal": {"RAM": "acs:ram::1:root"}, "Effect": "Allow",
                                 "Action": ["sts:AssumeRole"]}, "Version": "1"})
        }
        _ => trust_policy("2"),
    };
    match i {
        0..=2 => Resource::RamUser(RamUser {
            name: USERS[i].into(),
            display_name: Some(format!("v{v}")),
            comments: None,
        }),
        3 => Resource::RamGroup(RamGroup {
            name: "devs".into(),
            comments: Some(format!("v{v}")),
        }),
        4 => role("ops", trust(v)),
        5 => policy("p1", trust(v)),
        6..=8 => group_member("devs", USERS[i - 6]),
        9 => attach(
            Principal::User("alice".into()),
            "AliyunBailianFullAccess",
            PolicyType::System,
        ),
        10 => attach(Principal::Group("devs".into()), "p1", PolicyType::Custom),
        11 => attach(
            Principal::Role("ops".into()),
            "AliyunOSSReadOnlyAccess",
            PolicyType::System,
        ),
        12..=13 => workspace(WS[i - 12], region(v)),
        14..=17 => {
            let (w, m) = (WS[(i - 14) / 2], MODELS[(i - 14) % 2]);
            Resource::ModelPermission(ModelPermission {
                workspace: w.into(),
                model: m.into(),
                inference: true,
                fine_tune: v == 2,
                deploy: v == 3,
            })
        }
        18..=21 => limit(WS[(i - 18) / 2], MODELS[(i - 18) % 2], u64::from(v) * 100),
        22..=27 => member(WS[(i - 22) / 3], USERS[(i - 22) % 3], v == 1),
        28..=31 => {
            let w = WS[(i - 28) / 2];
            if (i - 28) % 2 == 0 {
                key(w, "k1", USERS[usize::from(v) - 1], None)
            } else {
                let mut k = key(w, "k2", "alice", Some(&["qwen-plus"]));
                if let Resource::ApiKey(k) = &mut k {
                    k.enabled = v != 2;
                    // Dropping a model from a key must precede deleting the model.
                    if v == 3 {
                        k.models = None;
                    }
                }
                k
            }
        }
        32 => pai_workspace("lp", region(v)),
        33..=35 => {
            let mut m = pai_member("lp", USERS[i - 33]);
            if let Resource::PaiMember(m) = &mut m {
                m.roles.insert(format!("PAI.Role{v}"));
            }
            m
        }
        _ => unreachable!("candidate index below CANDIDATES"),
    }
}

/// Random referentially consistent states over a small universe, so that two of them overlap.
pub fn arb_state() -> impl Strategy<Value = State> {
    proptest::collection::vec(0u8..4, CANDIDATES).prop_map(|picks| {
        let state = picks
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(i, &v)| candidate(i, v))
            .collect();
        consistent(state)
    })
}

/// A backend whose only behaviour is its `apply` closure: empty reads, no ledger, a lock always
/// free. For executor tests that need one odd answer (a panic, an unavailable service).
pub struct ScriptedBackend<F> {
    name: &'static str,
    apply: F,
}

impl<F> ScriptedBackend<F>
where
    F: Fn(Operation<'_>) -> Result<(), BackendError> + Send + Sync,
{
    pub fn new(name: &'static str, apply: F) -> Self {
        ScriptedBackend { name, apply }
    }
}

impl<F> Backend for ScriptedBackend<F>
where
    F: Fn(Operation<'_>) -> Result<(), BackendError> + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }
    fn read(&self, _: &ReadScope) -> Result<State, BackendError> {
        Ok(State::default())
    }
    fn load_ledger(&self) -> Result<crate::backend::Ledger, BackendError> {
        Ok(Default::default())
    }
    fn save_ledger(&self, _: &crate::backend::Ledger) -> Result<(), BackendError> {
        Ok(())
    }
    fn try_lock(
        &self,
        _: &crate::backend::LockInfo,
    ) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        Ok(None)
    }
    fn unlock(&self, _: &str) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        Ok(None)
    }
    fn lock_holder(&self) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        Ok(None)
    }
    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        (self.apply)(operation)
    }
}

/// An in-memory backend that behaves like the platform where ordering matters: creating needs
/// the parents, deleting needs no children, a default workspace cannot be deleted.
#[derive(Default)]
pub struct FakeBackend {
    pub state: Mutex<State>,
    /// Operations on these addresses fail with `Transport`.
    pub fail: Mutex<HashSet<Address>>,
    /// Every call waits here, in flight, until the rendezvous's group is complete: calls can only
    /// finish if that many ran at once. A rendezvous that times out fails the call.
    pub rendezvous: Option<Arc<harness::Rendezvous>>,
    pub calls: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub ledger: Mutex<crate::backend::Ledger>,
    pub lock: Mutex<Option<crate::backend::LockInfo>>,
}

impl FakeBackend {
    pub fn new(state: State) -> Self {
        FakeBackend {
            state: Mutex::new(state),
            ..FakeBackend::default()
        }
    }

    pub fn failing(self, addresses: &[Address]) -> Self {
        *self.fail.lock().unwrap() = addresses.iter().cloned().collect();
        self
    }

    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap().clone()
    }

    fn carry_out(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        let address = operation.resource().address();
        if self.fail.lock().unwrap().contains(&address) {
            return Err(BackendError::Transport(format!(
                "injected failure on `{address}`"
            )));
        }
        let mut state = self.state.lock().unwrap();
        match operation {
            Operation::Create(r) => {
                if state.get(&address).is_some() {
                    return Err(BackendError::Conflict(format!("`{address}` exists")));
                }
                if let Some(p) = parents(r).into_iter().find(|p| state.get(p).is_none()) {
                    return Err(BackendError::NotFound(format!("`{address}` needs `{p}`")));
                }
                state.insert(r.clone());
            }
            Operation::Update { after, .. } => {
                if state.get(&address).is_none() {
                    return Err(BackendError::NotFound(format!("`{address}` is missing")));
                }
                state.insert(after.clone());
            }
            Operation::Delete(r) => {
                if state.get(&address).is_none() {
                    return Err(BackendError::NotFound(format!("`{address}` is missing")));
                }
                if let Resource::Workspace(w) = r
                    && w.default
                {
                    return Err(BackendError::Refused("default workspace".into()));
                }
                if let Some((child, _)) = state.iter().find(|(_, c)| parents(c).contains(&address))
                {
                    return Err(BackendError::Conflict(format!(
                        "`{address}` is still needed by `{child}`"
                    )));
                }
                state.resources.remove(&address);
            }
            Operation::DeleteDuplicate { id, .. } => {
                let duplicate = Address::Duplicate {
                    of: Box::new(address.clone()),
                    id: id.to_string(),
                };
                if state.resources.remove(&duplicate).is_none() {
                    return Err(BackendError::NotFound(format!("`{duplicate}` is missing")));
                }
            }
        }
        Ok(())
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    fn read(&self, _: &ReadScope) -> Result<State, BackendError> {
        Ok(self.snapshot())
    }

    fn load_ledger(&self) -> Result<crate::backend::Ledger, BackendError> {
        Ok(self.ledger.lock().unwrap().clone())
    }

    fn save_ledger(&self, ledger: &crate::backend::Ledger) -> Result<(), BackendError> {
        *self.ledger.lock().unwrap() = ledger.clone();
        Ok(())
    }

    fn try_lock(
        &self,
        holder: &crate::backend::LockInfo,
    ) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        let mut lock = self.lock.lock().unwrap();
        match lock.as_ref() {
            Some(held) => Ok(Some(held.clone())),
            None => {
                *lock = Some(holder.clone());
                Ok(None)
            }
        }
    }

    fn unlock(&self, id: &str) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        let mut lock = self.lock.lock().unwrap();
        Ok(if lock.as_ref().is_some_and(|l| l.id == id) {
            lock.take()
        } else {
            None
        })
    }

    fn lock_holder(&self) -> Result<Option<crate::backend::LockInfo>, BackendError> {
        Ok(self.lock.lock().unwrap().clone())
    }

    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let result = match &self.rendezvous {
            Some(gate) if !gate.wait() => Err(BackendError::Transport(
                "the rendezvous timed out: fewer calls than it waits for ran at once".into(),
            )),
            _ => self.carry_out(operation),
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// The linked changes that take `live` to `desired`, owning everything live so that the plan
/// may delete anything (the property tests need diff(a, b) applied to a to give b).
pub fn changes_owning_all(desired: &State, live: &State, caps: &Capabilities) -> Vec<Change> {
    let options = DiffOptions {
        prune_ram: true,
        owned: live.resources.keys().cloned().collect(),
        caller: None,
        ..DiffOptions::default()
    };
    let mut changes = diff(desired, live, &options, caps).changes;
    crate::graph::link(&mut changes).expect("the graph rules never produce a cycle");
    changes
}

/// A plan document around `changes`.
pub fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: crate::plan::FORMAT_VERSION.into(),
        msctl_version: "test".into(),
        backend: "fake".into(),
        source: Default::default(),
        summary: Summary::of(&changes),
        changes,
        unmanaged: Vec::new(),
        warnings: Vec::new(),
        live_fingerprint: String::new(),
        api_calls: 0,
        api_calls_by_operation: Default::default(),
        managed_live: 0,
        access: Default::default(),
        snapshot: None,
    }
}

/// A bare change for hand-built graphs.
pub fn bare_change(resource: Resource, action: Action, depends_on: &[&Resource]) -> Change {
    let (before, after) = match action {
        Action::Create => (None, Some(resource.clone())),
        Action::Delete => (Some(resource.clone()), None),
        Action::Update | Action::Replace | Action::Rotate => {
            (Some(resource.clone()), Some(resource.clone()))
        }
    };
    Change {
        address: resource.address(),
        action,
        before,
        after,
        attributes: Vec::new(),
        depends_on: depends_on.iter().map(|r| r.address()).collect(),
        destroy_depends_on: Vec::new(),
        warnings: Vec::new(),
        manual: None,
    }
}
