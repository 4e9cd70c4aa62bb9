//! Unit tests of the access and envs renderings.

use std::path::Path;

use super::*;
use crate::access::query::{AccessQuery, answer};
use crate::access::{self, AccessChange, Direction, Grant, Wanted};
use crate::render::json::{check_committed_schema, schema_errors};
use crate::render::{plan_markdown, plan_text, sample};

fn scenario() -> (crate::config::Config, crate::access::AccessModel) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/access");
    let loaded = crate::config::load(crate::config::sources_from_dir(&path).expect("read"));
    let config = loaded.config.expect("valid");
    let model = access::build(&config.desired, &config.quotas);
    (config, model)
}

fn answers(model: &crate::access::AccessModel) -> Vec<AccessAnswer> {
    let user = |n: &str| Some(Subject::User { name: n.into() });
    [
        AccessQuery {
            model: Some("qwen-max".into()),
            workspace: Some("shop-prod".into()),
            subject: None,
        },
        AccessQuery {
            subject: user("alice"),
            ..AccessQuery::default()
        },
        AccessQuery {
            workspace: Some("default-cn-beijing".into()),
            ..AccessQuery::default()
        },
        AccessQuery::default(),
    ]
    .iter()
    .map(|q| answer(model, q, "configuration `shop`".into()))
    .collect()
}

#[test]
fn committed_schemas_are_current() {
    check_committed_schema("schema/access.schema.json", &access_schema());
    check_committed_schema("schema/envs.schema.json", &envs_schema());
}

#[test]
fn answers_and_tables_validate_against_their_schemas() {
    let (config, model) = scenario();
    let schema = access_schema();
    for a in answers(&model) {
        let json = access_json(&a);
        assert!(
            json.starts_with("{\n  \"format_version\": \"1\",\n"),
            "{json}"
        );
        let errors = schema_errors(&schema, &json);
        assert!(errors.is_empty(), "{errors:#?}");
    }
    let sets = access::envs::compare(
        &config.desired,
        &model,
        &[Wanted::expanded(
            "shop-{env}",
            &["dev".into(), "prod".into()],
        )],
    );
    let m = access::envs::matrix("configuration `shop`".into(), sets);
    let errors = schema_errors(&envs_schema(), &envs_json(&m));
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn text_answers_show_the_reason_chain_and_the_limit() {
    let (_, model) = scenario();
    let text = access_text(&answers(&model)[0], false);
    assert!(text.starts_with(
        "Who can call, fine-tune or deploy qwen-max in shop-prod (configuration `shop`)\n"
    ));
    let key = "key backend in shop-prod\n  call qwen-max in shop-prod\n      why: key backend in \
        shop-prod is owned by alice and enabled (workspace.shop-prod.apikey.backend)\n           \
        alice is a member of shop-prod (workspace.shop-prod.member.alice)\n           shop-prod \
        authorizes qwen-max for call, deploy (workspace.shop-prod.model.qwen-max)\n           \
        shop-prod limits qwen-max to 600 requests/60 s (workspace.shop-prod.limit.qwen-max)\n      \
        limit: 600 requests/60 s\n";
    assert!(text.contains(key), "{text}");
    let alice = access_text(&answers(&model)[1], false);
    assert!(
        alice.contains("    API sfm:DeleteIndex allowed (overridden: an explicit Deny wins)\n"),
        "{alice}"
    );
    assert!(alice.contains("  account-wide:\n") && alice.contains("  in shop-prod:\n"));
    let sheet = access_text(&answers(&model)[2], false);
    assert!(sheet.contains("Administered by: nobody holds the Administrator page\n"));
    assert!(sheet.contains("Risks:\n  ! key bob-playground in default-cn-beijing: "));
}

#[test]
fn markdown_answers_stay_under_the_cap() {
    let (_, model) = scenario();
    for a in answers(&model) {
        let full = access_markdown(&a, usize::MAX);
        assert!(!full.contains("shortened"), "{full}");
        for cap in [0, 300, 1500, full.len() / 2] {
            let md = access_markdown(&a, cap);
            assert!(md.len() <= cap, "{} > {cap}", md.len());
        }
    }
}

#[test]
fn env_tables_mark_differences_and_missing_cells() {
    let (config, model) = scenario();
    let sets = access::envs::compare(
        &config.desired,
        &model,
        &[Wanted::expanded(
            "shop-{env}",
            &["dev".into(), "prod".into()],
        )],
    );
    let m = access::envs::matrix("configuration `shop`".into(), sets);
    let text = envs_text(&m, false);
    assert!(text.contains("shop-{env}: shop-dev, shop-prod ("), "{text}");
    assert!(text.contains("\n  *  model        qwen-plus  "), "{text}");
    assert!(
        text.contains("    model qwen-plus: missing in dev\n"),
        "{text}"
    );
    let md = envs_markdown(&m, usize::MAX);
    assert!(
        md.contains("| ≠ | model | `qwen-plus` | **missing** |"),
        "{md}"
    );
}

fn escalating_plan(n: usize) -> crate::plan::Plan {
    let mut plan = sample::rich_plan();
    let mut changes = vec![AccessChange {
        subject: Subject::User {
            name: "mallory".into(),
        },
        direction: Direction::Gained,
        grant: Grant::SuperAdmin,
        escalation: Some("new super administrator".into()),
        affects: vec![],
        because: vec![],
    }];
    for i in 0..n {
        changes.push(AccessChange {
            subject: Subject::User {
                name: format!("user{i:05}"),
            },
            direction: Direction::Lost,
            grant: Grant::Member {
                workspace: "chatbot-prod".into(),
            },
            escalation: None,
            affects: vec![],
            because: vec![],
        });
    }
    plan.access = AccessChanges { changes };
    plan
}

#[test]
fn plans_list_escalations_first_in_every_format() {
    let plan = escalating_plan(2);
    let text = plan_text(&plan, false);
    assert!(
        text.contains(
            "Access changes (1 escalation first):\n  ! new super administrator: mallory: \
            + super administrator (every workspace)\n    user00000: - member of chatbot-prod\n"
        ),
        "{text}"
    );
    let md = plan_markdown(&plan, usize::MAX);
    assert!(
        md.contains(
            "### Access changes\n\n**1 escalation listed first.**\n\n\
            - ⚠️ **new super administrator**: mallory: + super administrator (every workspace)\n"
        ),
        "{md}"
    );
    let json = crate::render::plan_json(&plan);
    let errors = schema_errors(&crate::render::plan_schema(), &json);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn pull_request_reviews_carry_the_access_changes() {
    let base = crate::plan::CommitRef {
        id: "0123456789abcdef0123456789abcdef01234567".into(),
        short: "0123456".into(),
        summary: "base".into(),
        author: "Alice".into(),
        time: 1_700_000_000,
    };
    let review = crate::plan::Review::new("main".into(), base, vec![], escalating_plan(1), vec![]);
    let md = crate::render::review_markdown(&review, usize::MAX);
    assert!(
        md.contains(
            "### Access changes\n\n**1 escalation listed first.**\n\n\
            - ⚠️ **new super administrator**: mallory"
        ),
        "{md}"
    );
    let text = crate::render::review_text(&review, false);
    assert!(
        text.contains("  ! new super administrator: mallory: + super administrator"),
        "{text}"
    );
    let small = crate::render::review_markdown(&escalating_review(), 20_000);
    assert!(small.len() <= 20_000);
}

fn escalating_review() -> crate::plan::Review {
    let base = crate::plan::CommitRef {
        id: "0".repeat(40),
        short: "0000000".into(),
        summary: "base".into(),
        author: "Alice".into(),
        time: 0,
    };
    crate::plan::Review::new("main".into(), base, vec![], escalating_plan(5_000), vec![])
}

#[test]
fn huge_access_changes_are_cut_under_the_pr_comment_cap_keeping_escalations() {
    let plan = escalating_plan(20_000);
    let md = plan_markdown(&plan, crate::render::DEFAULT_MARKDOWN_MAX_CHARS);
    assert!(md.len() <= crate::render::DEFAULT_MARKDOWN_MAX_CHARS);
    assert!(md.contains("new super administrator"));
    assert!(md.contains(" access changes"), "the cut note counts them");
}
