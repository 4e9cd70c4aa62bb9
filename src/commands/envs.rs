//! `msctl envs`: the workspaces of one declaration expanded over environments (`chatbot-{env}`),
//! or any set of workspaces, side by side, from the configuration (default) or live state
//! (`--live`). Which workspaces form a set always comes from the configuration's declarations.

use super::access::Input;
use super::{CommandError, Outcome, output};
use crate::access::{self, Wanted};
use crate::cli::{Cli, EnvsArgs};
use crate::config::{self, Config};

pub fn run(cli: &Cli, args: &EnvsArgs) -> Result<Outcome, CommandError> {
    let input = Input::load(cli, args.live)?;
    let declared = declarations(&input.config);
    let sets = wanted(&args.workspaces, &declared, &input)?;
    let model = access::build(&input.state, &input.config.quotas);
    let compared = access::envs::compare(&input.state, &model, &sets);
    let matrix = access::envs::matrix(input.source.clone(), compared);
    output::emit(super::output_format(cli), &matrix)?;
    Ok(Outcome::Success)
}

/// Every workspace declaration with environments, in file order: (`chatbot-{env}`, envs).
fn declarations(config: &Config) -> Vec<(String, Vec<String>)> {
    // The loaded config keeps only the expanded workspaces; the declarations (and the order of
    // their environments) are in the raw files, already checked by the load.
    let parsed = config::parse::parse(&config.sources, &mut Vec::new());
    parsed
        .workspaces
        .iter()
        .filter(|w| !w.value.environments.is_empty())
        .map(|w| (w.value.name.clone(), w.value.environments.clone()))
        .collect()
}

/// The sets the arguments ask for: none = every declaration; `NAME-{env}` = that declaration
/// (or the workspaces that fit the pattern); plain names = one set of those workspaces.
fn wanted(
    args: &[String],
    declared: &[(String, Vec<String>)],
    input: &Input,
) -> anyhow::Result<Vec<Wanted>> {
    if args.is_empty() {
        return Ok(declared
            .iter()
            .map(|(name, envs)| Wanted::expanded(name, envs))
            .collect());
    }
    let mut sets = Vec::new();
    let mut plain = Vec::new();
    for a in args {
        if !a.contains("{env}") {
            plain.push(a.clone());
            continue;
        }
        if let Some((name, envs)) = declared.iter().find(|(n, _)| n == a) {
            sets.push(Wanted::expanded(name, envs));
            continue;
        }
        // Not a declaration: the workspaces whose names fit the pattern.
        let (prefix, suffix) = a.split_once("{env}").unwrap_or((a, ""));
        let mut envs = Vec::new();
        for address in input.state.resources.keys() {
            if let crate::model::Address::Workspace { name } = address
                && name.len() > prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
            {
                envs.push(name[prefix.len()..name.len() - suffix.len()].to_string());
            }
        }
        if envs.is_empty() {
            let known: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
            anyhow::bail!(
                "failed to find workspaces matching `{a}`\nhint: {}",
                if known.is_empty() {
                    "the configuration declares no workspace over environments".to_string()
                } else {
                    format!("declarations over environments: {}", known.join(", "))
                }
            );
        }
        sets.push(Wanted::expanded(a, &envs));
    }
    if !plain.is_empty() {
        sets.push(Wanted::from_names(plain));
    }
    Ok(sets)
}
