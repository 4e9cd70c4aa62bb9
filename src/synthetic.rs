//! Synthetic configs of a chosen size, for benchmarks of validate, plan and apply (used by
//! `examples/gen_config.rs` and `benches/reconcile.rs`).
//!
//! Workspaces come in dev/test/prod triples from one declaration each; every workspace authorizes
//! three models, has members drawn from the users, two API keys, and an allocation in one quota
//! split per model. Users get a policy each and belong to groups. Output is deterministic.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Params {
    workspaces: usize,
    users: usize,
    members: usize,
    out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub workspaces: usize,
    pub users: usize,
}

const MODELS: [&str; 3] = ["qwen-plus", "qwen-turbo", "qwen-max"];
const PAGES: [&str; 4] = [
    "ModelExperience-FullAccess",
    "Playground-FullAccess",
    "ModelObservation-FullAccess",
    "BatchInference-FullAccess",
];
const POLICIES: [&str; 3] = [
    "AliyunBailianDataReadOnlyAccess",
    "AliyunBailianReadOnlyAccess",
    "sfm-readers",
];

/// Writes a config with about `workspaces` workspaces (a multiple of 3), `users` RAM users and
/// `members` members per workspace into `out`.
pub fn generate(
    out: &Path,
    workspaces: usize,
    users: usize,
    members: usize,
) -> std::io::Result<Generated> {
    let args = Params {
        workspaces,
        users,
        members,
        out: out.to_path_buf(),
    };
    let users = args.users.max(args.members).max(1);
    let triples = args.workspaces.div_ceil(3).max(1);
    std::fs::create_dir_all(args.out.join("ram"))?;
    std::fs::create_dir_all(args.out.join("workspaces"))?;
    std::fs::write(
        args.out.join("msctl.toml"),
        "[project]\nname = \"synthetic\"\ndefault_region = \"cn-beijing\"\n\n[backend]\n\
            kind = \"local\"\n",
    )?;

    // Users, 1000 per file, each with one policy.
    for (chunk, start) in (0..users).step_by(1000).enumerate() {
        let mut s = String::new();
        for u in start..(start + 1000).min(users) {
            let _ = writeln!(
                s,
                "[[ram.user]]\nname = \"user{u:06}\"\ndisplay_name = \"User {u}\"\n\
                    policies = [\"{}\"]\n",
                POLICIES[u % POLICIES.len()]
            );
        }
        std::fs::write(args.out.join(format!("ram/users-{chunk:03}.toml")), s)?;
    }
    // Groups of 100 users, and the custom policy.
    let mut s = String::from(
        "[[ram.policy]]\nname = \"sfm-readers\"\ndocument = { Version = \"1\", Statement = [{ \
            Effect = \"Allow\", Action = [\"sfm:Get*\", \"sfm:List*\"], Resource = \"*\" }] }\n\n",
    );
    for (g, start) in (0..users).step_by(100).enumerate() {
        let members: Vec<String> = (start..(start + 100).min(users))
            .map(|u| format!("\"user{u:06}\""))
            .collect();
        let _ = writeln!(
            s,
            "[[ram.group]]\nname = \"team{g:04}\"\nmembers = [{}]\n",
            members.join(", ")
        );
    }
    std::fs::write(args.out.join("ram/groups.toml"), s)?;

    // Workspaces: one declaration per triple, 100 declarations per file.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut names = Vec::new();
    for (chunk, start) in (0..triples).step_by(100).enumerate() {
        let mut s = String::new();
        for t in start..(start + 100).min(triples) {
            let mut members = Vec::new();
            let mut picked = std::collections::BTreeSet::new();
            while picked.len() < args.members.min(users) {
                picked.insert((next() as usize) % users);
            }
            for (i, u) in picked.iter().enumerate() {
                let admin = if i == 0 { ", administrator = true" } else { "" };
                members.push(format!(
                    "  {{ user = \"user{u:06}\", pages = [\"{}\"]{admin} }},",
                    PAGES[i % PAGES.len()]
                ));
            }
            let owner = picked.iter().next().copied().unwrap_or(0);
            let _ = writeln!(
                s,
                "[[workspace]]\nname = \"svc{t:05}-{{env}}\"\n\
                    environments = [\"dev\", \"test\", \"prod\"]\nmodels = [{}]\nmembers = [\n{}\n\
                    ]\napi_keys = [\n  {{ name = \"backend\", owner = \"user{owner:06}\", models = \
                    [\"qwen-plus\"] }},\n  {{ name = \"batch\", owner = \"user{owner:06}\", \
                    description = \"batch jobs\" }},\n]\n",
                MODELS
                    .iter()
                    .map(|m| format!("{{ model = \"{m}\" }}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                members.join("\n"),
            );
            for env in ["dev", "test", "prod"] {
                names.push(format!("svc{t:05}-{env}"));
            }
        }
        std::fs::write(args.out.join(format!("workspaces/ws-{chunk:03}.toml")), s)?;
    }

    // One split per model: every workspace gets 900 requests/minute, 10% is reserve.
    let mut s = String::new();
    for m in MODELS {
        let total = names.len() as u64 * 1000;
        let _ = writeln!(
            s,
            "[[quota]]\nregion = \"cn-beijing\"\nmodel = \"{m}\"\nrequests_per_minute = {total}\n\
                tokens_per_minute = {}\nreserve = \"10%\"\n\n[quota.allocations]",
            total * 1000
        );
        for n in &names {
            let _ = writeln!(s, "\"{n}\" = 900");
        }
        s.push('\n');
    }
    std::fs::write(args.out.join("quota.toml"), s)?;
    Ok(Generated {
        workspaces: names.len(),
        users,
    })
}
