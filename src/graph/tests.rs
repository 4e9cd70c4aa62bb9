//! Tests of dependency linking, cycles, ordering and DOT output.

use proptest::prelude::*;

use super::*;
use crate::backend::Capabilities;
use crate::model::State;
use crate::testing::*;

/// Checks `order()` against the platform's rules as the fake backend states them: what a
/// created resource needs is created first, and what a deleted one needs is deleted after it.
fn assert_platform_order(changes: &[Change]) {
    let graph = Graph::build(changes).expect("acyclic");
    let order = graph.order();
    assert_eq!(order.len(), graph.len());
    let pos: HashMap<(&Address, Phase), usize> = order
        .iter()
        .enumerate()
        .map(|(i, s)| ((&changes[s.change].address, s.phase), i))
        .collect();
    for s in &order {
        let c = &changes[s.change];
        let (resource, phase) = match s.phase {
            Phase::Apply => (c.after.as_ref(), Phase::Apply),
            Phase::Destroy => (c.before.as_ref(), Phase::Destroy),
        };
        for p in parents(resource.expect("the step's resource")) {
            let Some(&other) = pos.get(&(&p, phase)) else {
                continue;
            };
            let me = pos[&(&c.address, s.phase)];
            match phase {
                Phase::Apply => assert!(other < me, "{p} must be created before {}", c.address),
                Phase::Destroy => assert!(me < other, "{} must be deleted before {p}", c.address),
            }
        }
    }
    // And every edge of the graph itself.
    let at: HashMap<Step, usize> = order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    for id in 0..graph.len() {
        for d in graph.dependents(id) {
            assert!(at[&graph.step(id)] < at[&graph.step(d)]);
        }
    }
}

fn deps(changes: &[Change], address: &str) -> Vec<String> {
    let c = changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| panic!("no change {address}"));
    c.depends_on.iter().map(ToString::to_string).collect()
}

fn destroy_deps(changes: &[Change], address: &str) -> Vec<String> {
    let c = changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| panic!("no change {address}"));
    c.destroy_depends_on
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn creations_wait_for_what_they_name() {
    let changes = changes_owning_all(&rich_state(), &State::default(), &Capabilities::full());
    assert_platform_order(&changes);
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod.member.alice"),
        vec!["ram.user.alice", "workspace.chatbot-prod"]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod.apikey.ci-bot"),
        vec![
            "ram.user.alice",
            "workspace.chatbot-prod",
            "workspace.chatbot-prod.model.qwen-plus",
            "workspace.chatbot-prod.member.alice",
        ]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod.limit.qwen-plus"),
        vec![
            "workspace.chatbot-prod",
            "workspace.chatbot-prod.model.qwen-plus"
        ]
    );
    assert_eq!(
        deps(&changes, "ram.group.devs.policy.sfm-create-index"),
        vec!["ram.group.devs", "ram.policy.sfm-create-index"]
    );
    assert_eq!(
        deps(&changes, "pai.workspace.langstudio_prod.member.alice"),
        vec!["ram.user.alice", "pai.workspace.langstudio_prod"]
    );
    assert_eq!(deps(&changes, "ram.user.alice"), Vec::<String>::new());
}

#[test]
fn deletions_run_in_reverse() {
    let changes = changes_owning_all(&State::default(), &rich_state(), &Capabilities::full());
    assert_platform_order(&changes);
    assert_eq!(
        deps(&changes, "ram.user.alice"),
        vec![
            "ram.group.devs.member.alice",
            "ram.user.alice.policy.AliyunBailianDataFullAccess",
            "workspace.chatbot-prod.member.alice",
            "workspace.chatbot-prod.apikey.ci-bot",
            "pai.workspace.langstudio_prod.member.alice",
        ]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod.member.alice"),
        vec!["workspace.chatbot-prod.apikey.ci-bot"]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod"),
        vec![
            "workspace.chatbot-prod.model.qwen-plus",
            "workspace.chatbot-prod.limit.qwen-plus",
            "workspace.chatbot-prod.member.alice",
            "workspace.chatbot-prod.member.bob",
            "workspace.chatbot-prod.apikey.ci-bot",
        ]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-prod.apikey.ci-bot"),
        Vec::<String>::new()
    );
    // The default workspace is not deleted, so nothing waits for it.
    assert!(
        !changes
            .iter()
            .any(|c| c.address.to_string() == "workspace.default-cn")
    );
}

#[test]
fn a_replaced_workspace_interleaves_with_its_contents() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(workspace("chatbot-dev", "ap-southeast-1"));
    let changes = changes_owning_all(&desired, &live, &Capabilities::full());
    assert_platform_order(&changes);
    assert_eq!(
        destroy_deps(&changes, "workspace.chatbot-dev"),
        vec![
            "workspace.chatbot-dev.model.qwen-plus",
            "workspace.chatbot-dev.member.bob",
            "workspace.chatbot-dev.member.carol",
            "workspace.chatbot-dev.apikey.bob-key",
        ]
    );
    assert_eq!(
        deps(&changes, "workspace.chatbot-dev.member.bob"),
        vec!["workspace.chatbot-dev"]
    );
    assert_eq!(
        destroy_deps(&changes, "workspace.chatbot-dev.member.bob"),
        vec!["workspace.chatbot-dev.apikey.bob-key"]
    );
    let order = Graph::build(&changes).unwrap().order();
    let names: Vec<String> = order
        .iter()
        .map(|s| format!("{:?} {}", s.phase, changes[s.change].address))
        .collect();
    let at = |name: &str| names.iter().position(|n| n == name).unwrap();
    assert!(
        at("Destroy workspace.chatbot-dev.apikey.bob-key")
            < at("Destroy workspace.chatbot-dev.member.bob")
    );
    assert!(at("Destroy workspace.chatbot-dev.member.bob") < at("Destroy workspace.chatbot-dev"));
    assert!(at("Destroy workspace.chatbot-dev") < at("Apply workspace.chatbot-dev"));
    assert!(at("Apply workspace.chatbot-dev") < at("Apply workspace.chatbot-dev.member.bob"));
    assert!(
        at("Apply workspace.chatbot-dev.member.bob")
            < at("Apply workspace.chatbot-dev.apikey.bob-key")
    );
}

#[test]
fn independent_changes_have_no_edges() {
    let desired: State = [
        user("a"),
        user("b"),
        workspace("w", "cn-beijing"),
        group("g"),
    ]
    .into_iter()
    .collect();
    let changes = changes_owning_all(&desired, &State::default(), &Capabilities::full());
    assert_eq!(changes.len(), 4);
    assert!(changes.iter().all(|c| c.depends_on.is_empty()));
    assert_eq!(Graph::build(&changes).unwrap().order().len(), 4);
}

#[test]
fn a_cycle_is_an_error_naming_its_members() {
    let (a, b, c) = (user("a"), user("b"), user("c"));
    let changes = vec![
        bare_change(a.clone(), Action::Create, &[&b]),
        bare_change(b.clone(), Action::Create, &[&a]),
        bare_change(c.clone(), Action::Create, &[&a]),
    ];
    let err = Graph::build(&changes).unwrap_err();
    assert_eq!(err, GraphError::Cycle(vec![vec![a.address(), b.address()]]));
    assert_eq!(
        err.to_string(),
        "dependency cycle between `ram.user.a`, `ram.user.b`"
    );

    let self_loop = vec![bare_change(c.clone(), Action::Update, &[&c])];
    assert_eq!(
        Graph::build(&self_loop).unwrap_err().to_string(),
        "dependency cycle between `ram.user.c`"
    );
}

#[test]
fn an_unknown_dependency_is_an_error() {
    let changes = vec![bare_change(user("a"), Action::Create, &[&user("ghost")])];
    assert_eq!(
        Graph::build(&changes).unwrap_err().to_string(),
        "change `ram.user.a` depends on `ram.user.ghost`, which is not in the plan\n\
            hint: recompute the plan"
    );
}

#[test]
fn dot_shows_changes_and_dependencies() {
    let desired: State = [
        workspace("w", "cn-beijing"),
        user("alice"),
        member("w", "alice", true),
    ]
    .into_iter()
    .collect();
    let changes = changes_owning_all(&desired, &State::default(), &Capabilities::full());
    assert_eq!(
        to_dot(&plan_of(changes)),
        r#"digraph plan {
  rankdir=LR;
  node [shape=box];
  "ram.user.alice" [label="+ ram.user.alice"];
  "workspace.w" [label="+ workspace.w"];
  "workspace.w.member.alice" [label="+ workspace.w.member.alice"];
  "ram.user.alice" -> "workspace.w.member.alice";
  "workspace.w" -> "workspace.w.member.alice";
}
"#
    );
}

/// Correctness at scale: every one of 100k changes is ordered, deleted or found unchanged. Speed
/// is measured by `cargo bench --bench reconcile` (plan and apply at 1x to 16x), never here.
#[test]
fn a_hundred_thousand_resources_are_ordered_deleted_and_left_unchanged_in_full() {
    let mut desired = State::default();
    for u in 0..1000 {
        desired.insert(user(&format!("u{u}")));
    }
    for w in 0..100 {
        let ws = format!("ws{w}");
        desired.insert(workspace(&ws, "cn-beijing"));
        desired.insert(model(&ws, "qwen-plus"));
        for u in 0..600 {
            desired.insert(member(&ws, &format!("u{u}"), u == 0));
        }
        for k in 0..400 {
            let owner = format!("u{k}");
            desired.insert(key(&ws, &format!("k{k}"), &owner, Some(&["qwen-plus"])));
        }
    }
    assert!(desired.len() > 100_000, "{}", desired.len());
    let creates = changes_owning_all(&desired, &State::default(), &Capabilities::full());
    let order = Graph::build(&creates).unwrap().order();
    let deletes = changes_owning_all(&State::default(), &desired, &Capabilities::full());
    let unchanged = crate::plan::diff(
        &desired,
        &desired,
        &crate::plan::DiffOptions::default(),
        &Capabilities::full(),
    );
    assert_eq!(order.len(), desired.len());
    assert_eq!(deletes.len(), desired.len());
    assert!(unchanged.changes.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn the_order_respects_every_edge(a in arb_state(), b in arb_state()) {
        let changes = changes_owning_all(&b, &a, &Capabilities::full());
        assert_platform_order(&changes);
    }
}
