//! `msctl graph`: the plan's dependency graph as Graphviz DOT (text), as a JSON document of
//! nodes and edges (`--format json`), or as DOT in a fenced block (`--format markdown`).

use serde::Serialize;

use super::{CommandError, Outcome, output};
use crate::cli::Cli;
use crate::model::Address;
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

pub fn run(cli: &Cli) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let plan = session.plan(&live)?;
    output::emit(super::output_format(cli), &GraphView(&plan))?;
    Ok(Outcome::Success)
}
