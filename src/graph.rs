//! The dependency graph of a plan: which change waits for which, cycles, and the order.
//!
//! Two steps, so that a saved plan is executed exactly as reviewed:
//! 1. [`link`] derives each change's `depends_on` (and a replacement's `destroy_depends_on`) from
//!    what its resources name: a member names its workspace and RAM user, a key its workspace,
//!    owner and models, an attachment its principal and policy, and so on. Creates and updates
//!    wait for what they name; deletes run the other way round (a key is deleted before its
//!    owner's membership, an attachment before its user or policy, a workspace last).
//! 2. [`Graph::build`] turns the stored lists into a graph of steps. A change is one step, except
//!    a replacement, which is two (delete, then create): a replaced workspace's keys are deleted
//!    before it and created after it, which no single node could express.
//!
//! Changes whose resources name nothing in common get no edge and may run in parallel.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt::{self, Write as _};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{Address, Principal, Rename, Resource, State};
use crate::plan::{Action, Change, Plan};

/// Which half of a change a step carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Delete, or the first half of a replacement.
    Destroy,
    /// Create, update, or the second half of a replacement.
    Apply,
}

/// One unit of execution: a change (by index into the plan's changes) and the half of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step {
    pub change: usize,
    pub phase: Phase,
}

/// Why a plan's dependencies cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Each inner list is one cycle's addresses, in plan order.
    #[error("{}", cycle_message(.0))]
    Cycle(Vec<Vec<Address>>),
    #[error(
        "change `{change}` depends on `{missing}`, which is not in the plan\n\
            hint: recompute the plan"
    )]
    UnknownDependency {
        // Boxed: addresses are large and errors are rare.
        change: Box<Address>,
        missing: Box<Address>,
    },
}

fn cycle_message(cycles: &[Vec<Address>]) -> String {
    let mut text = String::from("dependency cycle");
    for (i, cycle) in cycles.iter().enumerate() {
        text.push_str(if i == 0 {
            " between "
        } else {
            "; and between "
        });
        let names: Vec<String> = cycle.iter().map(|a| format!("`{a}`")).collect();
        text.push_str(&names.join(", "));
    }
    text
}

/// The configuration's own dependency graph (`msctl graph --config`): for each declared
/// resource, the declared resources it names and so needs, as `(dependency, dependent)` pairs in
/// address order. Unlike a plan's graph it does not depend on live state.
pub fn desired_edges(state: &State) -> Vec<(Address, Address)> {
    let mut edges: Vec<(Address, Address)> = state
        .resources
        .iter()
        .flat_map(|(address, resource)| {
            references(resource)
                .into_iter()
                .filter(move |named| named != address && state.resources.contains_key(named))
                .map(|named| (named, address.clone()))
        })
        .collect();
    edges.sort();
    edges.dedup();
    edges
}

/// A DOT identifier or label: quoted, with quotes and backslashes escaped.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// [`desired_edges`] in Graphviz DOT: one node per declared resource, edges from what a
/// resource needs to the resource.
pub fn desired_to_dot(state: &State) -> String {
    let mut out = String::from("digraph config {\n  rankdir=LR;\n  node [shape=box];\n");
    for address in state.resources.keys() {
        let _ = writeln!(out, "  {};", quote(&address.to_string()));
    }
    for (before, after) in desired_edges(state) {
        let _ = writeln!(
            out,
            "  {} -> {};",
            quote(&before.to_string()),
            quote(&after.to_string())
        );
    }
    out.push_str("}\n");
    out
}

/// The objects a resource names, which must exist while it does.
fn references(resource: &Resource) -> Vec<Address> {
    let ws = |w: &String| Address::Workspace { name: w.clone() };
    let user = |u: &String| Address::RamUser { name: u.clone() };
    let model = |w: &String, m: &String| Address::ModelPermission {
        workspace: w.clone(),
        model: m.clone(),
    };
    match resource {
        Resource::Workspace(_)
        | Resource::RamUser(_)
        | Resource::RamGroup(_)
        | Resource::RamRole(_)
        | Resource::RamPolicy(_)
        | Resource::PaiWorkspace(_) => Vec::new(),
        Resource::ModelPermission(m) => vec![ws(&m.workspace)],
        Resource::ModelLimit(l) => vec![ws(&l.workspace), model(&l.workspace, &l.model)],
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
            for m in k.models.iter().flatten() {
                out.push(model(&k.workspace, m));
            }
            out
        }
        Resource::GroupMember(m) => vec![
            Address::RamGroup {
                name: m.group.clone(),
            },
            user(&m.user),
        ],
        // A system policy has no change of its own, so naming it is harmless.
        Resource::Attachment(a) => vec![
            a.principal.ram_address(),
            Address::RamPolicy {
                name: a.policy.clone(),
            },
        ],
        Resource::PaiMember(m) => vec![
            Address::PaiWorkspace {
                name: m.workspace.clone(),
            },
            user(&m.user),
        ],
    }
}

/// An update that renames a user or group in place (`renamed_from`).
fn is_rename(change: &Change) -> bool {
    match (change.action, &change.before, &change.after) {
        (Action::Update, Some(before), Some(after)) => Rename::of_update(before, after).is_some(),
        _ => false,
    }
}

fn has_apply(action: Action) -> bool {
    matches!(
        action,
        Action::Create | Action::Update | Action::Replace | Action::Rotate
    )
}

fn has_destroy(action: Action) -> bool {
    matches!(action, Action::Delete | Action::Replace)
}

/// Fills in every change's `depends_on` and `destroy_depends_on` (replacing what was there),
/// then checks the result for cycles. Lists are in plan order.
///
/// A delete's list may name an update (one that stops naming the deleted object): the update
/// runs first. This is the only edge between an update and a delete.
pub fn link(changes: &mut [Change]) -> Result<(), GraphError> {
    let index: HashMap<&Address, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.address, i))
        .collect();
    let n = changes.len();
    // apply[i]: changes whose apply step precedes i's apply step;
    // destroy[i]: changes whose destroy step precedes i's destroy step.
    let mut apply: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut destroy: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, c) in changes.iter().enumerate() {
        if has_apply(c.action)
            && let Some(after) = &c.after
        {
            for named in references(after) {
                if let Some(&j) = index.get(&named)
                    && j != i
                    && has_apply(changes[j].action)
                {
                    apply[i].insert(j);
                }
            }
        }
        if c.action == Action::Update
            && let (Some(before), Some(after)) = (&c.before, &c.after)
        {
            // An update that stops naming something must land before that thing is deleted
            // (a key narrowed to fewer models, then the model permission removed).
            let still = references(after);
            for named in references(before) {
                if !still.contains(&named)
                    && let Some(&j) = index.get(&named)
                    && has_destroy(changes[j].action)
                {
                    destroy[j].insert(i);
                }
            }
        }
        if has_destroy(c.action)
            && let Some(before) = &c.before
        {
            // What this resource names outlives it: its own deletion waits for this one.
            for named in references(before) {
                if let Some(&j) = index.get(&named)
                    && j != i
                    && has_destroy(changes[j].action)
                {
                    destroy[j].insert(i);
                }
                // A delete names a renamed user or group by its new name: the rename goes first.
                if let Some(&j) = index.get(&named)
                    && j != i
                    && is_rename(&changes[j])
                {
                    destroy[i].insert(j);
                }
            }
        }
    }
    let addresses: Vec<Address> = changes.iter().map(|c| c.address.clone()).collect();
    let named = |set: &BTreeSet<usize>| set.iter().map(|&j| addresses[j].clone()).collect();
    for (i, c) in changes.iter_mut().enumerate() {
        match c.action {
            Action::Create | Action::Update | Action::Rotate => {
                c.depends_on = named(&apply[i]);
                c.destroy_depends_on = Vec::new();
            }
            Action::Delete => {
                c.depends_on = named(&destroy[i]);
                c.destroy_depends_on = Vec::new();
            }
            Action::Replace => {
                c.depends_on = named(&apply[i]);
                c.destroy_depends_on = named(&destroy[i]);
            }
        }
    }
    Graph::build(changes).map(|_| ())
}

/// The steps of a plan and their edges (dependency -> dependent).
#[derive(Debug, Clone)]
pub struct Graph {
    graph: DiGraph<Step, ()>,
}

impl Graph {
    /// Builds the step graph from the changes' stored dependency lists.
    pub fn build(changes: &[Change]) -> Result<Graph, GraphError> {
        let mut graph = DiGraph::with_capacity(changes.len(), changes.len() * 2);
        // (destroy step, apply step) of each change.
        let mut nodes: Vec<(Option<NodeIndex>, Option<NodeIndex>)> =
            Vec::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            let destroy = has_destroy(c.action).then(|| {
                graph.add_node(Step {
                    change: i,
                    phase: Phase::Destroy,
                })
            });
            let apply = has_apply(c.action).then(|| {
                graph.add_node(Step {
                    change: i,
                    phase: Phase::Apply,
                })
            });
            if let (Some(d), Some(a)) = (destroy, apply) {
                graph.add_edge(d, a, ());
            }
            nodes.push((destroy, apply));
        }
        let index: HashMap<&Address, usize> = changes
            .iter()
            .enumerate()
            .map(|(i, c)| (&c.address, i))
            .collect();
        // The step of a change in one phase, or its only step when it has no such phase.
        let step = |j: usize, phase: Phase| -> NodeIndex {
            let (d, a) = nodes[j];
            let found = match phase {
                Phase::Destroy => d.or(a),
                Phase::Apply => a.or(d),
            };
            found.unwrap_or_else(|| unreachable!("every action has at least one step"))
        };
        for (i, c) in changes.iter().enumerate() {
            let phase = if c.action == Action::Delete {
                Phase::Destroy
            } else {
                Phase::Apply
            };
            let lists = [
                (&c.depends_on, phase),
                (&c.destroy_depends_on, Phase::Destroy),
            ];
            for (list, phase) in lists {
                for dep in list {
                    let Some(&j) = index.get(dep) else {
                        return Err(GraphError::UnknownDependency {
                            change: Box::new(c.address.clone()),
                            missing: Box::new(dep.clone()),
                        });
                    };
                    graph.add_edge(step(j, phase), step(i, phase), ());
                }
            }
        }
        let mut cycles: Vec<Vec<Address>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
            .map(|scc| {
                let members: BTreeSet<usize> = scc.iter().map(|&n| graph[n].change).collect();
                members
                    .into_iter()
                    .map(|j| changes[j].address.clone())
                    .collect()
            })
            .collect();
        if !cycles.is_empty() {
            cycles.sort();
            return Err(GraphError::Cycle(cycles));
        }
        Ok(Graph { graph })
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Step `id` (ids are `0..len()`).
    pub fn step(&self, id: usize) -> Step {
        self.graph[NodeIndex::new(id)]
    }

    /// The steps that wait for step `id`.
    pub fn dependents(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(id), Direction::Outgoing)
            .map(|n| n.index())
    }

    /// How many steps step `id` waits for (parallel edges counted once each).
    pub fn dependency_count(&self, id: usize) -> usize {
        self.graph
            .neighbors_directed(NodeIndex::new(id), Direction::Incoming)
            .count()
    }

    /// Every step, each after all it depends on; ties broken by plan order, so the order is
    /// stable from run to run.
    pub fn order(&self) -> Vec<Step> {
        let n = self.len();
        let mut waiting: Vec<usize> = (0..n).map(|id| self.dependency_count(id)).collect();
        let mut ready: BinaryHeap<Reverse<(Step, usize)>> = (0..n)
            .filter(|&id| waiting[id] == 0)
            .map(|id| Reverse((self.step(id), id)))
            .collect();
        let mut out = Vec::with_capacity(n);
        while let Some(Reverse((step, id))) = ready.pop() {
            out.push(step);
            for next in self.dependents(id) {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(Reverse((self.step(next), next)));
                }
            }
        }
        assert_eq!(
            out.len(),
            n,
            "build() rejects cycles, so every step is reached"
        );
        out
    }
}

/// The plan's dependency graph in Graphviz DOT: one node per change labelled with its symbol and
/// address, edges from dependency to dependent. Edges into a replacement's delete half are
/// dashed; manual changes are dashed boxes.
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
    for c in &plan.changes {
        let style = if c.manual.is_some() {
            ", style=dashed"
        } else {
            ""
        };
        let label = format!("{} {}", c.action.symbol(), c.address);
        let _ = writeln!(
            out,
            "  {} [label={}{style}];",
            quote(&c.address.to_string()),
            quote(&label)
        );
    }
    for c in &plan.changes {
        let to = quote(&c.address.to_string());
        for dep in &c.depends_on {
            let _ = writeln!(out, "  {} -> {to};", quote(&dep.to_string()));
        }
        for dep in &c.destroy_depends_on {
            let _ = writeln!(
                out,
                "  {} -> {to} [style=dashed, label=\"destroy\"];",
                quote(&dep.to_string())
            );
        }
    }
    out.push_str("}\n");
    out
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}", self.change, self.phase)
    }
}

#[cfg(test)]
mod tests;
