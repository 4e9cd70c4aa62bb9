//! `msctl graph`: the plan's dependency graph as Graphviz DOT (text), as a JSON document of
//! nodes and edges (`--format json`), or as DOT in a fenced block (`--format markdown`).
//! `msctl graph --config`: the same for the configuration itself (every declared resource and
//! what it needs), which stays whole after an apply, when the plan's graph is empty.

use serde::Serialize;

use super::{CommandError, Outcome, output};
use crate::cli::{Cli, GraphArgs};
use crate::model::{Address, State};
use crate::plan::{Action, Plan};
use crate::render::Document;

/// The format version of [`GraphDocument`].
pub const GRAPH_FORMAT_VERSION: &str = "1";

/// `msctl graph --format json`: each change of the plan and what it waits for.
#[derive(Debug, Serialize)]
pub struct GraphDocument {
    pub format_version: String,
    /// The plan's changes in plan order.
    pub nodes: Vec<GraphNode>,
    /// Ordering constraints: `before` runs before `after` (the DOT's arrows).
    pub edges: Vec<GraphEdge>,
}

#[derive(Debug, Serialize)]
pub struct GraphNode {
    pub address: Address,
    pub action: Action,
    /// A console step msctl cannot make through the API.
    pub manual: bool,
}

#[derive(Debug, Serialize)]
pub struct GraphEdge {
    pub before: Address,
    pub after: Address,
    /// An ordering of the delete halves (of replacements and deletions), the DOT's dashed edges.
    pub destroy: bool,
}

impl GraphDocument {
    pub fn of(plan: &Plan) -> GraphDocument {
        GraphDocument {
            format_version: GRAPH_FORMAT_VERSION.to_string(),
            nodes: plan
                .changes
                .iter()
                .map(|c| GraphNode {
                    address: c.address.clone(),
                    action: c.action,
                    manual: c.manual.is_some(),
                })
                .collect(),
            edges: plan
                .changes
                .iter()
                .flat_map(|c| {
                    let apply = c.depends_on.iter().map(|d| (d, false));
                    let destroy = c.destroy_depends_on.iter().map(|d| (d, true));
                    apply.chain(destroy).map(|(d, destroy)| GraphEdge {
                        before: d.clone(),
                        after: c.address.clone(),
                        destroy,
                    })
                })
                .collect(),
        }
    }
}

/// The graph of a plan: DOT as text (in a code block for markdown), [`GraphDocument`] as JSON.
struct GraphView<'a>(&'a Plan);

impl Document for GraphView<'_> {
    fn text(&self, _color: bool) -> String {
        crate::graph::to_dot(self.0)
    }
    fn markdown(&self, _max_chars: usize) -> String {
        format!("```dot\n{}```\n", crate::graph::to_dot(self.0))
    }
    fn json(&self) -> String {
        crate::render::json::to_pretty_json(&GraphDocument::of(self.0))
    }
}

/// `msctl graph --config --format json`: each declared resource and what it needs.
#[derive(Debug, Serialize)]
pub struct ConfigGraphDocument {
    pub format_version: String,
    /// `config`: the graph of the desired state, not of a plan.
    pub graph: &'static str,
    /// Every declared resource, in address order.
    pub nodes: Vec<ConfigGraphNode>,
    /// `before` is needed by `after` (the DOT's arrows): created first, deleted last.
    pub edges: Vec<ConfigGraphEdge>,
}

#[derive(Debug, Serialize)]
pub struct ConfigGraphNode {
    pub address: Address,
    /// The resource kind, e.g. `workspace`, `ram_user`.
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ConfigGraphEdge {
    pub before: Address,
    pub after: Address,
}

impl ConfigGraphDocument {
    pub fn of(desired: &State) -> ConfigGraphDocument {
        ConfigGraphDocument {
            format_version: GRAPH_FORMAT_VERSION.to_string(),
            graph: "config",
            nodes: desired
                .resources
                .keys()
                .map(|a| ConfigGraphNode {
                    address: a.clone(),
                    kind: a.kind(),
                })
                .collect(),
            edges: crate::graph::desired_edges(desired)
                .into_iter()
                .map(|(before, after)| ConfigGraphEdge { before, after })
                .collect(),
        }
    }
}

/// The graph of a configuration: DOT as text, [`ConfigGraphDocument`] as JSON.
struct ConfigGraphView<'a>(&'a State);

impl Document for ConfigGraphView<'_> {
    fn text(&self, _color: bool) -> String {
        crate::graph::desired_to_dot(self.0)
    }
    fn markdown(&self, _max_chars: usize) -> String {
        format!("```dot\n{}```\n", crate::graph::desired_to_dot(self.0))
    }
    fn json(&self) -> String {
        crate::render::json::to_pretty_json(&ConfigGraphDocument::of(self.0))
    }
}

pub fn run(cli: &Cli, args: &GraphArgs) -> Result<Outcome, CommandError> {
    if args.desired {
        // The configuration alone: no backend is opened and no live state read.
        let mut checkout = super::checkout::Checkout::open(cli.dir(), cli.rev())?;
        let loaded = super::load_config(cli.dir(), &mut checkout)?;
        super::report_diagnostics(&loaded, checkout.revision_note().as_deref(), cli.quiet());
        let Some(config) = &loaded.config else {
            return Err(CommandError::InvalidConfig {
                dir: cli.dir().display().to_string(),
                rev: cli.rev().map(|r| format!(" --rev {r}")).unwrap_or_default(),
            });
        };
        output::emit(super::output_format(cli), &ConfigGraphView(&config.desired))?;
        return Ok(Outcome::Success);
    }
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let plan = session.plan(&live)?;
    output::emit(super::output_format(cli), &GraphView(&plan))?;
    Ok(Outcome::Success)
}
