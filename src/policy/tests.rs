//! Policy tests against the published corpus and a table of broken documents.

use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

/// The published corpus, vendored from the team's `shared/corpus/` (with its sources and
/// licences) so tests run on a clean checkout.
fn corpus(folder: &str) -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/corpus")
        .join(folder);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {} must be readable: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).expect("corpus file");
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} must be valid json: {e}"));
            (name, doc)
        })
        .collect()
}

fn render(problems: &[PolicyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_published_permission_policy_validates() {
    let docs = corpus("ram-policies");
    // 38 documents: a missing or moved corpus must fail here, not pass vacuously.
    assert_eq!(docs.len(), 38);
    for (name, doc) in docs {
        let problems = validate(&doc, PolicyKind::Permission);
        assert!(problems.is_empty(), "{name}:\n{}", render(&problems));
    }
}

#[test]
fn every_published_trust_policy_validates() {
    let docs = corpus("trust-policies");
    assert_eq!(docs.len(), 8);
    for (name, doc) in docs {
        let problems = validate(&doc, PolicyKind::Trust);
        assert!(problems.is_empty(), "{name}:\n{}", render(&problems));
    }
}

#[test]
fn trust_policies_are_not_permission_policies_and_back() {
    // The kinds are told apart: a trust policy lacks `Resource` and holds `Principal`.
    for (name, doc) in corpus("trust-policies") {
        assert!(!validate(&doc, PolicyKind::Permission).is_empty(), "{name}");
    }
    for (name, doc) in corpus("ram-policies") {
        assert!(!validate(&doc, PolicyKind::Trust).is_empty(), "{name}");
    }
}

#[test]
fn corpus_canonical_form_is_stable() {
    for (folder, kind) in [
        ("ram-policies", PolicyKind::Permission),
        ("trust-policies", PolicyKind::Trust),
    ] {
        for (name, doc) in corpus(folder) {
            let canon = canonical(&doc);
            assert_eq!(canonical(&canon), canon, "{name}: idempotent");
            // Rendering and reading back changes nothing the comparison sees.
            let reparsed: Value = serde_json::from_str(&pretty(&doc)).unwrap();
            assert_eq!(canonical(&reparsed), canon, "{name}: pretty round trip");
            assert_eq!(pretty(&reparsed), pretty(&doc), "{name}: pretty is stable");
            // The canonical form is still a valid document of its kind.
            let problems = validate(&canon, kind);
            assert!(problems.is_empty(), "{name}:\n{}", render(&problems));
        }
    }
}

#[test]
fn corpus_risks() {
    let risks: Vec<(String, Option<Risk>)> = corpus("ram-policies")
        .into_iter()
        .map(|(name, doc)| (name, document_risk(&doc)))
        .collect();
    let risk_of = |prefix: &str| {
        risks
            .iter()
            .find(|(name, _)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no corpus file {prefix}"))
            .1
    };
    assert_eq!(risk_of("01-"), Some(Risk::SuperAdmin)); // AliyunBailianFullAccess
    assert_eq!(risk_of("02-"), Some(Risk::ModelStudioManagement)); // AliyunBailianReadOnlyAccess
    assert_eq!(risk_of("03-"), Some(Risk::Data)); // AliyunBailianDataReadOnlyAccess
    assert_eq!(risk_of("05-"), None); // LangStudio role: a service-linked role is not RAM admin
    assert_eq!(risk_of("09-"), None); // AliyunRAMReadOnlyAccess
    assert_eq!(risk_of("11-"), Some(Risk::RamAdmin)); // ram:PassRole
    assert_eq!(risk_of("18-"), Some(Risk::ModelStudioManagement)); // *:Describe* minus billing
    assert_eq!(risk_of("19-"), Some(Risk::SuperAdmin)); // "*" minus billing
    assert_eq!(risk_of("20-"), Some(Risk::Billing)); // bss:PayOrder among ECS actions
    assert_eq!(risk_of("25-"), None); // deny only
    assert_eq!(risk_of("32-"), None); // oss only

    let everything_but_billing = corpus("ram-policies")
        .into_iter()
        .find(|(name, _)| name.starts_with("19-"))
        .unwrap()
        .1;
    assert!(!document_risks(&everything_but_billing).contains(&Risk::Billing));
}

/// One broken document: what it is, and the pointer and message (and hint fragment) expected.
struct Broken {
    what: &'static str,
    kind: PolicyKind,
    doc: Value,
    pointer: &'static str,
    message: &'static str,
    hint: Option<&'static str>,
}

fn permission(statement: Value) -> Value {
    json!({"Version": "1", "Statement": [statement]})
}

fn trust(statement: Value) -> Value {
    json!({"Version": "1", "Statement": [statement]})
}

fn broken_documents() -> Vec<Broken> {
    use PolicyKind::{Permission, Trust};
    let ok_action = "oss:GetObject";
    let oversize_actions: Vec<String> = (0..400).map(|i| format!("oss:Action{i:05}")).collect();
    vec![
        Broken {
            what: "version 2",
            kind: Permission,
            doc: json!({"Version": "2", "Statement": [{"Effect": "Allow", "Action": "*",
                                                       "Resource": "*"}]}),
            pointer: "/Version",
            message: r#"`Version` must be the string "1", found "2""#,
            hint: Some("only policy language version"),
        },
        Broken {
            what: "version as a number",
            kind: Permission,
            doc: json!({"Version": 1, "Statement": [{"Effect": "Allow", "Action": "*",
                                                     "Resource": "*"}]}),
            pointer: "/Version",
            message: r#"`Version` must be the string "1", found 1"#,
            hint: Some("as a string"),
        },
        Broken {
            what: "lowercase top-level key",
            kind: Permission,
            doc: json!({"version": "1", "Statement": [{"Effect": "Allow", "Action": "*",
                                                       "Resource": "*"}]}),
            pointer: "/version",
            message: "unknown element `version`",
            hint: Some("did you mean `Version`? element names are case-sensitive"),
        },
        Broken {
            what: "effect in lowercase",
            kind: Permission,
            doc: permission(json!({"Effect": "allow", "Action": ok_action, "Resource": "*"})),
            pointer: "/Statement/0/Effect",
            message: r#"`Effect` must be `Allow` or `Deny`, found "allow""#,
            hint: Some("write `Allow`; values are case-sensitive"),
        },
        Broken {
            what: "action without a colon",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ["oss:GetObject", "oss"], "Resource": "*"}),
            ),
            pointer: "/Statement/0/Action/1",
            message: "action `oss` must be `service:Action`",
            hint: Some("`oss:*`"),
        },
        Broken {
            what: "action with a bad service",
            kind: Permission,
            doc: permission(json!({"Effect": "Allow", "Action": "o_s_s:Get", "Resource": "*"})),
            pointer: "/Statement/0/Action",
            message: "action `o_s_s:Get` has an invalid service `o_s_s`",
            hint: Some("RAM code"),
        },
        Broken {
            what: "aws arn",
            kind: Permission,
            doc: permission(json!({"Effect": "Allow", "Action": ok_action,
                       "Resource": "arn:aws:s3:::mybucket/*"})),
            pointer: "/Statement/0/Resource",
            message: "resource `arn:aws:s3:::mybucket/*` is not an alibaba cloud arn",
            hint: Some("start with `acs:`"),
        },
        Broken {
            what: "arn with too few parts",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ok_action, "Resource": ["*",
                    "acs:oss:mybucket"]}),
            ),
            pointer: "/Statement/0/Resource/1",
            message: "arn `acs:oss:mybucket` must have five `:`-separated parts",
            hint: Some("keep the `:`"),
        },
        Broken {
            what: "unknown operator",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ok_action, "Resource": "*",
                "Condition": {"StringEqual": {"acs:SourceVpc": "vpc-1"}}}),
            ),
            pointer: "/Statement/0/Condition/StringEqual",
            message: "unknown condition operator `StringEqual`",
            hint: Some("did you mean `StringEquals`?"),
        },
        Broken {
            what: "condition key with a slash, bad value",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ok_action, "Resource": "*",
                "Condition": {"StringEquals": {"oss:BucketTag/Product": {"x": 1}}}}),
            ),
            pointer: "/Statement/0/Condition/StringEquals/oss:BucketTag~1Product",
            message: "condition value for `oss:BucketTag/Product` must be a string, number, \
                boolean or a list of them, found an object",
            hint: None,
        },
        Broken {
            what: "condition not an object",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ok_action, "Resource": "*", "Condition": []}),
            ),
            pointer: "/Statement/0/Condition",
            message: "`Condition` must be an object mapping operators to condition keys, found a \
                list",
            hint: Some("StringEquals"),
        },
        Broken {
            what: "unknown statement key",
            kind: Permission,
            doc: permission(json!({"Effect": "Allow", "Actions": ok_action, "Resource": "*"})),
            pointer: "/Statement/0/Actions",
            message: "unknown element `Actions`",
            hint: Some("did you mean `Action`?"),
        },
        Broken {
            what: "unknown statement key, no near miss",
            kind: Permission,
            doc: permission(
                json!({"Sid": "x", "Effect": "Allow", "Action": ok_action, "Resource": "*"}),
            ),
            pointer: "/Statement/0/Sid",
            message: "unknown element `Sid`",
            hint: Some("remove it"),
        },
        Broken {
            what: "missing resource",
            kind: Permission,
            doc: permission(json!({"Effect": "Allow", "Action": ok_action})),
            pointer: "/Statement/0",
            message: "missing `Resource`",
            hint: Some(r#""Resource": "*""#),
        },
        Broken {
            what: "missing effect",
            kind: Permission,
            doc: permission(json!({"Action": ok_action, "Resource": "*"})),
            pointer: "/Statement/0",
            message: "missing `Effect`",
            hint: Some("Allow"),
        },
        Broken {
            what: "empty action list",
            kind: Permission,
            doc: permission(json!({"Effect": "Allow", "Action": [], "Resource": "*"})),
            pointer: "/Statement/0/Action",
            message: "`Action` must not be an empty list",
            hint: None,
        },
        Broken {
            what: "action and notaction",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": "*", "NotAction": "ram:*", "Resource": "*"}),
            ),
            pointer: "/Statement/0",
            message: "statement has both `Action` and `NotAction`",
            hint: Some("keep one"),
        },
        Broken {
            what: "empty statement list",
            kind: Permission,
            doc: json!({"Version": "1", "Statement": []}),
            pointer: "/Statement",
            message: "`Statement` must not be empty",
            hint: Some("at least one statement"),
        },
        Broken {
            what: "statement as an object",
            kind: Permission,
            doc: json!({"Version": "1", "Statement": {"Effect": "Allow", "Action": "*",
                                                      "Resource": "*"}}),
            pointer: "/Statement",
            message: "`Statement` must be a list of statements, found an object",
            hint: Some("wrap the statement in a list"),
        },
        Broken {
            what: "non-object statement",
            kind: Permission,
            doc: json!({"Version": "1", "Statement": ["oss:*"]}),
            pointer: "/Statement/0",
            message: "statement must be an object, found a string",
            hint: None,
        },
        Broken {
            what: "document not an object",
            kind: Permission,
            doc: json!([{"Effect": "Allow"}]),
            pointer: "",
            message: "policy document must be a json object, found a list",
            hint: Some("Version"),
        },
        Broken {
            what: "oversize document",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": oversize_actions, "Resource": "*"}),
            ),
            pointer: "",
            message: "policy document is 7274 characters long as compact json; ram allows at most \
                6144",
            hint: Some("split the statements"),
        },
        Broken {
            what: "principal in a permission policy",
            kind: Permission,
            doc: permission(
                json!({"Effect": "Allow", "Action": ok_action, "Resource": "*",
                "Principal": {"RAM": "acs:ram::1:root"}}),
            ),
            pointer: "/Statement/0/Principal",
            message: "`Principal` is only allowed in trust policies",
            hint: Some("remove it"),
        },
        Broken {
            what: "trust without principal",
            kind: Trust,
            doc: trust(json!({"Effect": "Allow", "Action": "sts:AssumeRole"})),
            pointer: "/Statement/0",
            message: "missing `Principal`",
            hint: Some("`Service` or `Federated`"),
        },
        Broken {
            what: "trust with a misspelt principal type",
            kind: Trust,
            doc: trust(json!({"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Ram": ["acs:ram::1:root"]}})),
            pointer: "/Statement/0/Principal/Ram",
            message: "unknown element `Ram`",
            hint: Some("did you mean `RAM`? element names are case-sensitive"),
        },
        Broken {
            what: "trust with a non-sts action",
            kind: Trust,
            doc: json!({"Version": "1", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"Service": "ecs.aliyuncs.com"}},
                {"Effect": "Allow", "Action": "oss:GetObject",
                 "Principal": {"Service": "ecs.aliyuncs.com"}}]}),
            pointer: "/Statement/1/Action",
            message: "trust policy action `oss:GetObject` is not an `sts` action",
            hint: Some("permission policy attached to the role"),
        },
        Broken {
            what: "trust that never allows assume role",
            kind: Trust,
            doc: trust(json!({"Effect": "Allow", "Action": "sts:SetSourceIdentity",
                       "Principal": {"Service": "ecs.aliyuncs.com"}})),
            pointer: "/Statement",
            message: "trust policy has no `Allow` statement for `sts:AssumeRole`",
            hint: Some("nobody can assume the role"),
        },
        Broken {
            what: "trust principal with an aws arn",
            kind: Trust,
            doc: trust(json!({"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"RAM": ["arn:aws:iam::1:root"]}})),
            pointer: "/Statement/0/Principal/RAM/0",
            message: "resource `arn:aws:iam::1:root` is not an alibaba cloud arn",
            hint: Some("acs:"),
        },
    ]
}

#[test]
fn broken_documents_report_the_expected_problem() {
    for case in broken_documents() {
        let problems = validate(&case.doc, case.kind);
        let found = problems
            .iter()
            .find(|p| p.pointer == case.pointer && p.message == case.message);
        let Some(problem) = found else {
            panic!(
                "{}: expected `{}` at `{}`, got:\n{}",
                case.what,
                case.message,
                case.pointer,
                render(&problems)
            );
        };
        match (case.hint, &problem.hint) {
            (Some(want), Some(got)) => {
                assert!(
                    got.contains(want),
                    "{}: hint `{got}` lacks `{want}`",
                    case.what
                )
            }
            (None, _) => {}
            (Some(want), None) => panic!("{}: expected a hint with `{want}`", case.what),
        }
        // Each broken document has exactly the one problem it was built with.
        assert_eq!(problems.len(), 1, "{}:\n{}", case.what, render(&problems));
    }
}

#[test]
fn messages_are_lowercase() {
    for case in broken_documents() {
        for problem in validate(&case.doc, case.kind) {
            assert!(
                problem.message.starts_with(|c: char| !c.is_uppercase()),
                "{}: {}",
                case.what,
                problem.message
            );
        }
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = json!({
        "Version": "2",
        "Extra": true,
        "Statement": [
            {"Effect": "allow", "Action": ["oss", "ecs:Describe*"], "Resource": "arn:aws:s3:::b"},
            "not a statement",
            {"Effect": "Deny", "Action": "*",
             "Condition": {"StringEqual": {"k": "v"}, "Bool": {"acs:MFAPresent": null}}}
        ]
    });
    let problems = validate(&doc, PolicyKind::Permission);
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/Extra",
            "/Version",
            "/Statement/0/Effect",
            "/Statement/0/Action/0",
            "/Statement/0/Resource",
            "/Statement/1",
            "/Statement/2",
            "/Statement/2/Condition/StringEqual",
            "/Statement/2/Condition/Bool/acs:MFAPresent",
        ],
        "\n{}",
        render(&problems)
    );
    assert_eq!(problems[6].message, "missing `Resource`");
}

#[test]
fn near_miss_keys_are_not_also_reported_missing() {
    let doc = json!({"version": "1", "Statment": [], "Statement": [
        {"effect": "Allow", "Actions": "*", "Resources": "*"}]});
    let problems = validate(&doc, PolicyKind::Permission);
    assert!(
        problems.iter().all(|p| !p.message.starts_with("missing")),
        "{}",
        render(&problems)
    );
    assert_eq!(problems.len(), 5, "{}", render(&problems));
}

#[test]
fn display_shows_pointer_message_and_hint() {
    let problems = validate(
        &permission(json!({"Effect": "allow", "Action": "*", "Resource": "*"})),
        PolicyKind::Permission,
    );
    assert_eq!(
        render(&problems),
        "/Statement/0/Effect: `Effect` must be `Allow` or `Deny`, found \"allow\"\n\
            hint: write `Allow`; values are case-sensitive"
    );
}

#[test]
fn length_limit_is_inclusive() {
    // Pad one action until the compact document is exactly at the limit, then one over.
    let base = permission(json!({"Effect": "Allow", "Action": "oss:", "Resource": "*"}));
    let base_len = serde_json::to_string(&base).unwrap().len();
    let pad = "A".repeat(MAX_DOCUMENT_CHARS - base_len);
    let at_limit =
        permission(json!({"Effect": "Allow", "Action": format!("oss:{pad}"), "Resource": "*"}));
    assert_eq!(
        serde_json::to_string(&at_limit).unwrap().len(),
        MAX_DOCUMENT_CHARS
    );
    assert!(validate(&at_limit, PolicyKind::Permission).is_empty());
    let over =
        permission(json!({"Effect": "Allow", "Action": format!("oss:{pad}A"), "Resource": "*"}));
    assert_eq!(validate(&over, PolicyKind::Permission).len(), 1);
}

/// A small deterministic generator of arbitrary JSON, biased towards policy-shaped values, to
/// check that no input makes any function panic.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "Version",
            "Statement",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "Condition",
            "RAM",
            "Service",
            "Federated",
            "StringEquals",
            "Bool",
            "ForAnyValue:StringLike",
            "IfExists",
            "",
            "~/",
            "acs:SourceIp",
        ];
        const STRINGS: &[&str] = &[
            "1",
            "Allow",
            "Deny",
            "*",
            "*:*",
            "oss:Get*",
            "sts:AssumeRole",
            "ram:*",
            "bss:*",
            "sfm:*",
            "acs:oss:*:*:b/*",
            "acs:",
            "acs:::",
            "arn:aws:x",
            ":",
            "",
            "é∆😀",
            "?*?",
        ];
        match self.next() % if depth == 0 { 4 } else { 7 } {
            0 => Value::Null,
            1 => Value::Bool(self.next() % 2 == 0),
            2 => json!(self.next() % 1000),
            3 => Value::String(self.pick(STRINGS).to_string()),
            4 | 5 => {
                let n = self.next() % 4;
                Value::Object(
                    (0..n)
                        .map(|_| (self.pick(KEYS).to_string(), self.value(depth - 1)))
                        .collect(),
                )
            }
            _ => {
                let n = self.next() % 4;
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
        }
    }
}

#[test]
fn no_input_panics() {
    let mut generator = Gen(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let doc = generator.value(5);
        for kind in [PolicyKind::Permission, PolicyKind::Trust] {
            for problem in validate(&doc, kind) {
                assert!(problem.pointer.is_empty() || problem.pointer.starts_with('/'));
            }
        }
        let canon = canonical(&doc);
        assert_eq!(canonical(&canon), canon, "{doc}");
        let _ = pretty(&doc);
        let _ = document_risks(&doc);
    }
}
