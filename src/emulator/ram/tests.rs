//! Tests of the RAM handlers: parameter checks and system policies.

use super::*;
use crate::emulator::wire::Params;

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn every_action_routes_to_post_root() {
    assert!(ROUTES.iter().all(|r| r.method == "POST" && r.path == "/"));
    assert_eq!(ROUTES.len(), ACTIONS.len());
    assert!(ROUTES.iter().any(|r| r.action == "ListEntitiesForPolicy"));
}

#[test]
fn names_and_documents_are_checked_with_rams_codes() {
    assert_eq!(
        check_name("UserName", "bad name", &RAM_USER_NAME)
            .unwrap_err()
            .code,
        "InvalidParameter.UserName.InvalidChars"
    );
    assert_eq!(
        check_name("RoleName", &"r".repeat(65), &RAM_ROLE_NAME)
            .unwrap_err()
            .code,
        "InvalidParameter.RoleName.Length"
    );
    let bad = params(&[("PolicyDocument", "{not json")]);
    assert_eq!(
        policy_document(&bad, "PolicyDocument", PolicyKind::Permission)
            .unwrap_err()
            .code,
        "MalformedPolicyDocument"
    );
    let wrong = params(&[(
        "PolicyDocument",
        r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
    )]);
    assert_eq!(
        policy_document(&wrong, "PolicyDocument", PolicyKind::Permission)
            .unwrap_err()
            .code,
        "MalformedPolicyDocument"
    );
    let good = params(&[(
        "PolicyDocument",
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sfm:*","Resource":"*"}]}"#,
    )]);
    assert!(policy_document(&good, "PolicyDocument", PolicyKind::Permission).is_ok());
}

#[test]
fn tags_parse_and_filter() {
    let p = params(&[(
        "Tag",
        r#"[{"Key":"env","Value":"prod"},{"Key":"team","Value":"ml"}]"#,
    )]);
    let t = parse_tags(&p, "Tag").unwrap();
    assert_eq!(t.get("env").map(String::as_str), Some("prod"));
    assert!(tags_match(&t, &[("env".into(), Some("prod".into()))]));
    assert!(tags_match(&t, &[("team".into(), None)]));
    assert!(!tags_match(&t, &[("env".into(), Some("dev".into()))]));
    let bad = params(&[("Tag", r#"[{"Value":"x"}]"#)]);
    assert!(parse_tags(&bad, "Tag").is_err());
}

#[test]
fn system_policies_have_read_only_shapes() {
    let doc = system_document("AliyunBailianReadOnlyAccess");
    assert_eq!(doc["Statement"][0]["Action"][0], "bailian:Get*");
    assert_eq!(
        system_document("AliyunRAMFullAccess")["Statement"][0]["Action"],
        "ram:*"
    );
    assert!(system_versions("NotAPolicy").is_err());
}
