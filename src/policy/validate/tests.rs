//! Unit tests of policy document validation.

use serde_json::json;

use super::*;

#[test]
fn suggestions_prefer_case_then_distance() {
    assert_eq!(suggest("version", TOP_LEVEL), Some("Version"));
    assert_eq!(suggest("Statment", TOP_LEVEL), Some("Statement"));
    assert_eq!(suggest("Actions", STATEMENT_ELEMENTS), Some("Action"));
    assert_eq!(suggest("Resources", STATEMENT_ELEMENTS), Some("Resource"));
    assert_eq!(suggest("Sid", STATEMENT_ELEMENTS), None);
    assert_eq!(suggest("Ram", PRINCIPAL_TYPES), Some("RAM"));
}

#[test]
fn operators_accept_qualifiers_and_suggest_fixes() {
    for ok in [
        "StringEquals",
        "StringEqualsIfExists",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEqualsIgnoreCase",
        "NumericGreaterThanEquals",
        "DateLessThan",
        "Bool",
        "NotIpAddress",
    ] {
        assert_eq!(check_operator(ok), Ok(()), "{ok}");
    }
    assert_eq!(
        check_operator("StringEqual"),
        Err(Some("StringEquals".to_string()))
    );
    assert_eq!(
        check_operator("stringequals"),
        Err(Some("StringEquals".to_string()))
    );
    assert_eq!(
        check_operator("ForAnyValue:StringEqual"),
        Err(Some("ForAnyValue:StringEquals".to_string()))
    );
    assert_eq!(
        check_operator("ForAnyValues:StringEquals"),
        Err(Some("ForAnyValue:StringEquals".to_string()))
    );
    assert_eq!(
        check_operator("StringLikeIfExits"),
        Err(Some("StringLikeIfExists".to_string()))
    );
    assert_eq!(check_operator("Null"), Err(None));
}

#[test]
fn arns_are_checked_for_structure_only() {
    for ok in [
        "acs:ram::1894189769722283:role/ramtestappreadonly",
        "acs:oss:*:****************:test-hz-john-001/*",
        "acs:oss:*:177530505652XXXX:mybucket/file*",
        "acs:vpc:cn-hangzhou:1234567:*/*",
        "acs:kms:*:*:key/acs:rds:x",
        "acs:ram::18***:root",
    ] {
        assert_eq!(check_arn(ok), Ok(()), "{ok}");
    }
    for bad in [
        "arn:aws:s3:::bucket",
        "acs:oss:*:bucket",
        "acs::*:*:bucket",
        "acs:oss:*:*:",
        "acs:oss:cn beijing:*:b",
        "acs:oss:*:12-34:b",
        "oss:bucket",
    ] {
        assert!(check_arn(bad).is_err(), "{bad}");
    }
}

#[test]
fn pointers_escape_slashes_and_tildes() {
    assert_eq!(
        child(
            "/Statement/0/Condition/StringEquals",
            "oss:BucketTag/Product"
        ),
        "/Statement/0/Condition/StringEquals/oss:BucketTag~1Product"
    );
    assert_eq!(child("", "a~b"), "/a~0b");
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(500);
    let problems = validate(
        &json!({"Version": "1", "Statement": [{"Effect": long, "Action": "*", "Resource": "*"}]}),
        PolicyKind::Permission,
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.len() < 150, "{}", problems[0].message);
}
