//! Benchmark of the access answers on synthetic configs (1x = 500 workspaces, 5,000 RAM users;
//! 4x is about 100k resources): `cargo bench --bench access`.
//!
//! Each answer is what `msctl access` / `msctl envs` computes after loading the config: build the
//! access model, then answer. Sizes: `MSCTL_BENCH_SIZES=1,4` (default `4`).

use std::time::{Duration, Instant};

use msctl::access::query::{AccessQuery, answer};
use msctl::access::{self, Subject, Wanted};
use msctl::config;

fn main() {
    let sizes: Vec<usize> = std::env::var("MSCTL_BENCH_SIZES")
        .unwrap_or_else(|_| "4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "size", "resources", "build", "--model", "--user", "--ws", "--key", "envs", "plan access"
    );
    for &f in &sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("cfg");
        msctl::synthetic::generate(&cfg, 500 * f, 5000 * f, 10).expect("generate");
        let loaded = config::load(config::sources_from_dir(&cfg).expect("read config"));
        let config = loaded.config.expect("synthetic config is valid");
        let state = &config.desired;

        let t = Instant::now();
        let model = access::build(state, &config.quotas);
        let build = t.elapsed();

        let ask = |q: AccessQuery| {
            let t = Instant::now();
            let a = answer(&model, &q, String::new());
            assert!(!a.facts.is_empty(), "{q:?} has an answer");
            t.elapsed()
        };
        let by_model = ask(AccessQuery {
            model: Some("qwen-max".into()),
            workspace: Some("svc00001-prod".into()),
            subject: None,
        });
        let by_user = ask(AccessQuery {
            subject: Some(Subject::User {
                name: "user000042".into(),
            }),
            ..AccessQuery::default()
        });
        let by_ws = ask(AccessQuery {
            workspace: Some("svc00001-prod".into()),
            ..AccessQuery::default()
        });
        let by_key = ask(AccessQuery {
            subject: Some(Subject::Key {
                workspace: String::new(),
                name: "backend".into(),
            }),
            ..AccessQuery::default()
        });

        // Every declaration side by side (what `msctl envs` does with no argument).
        let t = Instant::now();
        let wanted: Vec<Wanted> = (0..(500 * f).div_ceil(3))
            .map(|i| {
                Wanted::expanded(
                    &format!("svc{i:05}-{{env}}"),
                    &["dev".into(), "test".into(), "prod".into()],
                )
            })
            .collect();
        let sets = access::envs::compare(state, &model, &wanted);
        assert_eq!(sets.len(), wanted.len());
        let envs = t.elapsed() + build;

        // The plan's access changes (what `msctl plan` adds): a group gains a policy.
        let mut after = state.clone();
        after.insert(msctl::model::Resource::Attachment(
            msctl::model::Attachment {
                principal: msctl::model::Principal::Group("team0000".into()),
                policy: "AliyunBailianFullAccess".into(),
                policy_type: msctl::model::PolicyType::System,
            },
        ));
        let options = msctl::plan::DiffOptions {
            prune_ram: false,
            owned: Default::default(),
            caller: None,
            ..Default::default()
        };
        let changes = msctl::plan::diff(&after, state, &options, &Default::default()).changes;
        assert_eq!(changes.len(), 1);
        let t = Instant::now();
        let access_changes = msctl::plan::access::access_changes(state, &changes);
        let plan_access = t.elapsed();
        assert_eq!(
            access_changes.escalations(),
            101,
            "the group and its 100 users"
        );

        println!(
            "{:>4}x {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            f,
            state.len(),
            secs(build),
            secs(build + by_model),
            secs(build + by_user),
            secs(build + by_ws),
            secs(build + by_key),
            secs(envs),
            secs(plan_access),
        );
    }
    println!("(each answer column includes building the model)");
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
