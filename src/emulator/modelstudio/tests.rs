//! Tests of the Model Studio handlers.

use super::*;

#[test]
fn auth_round_trips_through_the_store_shape() {
    let custom = json!({
        "type": "Custom",
        "accessIps": ["1.2.3.4/32", "::/0"],
        "modelAccessScope": {"allowAllModels": "False", "accessibleModels": ["qwen-plus"]},
    });
    let auth = parse_auth(&custom).unwrap();
    assert_eq!(auth.ip_allow, BTreeSet::from(["1.2.3.4/32".to_string()]));
    assert_eq!(auth.models, Some(BTreeSet::from(["qwen-plus".to_string()])));
    let shown = auth_json(&auth);
    assert_eq!(shown["type"], "Custom");
    assert_eq!(shown["modelAccessScope"]["allowAllModels"], false);
    assert_eq!(parse_auth(&shown).unwrap(), auth);

    let all = parse_auth(&json!({"type": "All"})).unwrap();
    assert_eq!(
        all,
        Auth {
            models: None,
            ip_allow: BTreeSet::new()
        }
    );
    let shown = auth_json(&all);
    assert_eq!(shown["type"], "All");
    assert_eq!(shown["accessIps"], json!(["0.0.0.0/0", "::/0"]));
    assert_eq!(parse_auth(&shown).unwrap(), all);

    assert_eq!(
        parse_auth(&json!({"type": "Some"})).unwrap_err().code,
        "InvalidParameter.auth.type"
    );
    assert!(parse_auth(&json!({"modelAccessScope": {"allowAllModels": "maybe"}})).is_err());
}

#[test]
fn key_names_come_from_descriptions_and_stay_unique() {
    let key = |name: &str| ApiKeyRecord {
        id: 1,
        workspace_id: "ws".into(),
        name: name.into(),
        owner: "o".into(),
        description: String::new(),
        models: None,
        ip_allow: BTreeSet::new(),
        enabled: true,
        disabled_reason: None,
        secret_sha256: String::new(),
        secret_preview: String::new(),
        gmt_create: 0,
    };
    assert_eq!(key_name(&[], "svc"), "svc");
    assert_eq!(key_name(&[key("svc"), key("svc-2")], "svc"), "svc-3");
    assert_eq!(key_name(&[], "  "), "key");
}

#[test]
fn limit_items_are_checked() {
    let ok = parse_limit_change(
        0,
        &json!({"model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 60,
                "requestLimitPeriod": 60, "usageLimit": 1000, "usageLimitPeriod": 60}),
    )
    .unwrap();
    assert!(matches!(
        ok,
        LimitChange::Overlay(LimitSpec {
            requests: 60,
            tokens: Some(1000),
            ..
        })
    ));
    let missing = parse_limit_change(0, &json!({"model": "m", "operationType": "OVERLAY"}));
    assert_eq!(
        missing.err().unwrap().code,
        "MissingParameter.workspaceLimits.1.requestLimit"
    );
    let bad = parse_limit_change(1, &json!({"model": "m", "operationType": "MERGE"}));
    assert_eq!(
        bad.err().unwrap().code,
        "InvalidParameter.workspaceLimits.2.operationType"
    );
    assert!(matches!(
        parse_limit_change(0, &json!({"model": "m", "operationType": "DELETE"})).unwrap(),
        LimitChange::Delete(_)
    ));
}
