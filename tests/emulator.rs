//! The emulator end to end: the aliyun wire client (signing, encodings, error parsing) against an
//! emulator on 127.0.0.1:0, for every product; errors; faults; the CLI's start and stop.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use msctl::acs::encoding::{flatten, shrink};
use msctl::acs::signing::encode_path_segment;
use msctl::backend::aliyun::{
    Body, CallError, Client, ClientConfig, Credentials, Endpoint, Method, Product, RequestSpec,
    RetryPolicy,
};
use msctl::backend::local::Store;
use msctl::emulator::{self, EmulatorConfig, FaultConfig, RunningEmulator};
use msctl::http::Connection;
use serde_json::{Value, json};

mod common;

const AK: &str = "testAK";
const SECRET: &str = "testSecret-0123456789";

fn start(dir: &Path, faults: FaultConfig) -> RunningEmulator {
    let config = EmulatorConfig {
        faults,
        ..EmulatorConfig::new(dir.join("state.db"), Credentials::new(AK, SECRET))
    };
    emulator::spawn(config).expect("emulator starts")
}

fn client_with(emu: &RunningEmulator, ak: &str, secret: &str) -> Client {
    Client::new(
        Credentials::new(ak, secret),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&emu.url()).unwrap()),
            // One attempt: these tests look at each answer, including injected failures.
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientConfig::default()
        },
    )
}

fn client(emu: &RunningEmulator) -> Client {
    client_with(emu, AK, SECRET)
}

fn ms(action: &str, method: Method, path: &str) -> RequestSpec {
    RequestSpec::roa(Product::ModelStudio, action, method, path)
}

fn ram(action: &str, params: &[(&str, &str)]) -> RequestSpec {
    let mut spec = RequestSpec::rpc(Product::Ram, action);
    for (k, v) in params {
        spec = spec.query(*k, *v);
    }
    spec
}

fn pai(action: &str, method: Method, path: &str) -> RequestSpec {
    RequestSpec::roa(Product::AiWorkspace, action, method, path)
}

fn ok(c: &Client, spec: RequestSpec) -> Value {
    let action = spec.action.clone();
    c.call(&spec)
        .unwrap_or_else(|e| panic!("{action} failed: {e}"))
}

/// The status and code of a call expected to fail.
fn fail(c: &Client, spec: RequestSpec) -> (u16, String) {
    match c.call(&spec) {
        Err(CallError::Api(e)) => (e.status, e.code),
        other => panic!(
            "{} should fail with an API error, got {other:?}",
            spec.action
        ),
    }
}

fn form(value: Value) -> Body {
    Body::Form(flatten(&value))
}

#[test]
fn model_studio_workspaces_keys_permissions_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), FaultConfig::default());
    let c = client(&emu);

    let mut ids = Vec::new();
    for name in ["team-a", "team-b", "team-c"] {
        let r = ok(
            &c,
            ms("CreateWorkspace", Method::Post, "/modelstudio/workspaces")
                .query("workspaceName", name),
        );
        assert_eq!(r["success"], true);
        assert_eq!(r["workspace"]["region"], "cn-beijing");
        let id = r["workspace"]["workspaceId"].as_str().unwrap().to_string();
        assert!(id.starts_with("ws-") && id.len() == 19, "{id}");
        ids.push(id);
    }
    assert_eq!(
        fail(
            &c,
            ms("CreateWorkspace", Method::Post, "/modelstudio/workspaces")
                .query("workspaceName", "team-a")
        ),
        (409, "Workspace.AlreadyExists".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ms("CreateWorkspace", Method::Post, "/modelstudio/workspaces")
        ),
        (400, "MissingParameter.workspaceName".to_string())
    );

    // Every page, two at a time: the default workspace plus the three.
    let (mut seen, mut token, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut spec =
            ms("ListWorkspaces", Method::Get, "/modelstudio/workspaces").query("maxResults", "2");
        if let Some(t) = &token {
            spec = spec.query("nextToken", t.as_str());
        }
        let r = ok(&c, spec);
        pages += 1;
        assert_eq!(r["totalCount"], 4);
        for w in r["workspaces"].as_array().unwrap() {
            seen.push(w["workspaceName"].as_str().unwrap().to_string());
        }
        match r["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, ["default-cn-beijing", "team-a", "team-b", "team-c"]);
    assert_eq!(
        fail(
            &c,
            ms("ListWorkspaces", Method::Get, "/modelstudio/workspaces").query("maxResults", "0")
        ),
        (400, "InvalidParameter.maxResults".to_string())
    );

    let ws = ids[0].as_str();
    // Model permissions: a patch per model; all-false removes the grant.
    let grant = |models: Value| {
        ms(
            "UpdateModelPermissions",
            Method::Post,
            "/modelstudio/models/permissions",
        )
        .body(form(
            json!({"workspaceId": ws, "accessAllEntities": "KEEP", "models": models}),
        ))
    };
    ok(
        &c,
        grant(json!([
            {"model": "qwen-plus", "inference": true, "fineTune": true, "deploy": false},
            {"model": "qwen-max", "inference": true},
        ])),
    );
    ok(
        &c,
        grant(json!([{"model": "qwen-plus", "fineTune": false}])),
    );
    let perms = |c: &Client| {
        ok(
            c,
            ms(
                "ListModelPermissions",
                Method::Get,
                "/modelstudio/models/permissions",
            )
            .query("workspaceId", ws)
            .query("authorizationScope", "AUTHORIZED"),
        )
    };
    let r = perms(&c);
    assert_eq!(r["errorMessage"], "success");
    assert_eq!(
        r["list"],
        json!([
            {"model": "qwen-max", "name": "Qwen-Max", "permissions": {"inference": true,
                "fineTune": false, "deploy": false}},
            {"model": "qwen-plus", "name": "Qwen-Plus", "permissions": {"inference": true,
                "fineTune": false, "deploy": false}},
        ])
    );
    ok(
        &c,
        grant(json!([{"model": "qwen-max", "inference": false}])),
    );
    assert_eq!(perms(&c)["totalCount"], 1);
    let default_ws = ok(
        &c,
        ms("ListWorkspaces", Method::Get, "/modelstudio/workspaces")
            .query("workspaceName", "default"),
    )["workspaces"][0]["workspaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = ms(
        "UpdateModelPermissions",
        Method::Post,
        "/modelstudio/models/permissions",
    )
    .body(form(
        json!({"workspaceId": default_ws, "models": [{"model": "qwen-plus", "inference": true}]}),
    ));
    assert_eq!(fail(&c, refused).0, 400);

    // API keys: the value once, masked afterwards; auth replaced whole.
    let created = ok(
        &c,
        ms("CreateApiKey", Method::Post, "/modelstudio/apikeys")
            .query("workspaceId", ws)
            .query("description", "svc")
            .body(form(json!({"auth": {
                "type": "Custom",
                "accessIps": ["10.0.0.0/8"],
                "modelAccessScope": {"allowAllModels": false, "accessibleModels": ["qwen-plus"]},
            }}))),
    );
    let key = created["apiKey"]["apiKeyId"].as_i64().unwrap();
    let value = created["apiKey"]["apiKeyValue"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(value.starts_with("sk-ws-") && !value.contains('*'));
    let key_path = format!("/modelstudio/apikeys/{key}");
    let got = ok(&c, ms("GetApiKey", Method::Get, &key_path));
    let shown = got["apiKey"]["apiKeyValue"].as_str().unwrap();
    assert!(shown.contains("*****") && shown != value);
    assert_eq!(got["apiKey"]["auth"]["accessIps"], json!(["10.0.0.0/8"]));
    assert_eq!(got["apiKey"]["workspaceName"], "team-a");
    let listed = ok(
        &c,
        ms("ListApiKeys", Method::Get, "/modelstudio/apikeys").query("workspaceId", ws),
    );
    assert_eq!(listed["totalCount"], 1);
    assert!(!listed.to_string().contains(&value));
    // A model the workspace does not authorize cannot be in a key's scope.
    let bad_scope = ms("UpdateApiKey", Method::Put, &key_path).body(form(json!({"auth": {
        "type": "Custom",
        "modelAccessScope": {"allowAllModels": false, "accessibleModels": ["qwen-max"]},
    }})));
    assert_eq!(fail(&c, bad_scope).0, 400);
    ok(
        &c,
        ms("UpdateApiKey", Method::Put, &key_path)
            .query("description", "svc v2")
            .body(form(json!({"auth": {"type": "All"}}))),
    );
    let got = ok(&c, ms("GetApiKey", Method::Get, &key_path));
    assert_eq!(got["apiKey"]["description"], "svc v2");
    assert_eq!(got["apiKey"]["auth"]["type"], "All");
    ok(
        &c,
        ms("DisableApiKey", Method::Put, &format!("{key_path}/disable")),
    );
    assert_eq!(
        ok(&c, ms("GetApiKey", Method::Get, &key_path))["apiKey"]["disabled"],
        1
    );
    ok(
        &c,
        ms("EnableApiKey", Method::Put, &format!("{key_path}/enable")),
    );
    let reset = ok(
        &c,
        ms("ResetApiKey", Method::Put, &format!("{key_path}/reset")),
    );
    assert_ne!(reset["apiKey"]["apiKeyValue"].as_str().unwrap(), value);

    // A workspace with keys is not deleted; the answer says why.
    let ws_path = format!("/modelstudio/workspaces/{}", encode_path_segment(ws));
    let refused = ok(&c, ms("DeleteWorkspace", Method::Delete, &ws_path));
    assert_eq!(refused["isDeleted"], false);
    assert_eq!(refused["failReasons"][0]["resourceType"], "API Key");

    // Limits: OVERLAY sets, DELETE removes, others stay.
    let limits = |items: Value| {
        ms(
            "UpdateModelLimits",
            Method::Post,
            "/modelstudio/models/limits",
        )
        .body(Body::Form(vec![
            ("workspaceId".into(), ws.to_string()),
            ("workspaceLimits".into(), shrink(&items)),
        ]))
    };
    ok(
        &c,
        limits(
            json!([{"model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 600,
                        "requestLimitPeriod": 60, "usageLimit": 100000, "usageLimitPeriod": 60}]),
        ),
    );
    let listed = ok(
        &c,
        ms("ListModelLimits", Method::Get, "/modelstudio/models/limits").query("workspaceId", ws),
    );
    assert_eq!(
        listed["limits"][0]["workspaceLimit"],
        json!({"requestLimit": 600, "requestLimitPeriod": 60, "usageLimit": 100000,
               "usageLimitField": "token", "usageLimitPeriod": 60})
    );
    assert!(
        listed["limits"][0]["modelLimit"]["requestLimit"]
            .as_i64()
            .unwrap()
            > 600
    );
    assert_eq!(
        fail(
            &c,
            limits(
                json!([{"model": "qwen-max", "operationType": "OVERLAY", "requestLimit": 1,
                        "requestLimitPeriod": 60}])
            )
        ),
        (400, "Model.NotAuthorized".to_string())
    );
    ok(
        &c,
        limits(json!([{"model": "qwen-plus", "operationType": "DELETE"}])),
    );
    let listed = ok(
        &c,
        ms("ListModelLimits", Method::Get, "/modelstudio/models/limits").query("workspaceId", ws),
    );
    assert!(listed["limits"][0].get("workspaceLimit").is_none());

    ok(&c, ms("DeleteApiKey", Method::Delete, &key_path));
    assert_eq!(
        fail(&c, ms("GetApiKey", Method::Get, &key_path)),
        (404, "ApiKey.NotFound".to_string())
    );
    let deleted = ok(&c, ms("DeleteWorkspace", Method::Delete, &ws_path));
    assert_eq!(deleted["isDeleted"], true);
    assert_eq!(
        fail(&c, ms("DeleteWorkspace", Method::Delete, &ws_path)),
        (404, "Workspace.NotFound".to_string())
    );

    // The local backend reads the same file.
    drop(c);
    emu.shutdown();
    let store = Store::open(dir.path().join("state.db")).unwrap();
    let names: BTreeSet<String> = store
        .list_workspaces(Some("cn-beijing"))
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["default-cn-beijing", "team-b", "team-c"].map(String::from))
    );
}

#[test]
fn ram_users_groups_roles_policies_and_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), FaultConfig::default());
    let c = client(&emu);

    for name in ["u1", "u2", "u3", "u4", "u5"] {
        let r = ok(
            &c,
            ram("CreateUser", &[("UserName", name), ("DisplayName", "D")]),
        );
        assert_eq!(r["User"]["UserName"], name);
        assert!(r["User"]["UserId"].as_str().unwrap().len() >= 16);
    }
    assert_eq!(
        fail(&c, ram("CreateUser", &[("UserName", "u1")])),
        (409, "EntityAlreadyExists.User".to_string())
    );
    assert_eq!(
        fail(&c, ram("GetUser", &[("UserName", "ghost")])),
        (404, "EntityNotExist.User".to_string())
    );
    assert_eq!(
        fail(&c, ram("CreateUser", &[])),
        (400, "MissingParameter.UserName".to_string())
    );
    assert_eq!(
        fail(&c, ram("CreateUser", &[("UserName", "no spaces")])),
        (400, "InvalidParameter.UserName.InvalidChars".to_string())
    );

    let (mut names, mut marker, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut params = vec![("MaxItems", "2")];
        if let Some(m) = &marker {
            params.push(("Marker", m.as_str()));
        }
        let r = ok(&c, ram("ListUsers", &params));
        pages += 1;
        for u in r["Users"]["User"].as_array().unwrap() {
            names.push(u["UserName"].as_str().unwrap().to_string());
        }
        if r["IsTruncated"] == true {
            marker = Some(r["Marker"].as_str().unwrap().to_string());
        } else {
            assert!(r.get("Marker").is_none());
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["u1", "u2", "u3", "u4", "u5"]);

    let r = ok(
        &c,
        ram("UpdateUser", &[("UserName", "u1"), ("NewComments", "lead")]),
    );
    assert_eq!(r["User"]["Comments"], "lead");
    assert_eq!(r["User"]["DisplayName"], "D");

    ok(&c, ram("CreateGroup", &[("GroupName", "devs")]));
    ok(
        &c,
        ram(
            "AddUserToGroup",
            &[("GroupName", "devs"), ("UserName", "u1")],
        ),
    );
    assert_eq!(
        fail(
            &c,
            ram(
                "AddUserToGroup",
                &[("GroupName", "devs"), ("UserName", "u1")]
            )
        ),
        (409, "EntityAlreadyExists.User.Group".to_string())
    );
    assert_eq!(
        fail(&c, ram("DeleteUser", &[("UserName", "u1")])),
        (409, "DeleteConflict.User.Group".to_string())
    );
    assert_eq!(
        fail(&c, ram("DeleteGroup", &[("GroupName", "devs")])),
        (409, "DeleteConflict.Group.User".to_string())
    );
    let r = ok(&c, ram("ListUsersForGroup", &[("GroupName", "devs")]));
    assert_eq!(r["Users"]["User"][0]["UserName"], "u1");

    let trust = concat!(
        r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","#,
        r#""Principal":{"RAM":["acs:ram::1378030599924858:root"]}}],"Version":"1"}"#
    );
    let r = ok(
        &c,
        ram(
            "CreateRole",
            &[
                ("RoleName", "Deployer"),
                ("AssumeRolePolicyDocument", trust),
                ("Tag", r#"[{"Key":"env","Value":"prod"}]"#),
            ],
        ),
    );
    assert_eq!(r["Role"]["Arn"], "acs:ram::1378030599924858:role/Deployer");
    assert_eq!(
        fail(
            &c,
            ram(
                "CreateRole",
                &[("RoleName", "Bad"), ("AssumeRolePolicyDocument", "{nope")]
            )
        ),
        (400, "MalformedPolicyDocument".to_string())
    );
    let roles = ok(&c, ram("ListRoles", &[]));
    let role = &roles["Roles"]["Role"][0];
    assert!(role.get("AssumeRolePolicyDocument").is_none());
    assert_eq!(
        role["Tags"]["Tag"],
        json!([{"TagKey": "env", "TagValue": "prod"}])
    );

    // Versions: at most five; rotation drops the oldest non-default one.
    let doc = |n: u32| {
        let statement = format!(r#"{{"Effect":"Allow","Action":"sfm:A{n}","Resource":"*"}}"#);
        format!(r#"{{"Version":"1","Statement":[{statement}]}}"#)
    };
    ok(
        &c,
        ram(
            "CreatePolicy",
            &[("PolicyName", "p1"), ("PolicyDocument", &doc(1))],
        ),
    );
    for n in 2..=5 {
        ok(
            &c,
            ram(
                "CreatePolicyVersion",
                &[("PolicyName", "p1"), ("PolicyDocument", &doc(n))],
            ),
        );
    }
    assert_eq!(
        fail(
            &c,
            ram(
                "CreatePolicyVersion",
                &[("PolicyName", "p1"), ("PolicyDocument", &doc(6))]
            )
        ),
        (409, "LimitExceeded.Policy.Version".to_string())
    );
    let r = ok(
        &c,
        ram(
            "CreatePolicyVersion",
            &[
                ("PolicyName", "p1"),
                ("PolicyDocument", &doc(6)),
                ("SetAsDefault", "true"),
                (
                    "RotateStrategy",
                    "DeleteOldestNonDefaultVersionWhenLimitExceeded",
                ),
            ],
        ),
    );
    assert_eq!(r["PolicyVersion"]["VersionId"], "v6");
    let versions = ok(
        &c,
        ram(
            "ListPolicyVersions",
            &[("PolicyName", "p1"), ("PolicyType", "Custom")],
        ),
    );
    let ids: Vec<&str> = versions["PolicyVersions"]["PolicyVersion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionId"].as_str().unwrap())
        .collect();
    // v1 was the default when v6 arrived, so v2 (the oldest non-default) went.
    assert_eq!(ids, ["v1", "v3", "v4", "v5", "v6"]);
    assert_eq!(
        fail(
            &c,
            ram(
                "DeletePolicyVersion",
                &[("PolicyName", "p1"), ("VersionId", "v6")]
            )
        ),
        (409, "DeleteConflict.Policy.Version.Default".to_string())
    );
    let got = ok(
        &c,
        ram(
            "GetPolicy",
            &[("PolicyName", "p1"), ("PolicyType", "Custom")],
        ),
    );
    assert_eq!(got["DefaultPolicyVersion"]["VersionId"], "v6");
    assert_eq!(
        serde_json::from_str::<Value>(
            got["DefaultPolicyVersion"]["PolicyDocument"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        serde_json::from_str::<Value>(&doc(6)).unwrap()
    );

    // Attachments and reverse lookups.
    let attach = |action: &str, kind: &str, name: &str, who: (&str, &str)| {
        ram(action, &[("PolicyType", kind), ("PolicyName", name), who])
    };
    ok(
        &c,
        attach("AttachPolicyToUser", "Custom", "p1", ("UserName", "u2")),
    );
    ok(
        &c,
        attach(
            "AttachPolicyToGroup",
            "System",
            "AliyunBailianReadOnlyAccess",
            ("GroupName", "devs"),
        ),
    );
    ok(
        &c,
        attach(
            "AttachPolicyToRole",
            "Custom",
            "p1",
            ("RoleName", "Deployer"),
        ),
    );
    assert_eq!(
        fail(
            &c,
            attach("AttachPolicyToUser", "Custom", "p1", ("UserName", "u2"))
        ),
        (409, "EntityAlreadyExists.User.Policy".to_string())
    );
    assert_eq!(
        fail(
            &c,
            attach("AttachPolicyToUser", "Custom", "nope", ("UserName", "u2"))
        ),
        (404, "EntityNotExist.Policy".to_string())
    );
    assert_eq!(
        fail(
            &c,
            attach("AttachPolicyToUser", "Sometimes", "p1", ("UserName", "u2"))
        ),
        (400, "InvalidParameter.PolicyType".to_string())
    );
    let r = ok(&c, ram("ListPoliciesForUser", &[("UserName", "u2")]));
    assert_eq!(r["Policies"]["Policy"][0]["PolicyName"], "p1");
    assert_eq!(r["Policies"]["Policy"][0]["DefaultVersion"], "v6");
    let r = ok(
        &c,
        ram(
            "ListEntitiesForPolicy",
            &[("PolicyName", "p1"), ("PolicyType", "Custom")],
        ),
    );
    assert_eq!(r["Users"]["User"][0]["UserName"], "u2");
    assert_eq!(r["Roles"]["Role"][0]["RoleName"], "Deployer");
    assert_eq!(r["Groups"]["Group"], json!([]));
    let r = ok(
        &c,
        ram(
            "ListPolicies",
            &[("PolicyType", "Custom"), ("MaxItems", "10")],
        ),
    );
    assert_eq!(r["Policies"]["Policy"][0]["AttachmentCount"], 2);
    assert_eq!(
        fail(&c, ram("DeleteRole", &[("RoleName", "Deployer")])),
        (409, "DeleteConflict.Role.Policy".to_string())
    );
    ok(
        &c,
        attach(
            "DetachPolicyFromRole",
            "Custom",
            "p1",
            ("RoleName", "Deployer"),
        ),
    );
    assert_eq!(
        fail(
            &c,
            attach(
                "DetachPolicyFromRole",
                "Custom",
                "p1",
                ("RoleName", "Deployer")
            )
        ),
        (404, "EntityNotExist.Role.Policy".to_string())
    );
    ok(&c, ram("DeleteRole", &[("RoleName", "Deployer")]));
    ok(
        &c,
        attach("DetachPolicyFromUser", "Custom", "p1", ("UserName", "u2")),
    );
    ok(
        &c,
        ram(
            "DeletePolicy",
            &[("PolicyName", "p1"), ("CascadingDelete", "True")],
        ),
    );
    ok(
        &c,
        ram(
            "RemoveUserFromGroup",
            &[("GroupName", "devs"), ("UserName", "u1")],
        ),
    );
    ok(&c, ram("DeleteUser", &[("UserName", "u1")]));
    let r = ok(&c, ram("ListUsers", &[]));
    assert_eq!(r["Users"]["User"].as_array().unwrap().len(), 4);
    assert_eq!(r["IsTruncated"], false);
}

#[test]
fn pai_workspaces_members_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), FaultConfig::default());
    let c = client(&emu);
    let user_id = ok(&c, ram("CreateUser", &[("UserName", "ana")]))["User"]["UserId"]
        .as_str()
        .unwrap()
        .to_string();

    let mut ids = Vec::new();
    for name in ["lab_a", "lab_b", "lab_c"] {
        let r = ok(
            &c,
            pai("CreateWorkspace", Method::Post, "/api/v1/workspaces").body(Body::Json(
                json!({"WorkspaceName": name, "Description": "d", "EnvTypes": ["prod"]}),
            )),
        );
        ids.push(r["WorkspaceId"].as_str().unwrap().to_string());
    }
    let bad = pai("CreateWorkspace", Method::Post, "/api/v1/workspaces").body(Body::Json(
        json!({"WorkspaceName": "x", "Description": "d", "EnvTypes": ["dev"]}),
    ));
    assert_eq!(
        fail(&c, bad),
        (400, "InvalidParameter.EnvTypes".to_string())
    );

    let mut seen = Vec::new();
    for page in 1..=2 {
        let r = ok(
            &c,
            pai("ListWorkspaces", Method::Get, "/api/v1/workspaces")
                .query("PageNumber", page.to_string())
                .query("PageSize", "2"),
        );
        assert_eq!(r["TotalCount"], 3);
        for w in r["Workspaces"].as_array().unwrap() {
            assert!(w.get("resourceGroupId").is_some());
            seen.push(w["WorkspaceName"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, ["lab_a", "lab_b", "lab_c"]);

    let ws = &ids[0];
    let base = format!("/api/v1/workspaces/{ws}");
    ok(
        &c,
        pai("UpdateWorkspace", Method::Put, &base)
            .body(Body::Json(json!({"DisplayName": "Lab A"}))),
    );
    let got = ok(
        &c,
        pai("GetWorkspace", Method::Get, &base).query("Verbose", "true"),
    );
    assert_eq!(got["DisplayName"], "Lab A");
    assert_eq!(got["Description"], "d");
    assert!(got.get("Owner").is_some());

    let r = ok(
        &c,
        pai("CreateMember", Method::Post, &format!("{base}/members")).body(Body::Json(
            json!({"Members": [{"UserId": user_id, "Roles": ["PAI.AlgoDeveloper"]}]}),
        )),
    );
    let member = r["Members"][0]["MemberId"].as_str().unwrap().to_string();
    let again = pai("CreateMember", Method::Post, &format!("{base}/members")).body(Body::Json(
        json!({"Members": [{"UserId": user_id, "Roles": ["PAI.AlgoDeveloper"]}]}),
    ));
    assert_eq!(fail(&c, again), (409, "Member.AlreadyExists".to_string()));
    let role_path = |role: &str| format!("{base}/members/{member}/roles/{role}");
    ok(
        &c,
        pai(
            "AddMemberRole",
            Method::Post,
            &role_path("PAI.WorkspaceAdmin"),
        ),
    );
    ok(
        &c,
        pai(
            "RemoveMemberRole",
            Method::Delete,
            &role_path("PAI.AlgoDeveloper"),
        ),
    );
    assert_eq!(
        fail(
            &c,
            pai(
                "RemoveMemberRole",
                Method::Delete,
                &role_path("PAI.WorkspaceAdmin")
            )
        )
        .0,
        400,
        "the last role cannot go"
    );
    let r = ok(
        &c,
        pai("ListMembers", Method::Get, &format!("{base}/members"))
            .query("Roles", "PAI.WorkspaceAdmin,PAI.LabelManager"),
    );
    assert_eq!(r["TotalCount"], 1);
    assert_eq!(r["Members"][0]["Roles"], json!(["PAI.WorkspaceAdmin"]));
    assert_eq!(r["Members"][0]["UserId"], user_id.as_str());
    let got = ok(
        &c,
        pai("GetMember", Method::Get, &format!("{base}/member")).query("UserId", user_id.as_str()),
    );
    assert_eq!(got["MemberId"], member.as_str());
    let users = ok(
        &c,
        pai("ListWorkspaceUsers", Method::Get, &format!("{base}/users")),
    );
    assert_eq!(users["TotalCount"], 0, "ana is already a member");

    ok(
        &c,
        pai("DeleteMembers", Method::Delete, &format!("{base}/members"))
            .query("MemberIds", member.as_str()),
    );
    let users = ok(
        &c,
        pai("ListWorkspaceUsers", Method::Get, &format!("{base}/users")),
    );
    assert_eq!(users["Users"][0]["UserName"], "ana");
    ok(&c, pai("DeleteWorkspace", Method::Delete, &base));
    assert_eq!(
        fail(&c, pai("GetWorkspace", Method::Get, &base)),
        (404, "Workspace.NotFound".to_string())
    );
}

#[test]
fn signatures_routes_and_parameters_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), FaultConfig::default());
    let list = || ram("ListUsers", &[]);

    let wrong_secret = client_with(&emu, AK, "not-the-secret");
    let (status, code) = fail(&wrong_secret, list());
    assert_eq!((status, code.as_str()), (400, "SignatureDoesNotMatch"));
    let wrong_key = client_with(&emu, "someoneElse", SECRET);
    assert_eq!(
        fail(&wrong_key, list()),
        (404, "InvalidAccessKeyId.NotFound".to_string())
    );

    let c = client(&emu);
    assert_eq!(
        fail(&c, ram("NoSuchAction", &[])),
        (404, "InvalidAction.NotFound".to_string())
    );
    // Right action, wrong method or path.
    assert_eq!(
        fail(
            &c,
            ms("ListWorkspaces", Method::Post, "/modelstudio/workspaces")
        )
        .0,
        404
    );
    assert_eq!(
        fail(
            &c,
            ms(
                "GetApiKey",
                Method::Get,
                "/modelstudio/apikeys/not-a-number"
            )
        ),
        (400, "InvalidParameter.apiKeyId".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ms(
                "ListModelPermissions",
                Method::Get,
                "/modelstudio/models/permissions"
            )
        ),
        (400, "MissingParameter.workspaceId".to_string())
    );
    let garbage = ms(
        "UpdateModelLimits",
        Method::Post,
        "/modelstudio/models/limits",
    )
    .body(Body::Form(vec![
        ("workspaceId".into(), "ws-0".into()),
        ("workspaceLimits".into(), "[{not json".into()),
    ]));
    assert_eq!(fail(&c, garbage).0, 404, "the workspace is checked first");
    // Still serving after all that.
    assert_eq!(ok(&c, list())["IsTruncated"], false);
}

/// A required parameter left out is `MissingParameter.<Name>` with status 400 on every product
/// (contract §5.3), not `InvalidParameter.*`, which is kept for a value the operation refuses.
#[test]
fn missing_required_parameters_answer_missing_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path(), FaultConfig::default());
    let c = client(&emu);
    let cases = [
        (
            ms("ListModelLimits", Method::Get, "/modelstudio/models/limits"),
            "MissingParameter.workspaceId",
        ),
        (
            ms(
                "UpdateModelPermissions",
                Method::Post,
                "/modelstudio/models/permissions",
            )
            .body(form(
                json!({"workspaceId": "", "accessAllEntities": "KEEP"}),
            )),
            "MissingParameter.workspaceId",
        ),
        (ram("GetGroup", &[]), "MissingParameter.GroupName"),
        (
            ram(
                "AttachPolicyToUser",
                &[("PolicyType", "System"), ("PolicyName", "P")],
            ),
            "MissingParameter.UserName",
        ),
        (
            pai("CreateWorkspace", Method::Post, "/api/v1/workspaces").body(Body::Json(
                json!({"Description": "d", "EnvTypes": ["prod"]}),
            )),
            "MissingParameter.WorkspaceName",
        ),
    ];
    for (spec, code) in cases {
        let action = spec.action.clone();
        assert_eq!(fail(&c, spec), (400, code.to_string()), "{action}");
    }
    // A value that is there but wrong stays `InvalidParameter.*`.
    assert_eq!(
        fail(
            &c,
            pai("CreateWorkspace", Method::Post, "/api/v1/workspaces").body(Body::Json(
                json!({"WorkspaceName": "x", "Description": "d", "EnvTypes": ["dev"]})
            ))
        ),
        (400, "InvalidParameter.EnvTypes".to_string())
    );
}

/// What one request came to: an HTTP status, or `0` when the connection was dropped.
fn outcome(c: &Client, spec: &RequestSpec) -> (u16, Option<Duration>) {
    match c.call(spec) {
        Ok(_) => (200, None),
        Err(CallError::Api(e)) => (e.status, e.retry_after),
        Err(CallError::Transport { .. }) => (0, None),
        Err(other) => panic!("unexpected failure: {other}"),
    }
}

#[test]
fn faults_follow_the_seed_and_never_change_state() {
    let faults = FaultConfig {
        seed: 1,
        throttle_rate: 0.3,
        error_rate: 0.2,
        drop_rate: 0.1,
        retry_after_ms: 25,
        ..FaultConfig::default()
    };
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        let emu = start(dir.path(), faults);
        let c = client(&emu);
        let mut outcomes = Vec::new();
        let mut created = BTreeSet::new();
        for i in 0..40 {
            let name = format!("user{i}");
            let (status, retry_after) = outcome(&c, &ram("CreateUser", &[("UserName", &name)]));
            if [429, 400].contains(&status) {
                assert_eq!(retry_after, Some(Duration::from_millis(25)));
            }
            if status == 200 {
                created.insert(name);
            }
            outcomes.push(status);
        }
        drop(c);
        emu.shutdown();
        let store = Store::open(dir.path().join("state.db")).unwrap();
        let stored: BTreeSet<String> = store
            .list_users()
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(stored, created, "only answered requests changed state");
        outcomes
    };
    let first = run();
    assert_eq!(first, run(), "the same seed gives the same faults");
    for status in [0, 200, 400, 429, 500, 503] {
        assert!(first.contains(&status), "{status} missing from {first:?}");
    }
}

#[test]
fn cli_prints_its_address_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let mut child = Command::new(common::bin())
        .args([
            "--state",
            state.to_str().unwrap(),
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("msctl emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let c = Client::new(
        Credentials::new(AK, SECRET),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&url).unwrap()),
            ..ClientConfig::default()
        },
    );
    ok(&c, ram("CreateUser", &[("UserName", "via-cli")]));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = common::wait_or_kill(&mut child, "the emulator after SIGTERM");
    assert_eq!(
        status.code(),
        Some(common::SUCCESS),
        "clean exit on SIGTERM"
    );
    let users = Store::open(&state).unwrap().list_users().unwrap();
    assert_eq!(users[0].name, "via-cli");
}

#[test]
fn cli_refuses_to_start_without_credentials_or_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let out = Command::new(common::bin())
        .args([
            "--state",
            state.to_str().unwrap(),
            "emulator",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID")
            && err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        "{err}"
    );
    let out = Command::new(common::bin())
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state FILE"));
    let out = Command::new(common::bin())
        .args([
            "--state",
            state.to_str().unwrap(),
            "emulator",
            "--throttle-rate",
            "1.5",
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--throttle-rate"));
}

#[test]
fn an_idle_connection_does_not_hold_up_others() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        workers: 1,
        // Far past the hang guard: only making way, never the idle limit, can free the worker.
        idle: common::HANG_GUARD * 4,
        ..EmulatorConfig::new(dir.path().join("state.db"), Credentials::new(AK, SECRET))
    };
    let emu = emulator::spawn(config).unwrap();
    // One answered request on a keep-alive connection: the only worker now holds it, idle.
    let mut idle = std::net::TcpStream::connect(emu.addr).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: emulator\r\n\r\n")
        .unwrap();
    let mut reader = Connection::new(idle.try_clone().unwrap());
    let answer = reader.read_response(common::HANG_GUARD).unwrap();
    for (name, value) in &answer.headers {
        assert!(
            !(name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")),
            "the first answer must keep the connection open: {name}: {value}"
        );
    }

    // Another client is served although the idle connection never closes by itself.
    let url = emu.url();
    let users = common::finishes("a request while another connection idles", move || {
        let c = Client::new(
            Credentials::new(AK, SECRET),
            ClientConfig {
                endpoint: Some(Endpoint::parse(&url).unwrap()),
                ..ClientConfig::default()
            },
        );
        c.call(&ram("ListUsers", &[])).map_err(|e| e.to_string())
    });
    assert!(users.is_ok(), "{users:?}");
    // The idle connection made way: the emulator closed it.
    let rest = common::finishes("reading the idle connection", move || {
        let mut rest = Vec::new();
        reader
            .stream
            .read_to_end(&mut rest)
            .map(|_| rest.len())
            .map_err(|e| e.kind())
    });
    assert!(
        matches!(rest, Ok(0) | Err(std::io::ErrorKind::ConnectionReset)),
        "{rest:?}"
    );
}

/// Hostile but well-signed input on every route of every product: answered with a 4xx (or
/// a success), never a 500, a dropped connection or a dead worker.
#[test]
fn every_route_survives_garbage_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = Credentials::new("ak", "secret");
    let emu = emulator::spawn(EmulatorConfig::new(
        dir.path().join("s.db"),
        credentials.clone(),
    ))
    .unwrap();
    let client = Client::new(
        credentials,
        ClientConfig {
            endpoint: Some(Endpoint::parse(&emu.url()).unwrap()),
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientConfig::default()
        },
    );
    let garbage: Vec<(String, String)> = [
        ("maxResults", "-5"),
        ("MaxItems", "99999999999999999999"),
        ("nextToken", "zz"),
        ("Marker", "6f66667365743a"),
        ("PageNumber", "0"),
        ("workspaceId", "ws-\u{0}"),
        ("auth.accessIps.2", "x"),
        ("models.1.inference", "perhaps"),
        ("filter.model.deep.er", "x"),
        ("workspaceLimits", "[{\"model\":1e999}]"),
        ("UserName", "a\u{202e}b"),
        (
            "PolicyDocument",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ),
        ("Tag", "{\"Key\":null}"),
        ("ResourceNames", "\"role\""),
        ("MemberIds", ",,,"),
        ("Verbose", "yes"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let method = |m: &str| match m {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        _ => Method::Delete,
    };
    let products = [
        Product::ModelStudio,
        Product::Ram,
        Product::AiWorkspace,
        Product::Sts,
    ];
    for product in products {
        for route in emulator::routes(product) {
            let path = route.path.replace('*', "x%2F%00");
            let mut spec = RequestSpec::roa(product, route.action, method(route.method), path);
            spec.query = garbage.clone();
            spec.body = match product {
                Product::AiWorkspace => Body::Json(serde_json::json!({
                    "Members": "nope", "WorkspaceName": [1], "EnvTypes": {"a": 1},
                    "Description": null, "WorkspaceId": 7,
                })),
                _ => Body::Form(garbage.clone()),
            };
            match client.call(&spec) {
                Ok(_) => {}
                Err(CallError::Api(e)) => assert!(
                    (400..500).contains(&e.status),
                    "{} answered {} {}: {}",
                    route.action,
                    e.status,
                    e.code,
                    e.message
                ),
                Err(other) => panic!("{} failed: {other}", route.action),
            }
        }
    }
}

/// RAM renames in place (issue 13): UpdateUser `NewUserName` and UpdateGroup `NewGroupName`
/// keep ids, memberships and attachments, with RAM's errors, signature-checked.
#[test]
fn update_user_and_update_group_rename_in_place_with_rams_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let emu = start(dir.path(), FaultConfig::default());
    let c = client(&emu);
    let id = ok(&c, ram("CreateUser", &[("UserName", "bob")]))["User"]["UserId"].clone();
    ok(&c, ram("CreateUser", &[("UserName", "carol")]));
    ok(&c, ram("CreateGroup", &[("GroupName", "devs")]));
    ok(
        &c,
        ram(
            "AddUserToGroup",
            &[("GroupName", "devs"), ("UserName", "bob")],
        ),
    );
    ok(
        &c,
        ram(
            "AttachPolicyToUser",
            &[
                ("PolicyType", "System"),
                ("PolicyName", "AliyunBailianReadOnlyAccess"),
                ("UserName", "bob"),
            ],
        ),
    );

    // A wrong signature is refused before anything is renamed.
    let forged = client_with(&emu, AK, "not-the-secret");
    let (status, _) = fail(
        &forged,
        ram(
            "UpdateUser",
            &[("UserName", "bob"), ("NewUserName", "robert")],
        ),
    );
    assert_eq!(status, 400);
    // RAM's errors: a taken name, a missing user, a bad new name.
    assert_eq!(
        fail(
            &c,
            ram(
                "UpdateUser",
                &[("UserName", "bob"), ("NewUserName", "carol")]
            )
        ),
        (409, "EntityAlreadyExists.User".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ram("UpdateUser", &[("UserName", "ghost"), ("NewUserName", "x")])
        ),
        (404, "EntityNotExist.User".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ram(
                "UpdateUser",
                &[("UserName", "bob"), ("NewUserName", "no spaces")]
            )
        ),
        (400, "InvalidParameter.NewUserName.InvalidChars".to_string())
    );
    assert_eq!(
        ok(&c, ram("GetUser", &[("UserName", "bob")]))["User"]["UserId"],
        id
    );

    let r = ok(
        &c,
        ram(
            "UpdateUser",
            &[
                ("UserName", "bob"),
                ("NewUserName", "robert"),
                ("NewDisplayName", "Robert"),
            ],
        ),
    );
    assert_eq!(r["User"]["UserName"], "robert");
    assert_eq!(r["User"]["UserId"], id);
    assert_eq!(r["User"]["DisplayName"], "Robert");
    assert_eq!(
        fail(&c, ram("GetUser", &[("UserName", "bob")])),
        (404, "EntityNotExist.User".to_string())
    );
    let groups = ok(&c, ram("ListGroupsForUser", &[("UserName", "robert")]));
    assert_eq!(groups["Groups"]["Group"][0]["GroupName"], "devs");
    let policies = ok(&c, ram("ListPoliciesForUser", &[("UserName", "robert")]));
    assert_eq!(
        policies["Policies"]["Policy"][0]["PolicyName"],
        "AliyunBailianReadOnlyAccess"
    );

    // Groups the same way.
    ok(&c, ram("CreateGroup", &[("GroupName", "ops")]));
    assert_eq!(
        fail(
            &c,
            ram(
                "UpdateGroup",
                &[("GroupName", "devs"), ("NewGroupName", "ops")]
            )
        ),
        (409, "EntityAlreadyExists.Group".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ram(
                "UpdateGroup",
                &[("GroupName", "ghost"), ("NewGroupName", "x")]
            )
        ),
        (404, "EntityNotExist.Group".to_string())
    );
    assert_eq!(
        fail(
            &c,
            ram(
                "UpdateGroup",
                &[("GroupName", "devs"), ("NewGroupName", "a b")]
            )
        ),
        (
            400,
            "InvalidParameter.NewGroupName.InvalidChars".to_string()
        )
    );
    let group_id = ok(&c, ram("GetGroup", &[("GroupName", "devs")]))["Group"]["GroupId"].clone();
    let r = ok(
        &c,
        ram(
            "UpdateGroup",
            &[("GroupName", "devs"), ("NewGroupName", "engineers")],
        ),
    );
    assert_eq!(r["Group"]["GroupName"], "engineers");
    assert_eq!(r["Group"]["GroupId"], group_id);
    let users = ok(&c, ram("ListUsersForGroup", &[("GroupName", "engineers")]));
    assert_eq!(users["Users"]["User"][0]["UserName"], "robert");
    drop(emu);
    let store = Store::open(&db).unwrap();
    let groups: Vec<String> = store
        .list_groups()
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["engineers", "ops"]);
}
