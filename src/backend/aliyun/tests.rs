//! Tests of [`super::AliyunBackend`] against a tiny HTTP server on 127.0.0.1:0 that checks every
//! signature and answers canned JSON per `x-acs-action`, recording what it was sent.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::client::{ClientConfig, RetryPolicy};
use super::modelstudio::{KEY_MARKER, decode_key_description, encode_key_description};
use super::{AliyunBackend, Credentials, Endpoint};
use crate::acs::encoding::parse_urlencoded;
use crate::acs::verify::{VerifyOptions, verify};
use crate::backend::{Backend, BackendError, Capability, Ledger, Operation, ReadScope};
use crate::http::{Connection, Incoming};
use crate::model::{
    Address, ApiKey, Attachment, GroupMember, Member, ModelLimit, ModelPermission, PaiMember,
    PolicyType, Principal, RamPolicy, RamRole, RamUser, Resource, Workspace,
};
use crate::testing::harness::HANG_GUARD;

/// One request, as the server saw it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    action: String,
    version: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: String,
}

impl Req {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Req) -> (u16, Value) + Send + Sync;

struct Server {
    endpoint: String,
    seen: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    fn seen(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }

    fn actions(&self) -> Vec<String> {
        self.seen().into_iter().map(|r| r.action).collect()
    }

    fn find(&self, action: &str) -> Vec<Req> {
        self.seen()
            .into_iter()
            .filter(|r| r.action == action)
            .collect()
    }
}

/// Serves until the test process ends. A request whose signature does not verify is answered
/// with the gateway's `SignatureDoesNotMatch` and never reaches the handler.
fn serve(handler: impl Fn(&Req) -> (u16, Value) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let handler: Arc<Handler> = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut conn = Connection::new(stream);
            let never = || false;
            let request = match conn.read_request(HANG_GUARD, &never) {
                Incoming::Request(request) => request,
                Incoming::Closed => continue,
                Incoming::Bad(status, why) => {
                    let body = json!({"RequestId": "V-0", "Code": "BadRequest", "Message": why});
                    let _ = conn.write_response(status, &[], body.to_string().as_bytes(), false);
                    continue;
                }
            };
            let verdict = verify(
                &request.method,
                &request.path,
                &request.query,
                &request.headers,
                &request.body,
                |ak| (ak == "testAK").then(|| "testSecret".to_string()),
                SystemTime::now(),
                &VerifyOptions {
                    max_clock_skew: None,
                    nonce_cache: None,
                },
            );
            let header = |name: &str| request.header(name).map(str::to_string);
            let req = Req {
                method: request.method.clone(),
                path: request.path.clone(),
                action: header("x-acs-action").unwrap_or_default(),
                version: header("x-acs-version").unwrap_or_default(),
                query: parse_urlencoded(&request.query),
                content_type: header("content-type"),
                body: String::from_utf8_lossy(&request.body).into_owned(),
            };
            let (status, answer) = match verdict {
                Ok(_) => handler(&req),
                Err(e) => (
                    e.http_status(),
                    json!({"RequestId": "V-1", "Code": e.code(), "Message": e.to_string()}),
                ),
            };
            record.lock().unwrap().push(req);
            let _ = conn.write_response(status, &[], answer.to_string().as_bytes(), false);
        }
    });
    Server { endpoint, seen }
}

/// Retries and waits for fresh objects are bounded by counts the tests assert (attempts,
/// requests seen), never by wall time: the time budgets are hang guards far beyond any run.
fn backend(server: &Server) -> AliyunBackend {
    AliyunBackend::with_client_config(
        Credentials::new("testAK", "testSecret"),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&server.endpoint).unwrap()),
            retry: RetryPolicy {
                max_attempts: 2,
                max_elapsed: HANG_GUARD,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            ..ClientConfig::default()
        },
        ["cn-beijing".to_string()],
    )
    .with_pai_regions(["cn-hangzhou".to_string()])
    .with_settle(HANG_GUARD)
}

fn ok(extra: Value) -> (u16, Value) {
    let mut body =
        json!({"requestId": "R-OK", "code": "200", "success": true, "RequestId": "R-OK"});
    if let (Some(map), Value::Object(more)) = (body.as_object_mut(), extra) {
        map.extend(more);
    }
    (200, body)
}

fn not_found(action: &str) -> (u16, Value) {
    (
        404,
        json!({"RequestId": "R-404", "Code": "InvalidAction.NotFound", "Message": action}),
    )
}

const ROLE_TRUST: &str = concat!(
    r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","#,
    r#""Principal":{"RAM":"acs:ram::123:root"}}],"Version":"1"}"#,
);
const POLICY_DOC: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sfm:CreateIndex","Resource":"*"}]}"#;

/// A small account: every listing spans two pages.
fn world(req: &Req) -> (u16, Value) {
    match req.action.as_str() {
        "ListWorkspaces" if req.version == "2026-02-10" => match req.q("nextToken") {
            None => ok(json!({"nextToken": "t2", "workspaces": [
                {"workspaceId": "ws-0", "workspaceName": "默认业务空间", "region": "cn-beijing",
                 "gmtCreate": 1},
                {"workspaceId": "ws-9", "workspaceName": "elsewhere", "region": "ap-southeast-1",
                 "gmtCreate": 0}]})),
            Some("t2") => ok(json!({"nextToken": "", "workspaces": [
                {"workspaceId": "ws-1", "workspaceName": "chatbot-dev", "region": "cn-beijing",
                 "gmtCreate": 5}]})),
            Some(_) => (
                400,
                json!({"code": "InvalidParameter.nextToken", "success": false}),
            ),
        },
        "ListApiKeys" => match req.q("nextToken") {
            None => ok(json!({"nextToken": "k2", "apiKeys": [
                {"apiKeyId": 11, "workspaceId": "ws-1", "description": "msctl:backend chatbot \
                    service",
                 "createdBy": "2001", "disabled": 0, "apiKeyValue": "sk-ws-abc*****wxyz",
                 "auth": {"type": "Custom", "accessIps": ["10.0.0.0/8"],
                          "modelAccessScope": {"allowAllModels": false,
                                               "accessibleModels": ["qwen-plus"]}}}]})),
            Some(_) => ok(json!({"apiKeys": [
                {"apiKeyId": 12, "workspaceId": "ws-1", "description": "someone's key",
                 "createdBy": "2001",
                 "auth": {"type": "All"}},
                {"apiKeyId": 13, "workspaceId": "ws-0", "description": "msctl:ops",
                 "createdBy": "999",
                 "disabled": 1, "auth": {"type": "Custom", "accessIps": ["0.0.0.0/0", "::/0"],
                     "modelAccessScope": {"allowAllModels": true}}}]})),
        },
        "ListModelPermissions" => ok(json!({"list": [
            {"model": "qwen-plus", "name": "qwen-plus", "permissions": {"inference": true,
                "fineTune": false, "deploy": false}},
            {"model": "qwen-max", "name": "qwen-max", "permissions": {"inference": false,
                "fineTune": false, "deploy": false}}]})),
        "ListModelLimits" => ok(json!({"limits": [
            {"model": "qwen-plus", "workspaceId": "ws-1",
             "modelLimit": {"requestLimit": 15000, "requestLimitPeriod": 60},
             "workspaceLimit": {"requestLimit": 600, "requestLimitPeriod": 60, "usageLimit": 100000,
                                "usageLimitField": "token", "usageLimitPeriod": 60}},
            {"model": "qwen-turbo", "workspaceId": "ws-1", "modelLimit": {"requestLimit": 1},
             "workspaceLimit": null}]})),
        "ListUsers" => match req.q("Marker") {
            None => ok(
                json!({"IsTruncated": true, "Marker": "m2", "Users": {"User": [
                {"UserId": "2001", "UserName": "alice", "DisplayName": "Alice", "Comments": ""}]}}),
            ),
            Some(_) => ok(json!({"IsTruncated": false, "Users": {"User": [
                {"UserId": "2002", "UserName": "bob", "DisplayName": "", "Comments": "sre"}]}})),
        },
        "ListGroups" => ok(
            json!({"IsTruncated": false, "Groups": {"Group": [{"GroupName": "devs",
                                                               "Comments": "d"}]}}),
        ),
        "ListUsersForGroup" => {
            ok(json!({"IsTruncated": false, "Users": {"User": [{"UserName": "alice"}]}}))
        }
        "ListRoles" => {
            ok(json!({"IsTruncated": false, "Roles": {"Role": [{"RoleName": "ops-role"}]}}))
        }
        "GetRole" => ok(json!({"Role": {"RoleName": "ops-role", "Description": "",
            "AssumeRolePolicyDocument": ROLE_TRUST, "MaxSessionDuration": 7200}})),
        "ListPolicies" => ok(json!({"IsTruncated": false, "Policies": {"Policy": [
            {"PolicyName": "p1", "PolicyType": "Custom"}]}})),
        "GetPolicy" => ok(
            json!({"Policy": {"PolicyName": "p1", "PolicyType": "Custom", "Description": "index"},
            "DefaultPolicyVersion": {"VersionId": "v2", "IsDefaultVersion": true,
                                     "PolicyDocument": POLICY_DOC}}),
        ),
        "ListPoliciesForUser" if req.q("UserName") == Some("alice") => {
            ok(json!({"Policies": {"Policy": [
            {"PolicyName": "AliyunBailianFullAccess", "PolicyType": "System"}]}}))
        }
        "ListPoliciesForUser" | "ListPoliciesForRole" => ok(json!({"Policies": {"Policy": []}})),
        "ListPoliciesForGroup" => {
            ok(json!({"Policies": {"Policy": [{"PolicyName": "p1", "PolicyType": "Custom"}]}}))
        }
        "ListWorkspaces" => match req.q("PageNumber") {
            Some("1") => ok(json!({"TotalCount": 2, "Workspaces": [
                {"WorkspaceId": "100", "WorkspaceName": "lang_prod", "DisplayName": "LangStudio",
                 "Description": "flows", "EnvTypes": ["dev", "prod"]}]})),
            _ => ok(json!({"TotalCount": 2, "Workspaces": [
                {"WorkspaceId": "101", "WorkspaceName": "lang_dev", "DisplayName": "lang_dev",
                 "Description": "", "EnvTypes": ["prod"]}]})),
        },
        "ListMembers" => ok(json!({"TotalCount": 3, "Members": [
            {"MemberId": "m1", "UserId": "2001", "Roles": ["PAI.AlgoDeveloper"]},
            {"MemberId": "m0", "UserId": "999", "Roles": ["PAI.WorkspaceOwner"]},
            {"MemberId": "m2", "UserId": "2002", "Roles": ["PAI.WorkspaceOwner",
                                                           "PAI.WorkspaceAdmin"]}]})),
        other => not_found(other),
    }
}

fn full_scope() -> ReadScope {
    ReadScope {
        regions: ["cn-beijing".to_string()].into_iter().collect(),
        ram: true,
        pai_regions: ["cn-hangzhou".to_string()].into_iter().collect(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn read_walks_every_page_of_every_product_and_maps_the_state() {
    let server = serve(world);
    let backend = backend(&server);
    let state = backend.read(&full_scope()).unwrap();

    let get = |a: &str| state.get(&a.parse::<Address>().unwrap()).cloned();
    assert_eq!(
        get("workspace.default-cn-beijing"),
        Some(Resource::Workspace(Workspace {
            name: "default-cn-beijing".into(),
            region: "cn-beijing".into(),
            default: true
        }))
    );
    // The second page of ListWorkspaces; another region's workspace is not this region's.
    assert!(get("workspace.chatbot-dev").is_some());
    assert!(get("workspace.elsewhere").is_none());
    assert_eq!(
        get("workspace.chatbot-dev.apikey.backend"),
        Some(Resource::ApiKey(ApiKey {
            workspace: "chatbot-dev".into(),
            name: "backend".into(),
            owner: "alice".into(),
            description: "chatbot service".into(),
            models: Some(set(&["qwen-plus"])),
            ip_allow: set(&["10.0.0.0/8"]),
            enabled: true,
        }))
    );
    // Second page of ListApiKeys: a creator that is no RAM user, with no caller identity
    // resolved, leaves the owner unknown (never guessed); the allow-all default is no list,
    // and a key without the marker is not msctl's.
    assert_eq!(
        get("workspace.default-cn-beijing.apikey.ops"),
        Some(Resource::ApiKey(ApiKey {
            workspace: "default-cn-beijing".into(),
            name: "ops".into(),
            owner: ApiKey::UNKNOWN_OWNER.into(),
            description: String::new(),
            models: None,
            ip_allow: BTreeSet::new(),
            enabled: false,
        }))
    );
    let keys = state
        .iter()
        .filter(|(_, r)| matches!(r, Resource::ApiKey(_)))
        .count();
    assert_eq!(keys, 2);
    assert_eq!(
        get("workspace.chatbot-dev.model.qwen-plus"),
        Some(Resource::ModelPermission(ModelPermission {
            workspace: "chatbot-dev".into(),
            model: "qwen-plus".into(),
            inference: true,
            fine_tune: false,
            deploy: false
        }))
    );
    assert!(get("workspace.chatbot-dev.model.qwen-max").is_none());
    assert_eq!(
        get("workspace.chatbot-dev.limit.qwen-plus"),
        Some(Resource::ModelLimit(ModelLimit {
            workspace: "chatbot-dev".into(),
            model: "qwen-plus".into(),
            requests: 600,
            request_period: 60,
            tokens: Some(100000),
            usage_period: Some(60)
        }))
    );
    assert!(get("workspace.chatbot-dev.limit.qwen-turbo").is_none());
    // RAM: the user on the second page, empty strings as none.
    assert_eq!(
        get("ram.user.bob"),
        Some(Resource::RamUser(RamUser {
            name: "bob".into(),
            display_name: None,
            comments: Some("sre".into())
        }))
    );
    assert!(get("ram.user.alice").is_some());
    assert_eq!(
        get("ram.group.devs.member.alice"),
        Some(Resource::GroupMember(GroupMember {
            group: "devs".into(),
            user: "alice".into()
        }))
    );
    let Some(Resource::RamRole(role)) = get("ram.role.ops-role") else {
        panic!("role missing")
    };
    assert_eq!(role.max_session_duration, 7200);
    assert_eq!(
        role.trust_policy["Statement"][0]["Principal"]["RAM"],
        "acs:ram::123:root"
    );
    assert_eq!(
        get("ram.policy.p1"),
        Some(Resource::RamPolicy(RamPolicy {
            name: "p1".into(),
            description: Some("index".into()),
            document: serde_json::from_str(POLICY_DOC).unwrap()
        }))
    );
    assert_eq!(
        get("ram.user.alice.policy.AliyunBailianFullAccess"),
        Some(Resource::Attachment(Attachment {
            principal: Principal::User("alice".into()),
            policy: "AliyunBailianFullAccess".into(),
            policy_type: PolicyType::System
        }))
    );
    assert!(get("ram.group.devs.policy.p1").is_some());
    // PAI: both pages; the owner and non-RAM members are not msctl's.
    let Some(Resource::PaiWorkspace(lang)) = get("pai.workspace.lang_prod") else {
        panic!("PAI workspace missing")
    };
    assert_eq!(lang.display_name.as_deref(), Some("LangStudio"));
    assert_eq!(lang.env_types, vec!["dev".to_string(), "prod".to_string()]);
    let Some(Resource::PaiWorkspace(dev)) = get("pai.workspace.lang_dev") else {
        panic!("second PAI page missing")
    };
    assert_eq!(dev.display_name, None);
    assert_eq!(
        get("pai.workspace.lang_dev.member.alice"),
        Some(Resource::PaiMember(PaiMember {
            workspace: "lang_dev".into(),
            user: "alice".into(),
            roles: set(&["PAI.AlgoDeveloper"])
        }))
    );
    assert!(get("pai.workspace.lang_dev.member.bob").is_none());
    // No member of a Model Studio workspace can be read.
    assert!(!state.iter().any(|(_, r)| matches!(r, Resource::Member(_))));

    // The pages asked for: largest sizes, tokens and markers passed back.
    let ws = server.find("ListWorkspaces");
    let ms: Vec<&Req> = ws.iter().filter(|r| r.version == "2026-02-10").collect();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].q("maxResults"), Some("100"));
    assert_eq!(ms[1].q("nextToken"), Some("t2"));
    let users = server.find("ListUsers");
    assert_eq!(
        users.iter().map(|r| r.q("Marker")).collect::<Vec<_>>(),
        vec![None, Some("m2")]
    );
    assert!(
        users
            .iter()
            .all(|r| r.q("MaxItems") == Some("1000") && r.path == "/")
    );
    assert_eq!(server.find("ListGroups")[0].q("MaxItems"), Some("100"));
    let pai: Vec<Req> = ws
        .into_iter()
        .filter(|r| r.version == "2021-02-04")
        .collect();
    assert_eq!(
        pai.iter().map(|r| r.q("PageNumber")).collect::<Vec<_>>(),
        vec![Some("1"), Some("2")]
    );
    let perms = server.find("ListModelPermissions");
    assert_eq!(
        perms.len(),
        1,
        "the default workspace's models are not read"
    );
    assert_eq!(perms[0].q("workspaceId"), Some("ws-1"));
    // Every kind of grant: AUTHORIZED is documented only for INFERENCE.
    assert_eq!(perms[0].q("authorizationScope"), Some("AUTHORIZABLE"));
    assert_eq!(perms[0].q("modelAction"), None);
    assert_eq!(
        server.find("ListModelLimits")[0].q("maxResults"),
        Some("200")
    );
    assert_eq!(server.find("GetPolicy")[0].q("PolicyType"), Some("Custom"));

    // Exactly the listing's calls: 6 Model Studio, 12 RAM, 4 PAI.
    assert_eq!(backend.api_calls(), 22, "{:?}", server.actions());
    assert_eq!(server.seen().len(), 22);
}

#[test]
fn reads_only_what_the_scope_asks() {
    let server = serve(world);
    let backend = backend(&server);
    let scope = ReadScope {
        ram: true,
        ..ReadScope::default()
    };
    let state = backend.read(&scope).unwrap();
    assert!(!state.iter().any(|(_, r)| matches!(
        r,
        Resource::Workspace(_) | Resource::PaiWorkspace(_) | Resource::ApiKey(_)
    )));
    assert!(
        server.seen().iter().all(|r| r.version == "2015-05-01"),
        "{:?}",
        server.actions()
    );
}

#[test]
fn key_names_round_trip_through_the_description() {
    for (name, description) in [
        ("backend", "chatbot service (prod)"),
        ("k", ""),
        ("a.b_c-1", "  spaced  out "),
        ("名字", "描述"),
    ] {
        let text = encode_key_description(name, description).unwrap();
        assert!(text.starts_with(KEY_MARKER));
        assert_eq!(
            decode_key_description(&text),
            Some((name.to_string(), description.to_string()))
        );
    }
    assert_eq!(
        encode_key_description("backend", "svc").unwrap(),
        "msctl:backend svc"
    );
    assert_eq!(encode_key_description("k", "").unwrap(), "msctl:k");
    for bad in ["", "two words", "tab\there"] {
        assert!(matches!(
            encode_key_description(bad, "d"),
            Err(BackendError::Invalid(_))
        ));
    }
    for foreign in ["", "chatbot", "msctl:", "msctl: leading space", "MSCTL:x"] {
        assert_eq!(decode_key_description(foreign), None, "{foreign}");
    }
}

/// A server that knows workspace `ws-1` (`chatbot-dev`) and key 123, and accepts every write.
fn writes(req: &Req) -> (u16, Value) {
    match req.action.as_str() {
        "CreateApiKey" => ok(json!({"apiKey": {"apiKeyId": 123, "workspaceId": "ws-1",
            "apiKeyValue": "sk-ws-SECRET.0123456789", "description": req.q("description")}})),
        "UpdateApiKey"
        | "DisableApiKey"
        | "EnableApiKey"
        | "DeleteApiKey"
        | "UpdateModelPermissions"
        | "UpdateModelLimits" => ok(json!({})),
        _ => world(req),
    }
}

fn read_first(backend: &AliyunBackend) {
    backend
        .read(&ReadScope {
            regions: ["cn-beijing".to_string()].into_iter().collect(),
            ..ReadScope::default()
        })
        .unwrap();
}

fn key(models: Option<&[&str]>, ips: &[&str], enabled: bool) -> ApiKey {
    ApiKey {
        workspace: "chatbot-dev".into(),
        name: "k1".into(),
        owner: "alice".into(),
        description: "svc one".into(),
        models: models.map(set),
        ip_allow: set(ips),
        enabled,
    }
}

#[test]
fn write_bodies_are_the_sdks() {
    let server = serve(writes);
    let backend = backend(&server);
    read_first(&backend);
    let before = server.seen().len();

    let permission = Resource::ModelPermission(ModelPermission {
        workspace: "chatbot-dev".into(),
        model: "qwen-plus".into(),
        inference: true,
        fine_tune: false,
        deploy: false,
    });
    backend.apply(Operation::Create(&permission)).unwrap();
    backend.apply(Operation::Delete(&permission)).unwrap();
    let limit = Resource::ModelLimit(ModelLimit {
        workspace: "chatbot-dev".into(),
        model: "qwen-plus".into(),
        requests: 60,
        request_period: 60,
        tokens: Some(100000),
        usage_period: Some(60),
    });
    backend.apply(Operation::Create(&limit)).unwrap();
    backend.apply(Operation::Delete(&limit)).unwrap();
    let custom = Resource::ApiKey(key(
        Some(&["qwen-plus", "qwen-max"]),
        &["1.2.3.4/32", "::/0"],
        true,
    ));
    backend.apply(Operation::Create(&custom)).unwrap();
    let all = Resource::ApiKey(key(None, &[], false));
    backend
        .apply(Operation::Update {
            before: &custom,
            after: &all,
        })
        .unwrap();

    let seen = &server.seen()[before..];
    let form = "application/x-www-form-urlencoded";
    // UpdateModelPermissions: test vector T6's body, byte for byte.
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/modelstudio/models/permissions")
    );
    assert_eq!(seen[0].content_type.as_deref(), Some(form));
    assert_eq!(
        seen[0].body,
        "accessAllEntities=KEEP&models.1.deploy=false&models.1.fineTune=false&\
            models.1.inference=true&models.1.model=qwen-plus&workspaceId=ws-1"
    );
    // A deleted permission is every flag off.
    assert_eq!(
        seen[1].body,
        "accessAllEntities=KEEP&models.1.deploy=false&models.1.fineTune=false&\
            models.1.inference=false&models.1.model=qwen-plus&workspaceId=ws-1"
    );
    // UpdateModelLimits: Appendix A's body, byte for byte.
    assert_eq!(seen[2].path, "/modelstudio/models/limits");
    assert_eq!(
        seen[2].body,
        "workspaceId=ws-1&workspaceLimits=%5B%7B%22model%22%3A%22qwen-plus%22%2C%22operationType%22\
            %3A%22OVERLAY%22%2C%22requestLimit%22%3A60%2C%22requestLimitPeriod%22%3A60%2C\
            %22usageLimit%22%3A100000%2C%22usageLimitPeriod%22%3A60%7D%5D"
    );
    assert_eq!(
        seen[3].body,
        "workspaceId=ws-1&workspaceLimits=%5B%7B%22model%22%3A%22qwen-plus%22%2C%22operationType%22\
            %3A%22DELETE%22%7D%5D"
    );
    // CreateApiKey: query + flattened auth, as in Appendix A.
    assert_eq!(
        (seen[4].method.as_str(), seen[4].path.as_str()),
        ("POST", "/modelstudio/apikeys")
    );
    assert_eq!(seen[4].q("workspaceId"), Some("ws-1"));
    assert_eq!(seen[4].q("description"), Some("msctl:k1 svc one"));
    assert_eq!(
        seen[4].body,
        "auth.accessIps.1=1.2.3.4%2F32&auth.accessIps.2=%3A%3A%2F0&\
            auth.modelAccessScope.accessibleModels.1=qwen-max&\
            auth.modelAccessScope.accessibleModels.2=qwen-plus&\
            auth.modelAccessScope.allowAllModels=false&auth.type=Custom"
    );
    // UpdateApiKey sends `auth` complete, then the enabled flag goes its own way.
    assert_eq!(
        (seen[5].method.as_str(), seen[5].path.as_str()),
        ("PUT", "/modelstudio/apikeys/123")
    );
    assert_eq!(seen[5].q("description"), Some("msctl:k1 svc one"));
    assert_eq!(seen[5].body, "auth.type=All");
    assert_eq!(
        (seen[6].method.as_str(), seen[6].path.as_str()),
        ("PUT", "/modelstudio/apikeys/123/disable")
    );
    assert!(seen[6].body.is_empty() && seen[6].content_type.is_none());
    assert_eq!(seen.len(), 7);
    assert!(seen.iter().all(|r| r.version == "2026-02-10"));
}

#[test]
fn ram_and_pai_writes() {
    let created = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&created);
    let user_creates = Arc::new(Mutex::new(0u32));
    let server = serve(move |req| match req.action.as_str() {
        "CreatePolicyVersion" | "UpdatePolicyDescription" | "AttachPolicyToRole" => ok(json!({})),
        // The first create's answer is lost (a 500 may come after the work was done); later
        // ones find the user there.
        "CreateUser" => {
            let mut n = user_creates.lock().unwrap();
            *n += 1;
            if *n == 1 {
                (
                    500,
                    json!({"RequestId": "R-8", "Code": "InternalError", "Message": "oops"}),
                )
            } else {
                (
                    409,
                    json!({"RequestId": "R-9", "Code": "EntityAlreadyExists.User",
                           "Message": "exists"}),
                )
            }
        }
        "GetUser" => ok(
            json!({"User": {"UserId": "2003", "UserName": req.q("UserName"),
            "DisplayName": "Carol", "Comments": ""}}),
        ),
        "AddUserToGroup" => (
            409,
            json!({"Code": "EntityAlreadyExists.User.Group", "Message": "joined"}),
        ),
        "CreateMember" => {
            *flag.lock().unwrap() = true;
            ok(json!({"Members": []}))
        }
        // The member shows up one lookup late, as a lagging read would.
        "ListMembers" if req.q("UserId").is_some() => {
            let mut done = flag.lock().unwrap();
            if *done {
                *done = false;
                ok(json!({"TotalCount": 0, "Members": []}))
            } else {
                ok(json!({"TotalCount": 1, "Members": [
                    {"MemberId": "m9", "UserId": "2003", "Roles": ["PAI.AlgoDeveloper"]}]}))
            }
        }
        "AddMemberRole" | "RemoveMemberRole" => ok(json!({})),
        _ => world(req),
    });
    let backend = backend(&server);
    backend.read(&full_scope()).unwrap();
    let start = server.seen().len();

    let p1 = |doc: &str, description: &str| {
        Resource::RamPolicy(RamPolicy {
            name: "p1".into(),
            description: Some(description.into()),
            document: serde_json::from_str(doc).unwrap(),
        })
    };
    let changed =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sfm:*","Resource":"*"}]}"#;
    backend
        .apply(Operation::Update {
            before: &p1(POLICY_DOC, "index"),
            after: &p1(changed, "all of sfm"),
        })
        .unwrap();
    // A create whose answer was lost adopts the user it made; a plain conflict, without an
    // ambiguous attempt before it, is someone else's user and an error.
    let carol = |display: &str| {
        Resource::RamUser(RamUser {
            name: "carol".into(),
            display_name: Some(display.into()),
            comments: None,
        })
    };
    backend.apply(Operation::Create(&carol("Carol"))).unwrap();
    let err = backend
        .apply(Operation::Create(&carol("Someone else")))
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m)
            if m.contains("EntityAlreadyExists.User") && m.contains("R-9")),
        "{err:?}"
    );
    let join = Resource::GroupMember(GroupMember {
        group: "devs".into(),
        user: "carol".into(),
    });
    backend.apply(Operation::Create(&join)).unwrap();
    let attach = Resource::Attachment(Attachment {
        principal: Principal::Role("ops-role".into()),
        policy: "AliyunBailianReadOnlyAccess".into(),
        policy_type: PolicyType::System,
    });
    backend.apply(Operation::Create(&attach)).unwrap();

    let member = |roles: &[&str]| {
        Resource::PaiMember(PaiMember {
            workspace: "lang_prod".into(),
            user: "carol".into(),
            roles: set(roles),
        })
    };
    backend
        .apply(Operation::Create(&member(&["PAI.AlgoDeveloper"])))
        .unwrap();
    backend
        .apply(Operation::Update {
            before: &member(&["PAI.AlgoDeveloper"]),
            after: &member(&["PAI.AlgoOperator"]),
        })
        .unwrap();

    let seen = &server.seen()[start..];
    let version = &seen[0];
    assert_eq!(version.action, "CreatePolicyVersion");
    assert_eq!(
        (version.method.as_str(), version.path.as_str()),
        ("POST", "/")
    );
    assert!(version.body.is_empty());
    assert_eq!(version.q("SetAsDefault"), Some("true"));
    assert_eq!(
        version.q("RotateStrategy"),
        Some("DeleteOldestNonDefaultVersionWhenLimitExceeded")
    );
    assert_eq!(version.q("PolicyDocument"), Some(changed));
    assert_eq!(seen[1].action, "UpdatePolicyDescription");
    assert_eq!(seen[1].q("NewDescription"), Some("all of sfm"));
    let attach = server.find("AttachPolicyToRole");
    assert_eq!(attach[0].q("PolicyType"), Some("System"));
    assert_eq!(attach[0].q("RoleName"), Some("ops-role"));

    let create = &server.find("CreateMember")[0];
    assert_eq!(create.path, "/api/v1/workspaces/100/members");
    assert_eq!(
        create.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        create.body,
        r#"{"Members":[{"Roles":["PAI.AlgoDeveloper"],"UserId":"2003"}]}"#
    );
    // The lookup after CreateMember was retried until the member showed up.
    let lookups = server
        .find("ListMembers")
        .into_iter()
        .filter(|r| r.q("UserId") == Some("2003"))
        .count();
    assert_eq!(lookups, 2);
    let add = &server.find("AddMemberRole")[0];
    assert_eq!(
        (add.method.as_str(), add.path.as_str()),
        (
            "POST",
            "/api/v1/workspaces/100/members/m9/roles/PAI.AlgoOperator"
        )
    );
    let remove = &server.find("RemoveMemberRole")[0];
    assert_eq!(
        (remove.method.as_str(), remove.path.as_str()),
        (
            "DELETE",
            "/api/v1/workspaces/100/members/m9/roles/PAI.AlgoDeveloper"
        )
    );
}

#[test]
fn no_permission_names_the_action_and_a_policy() {
    let server = serve(|req| match req.action.as_str() {
        "CreateWorkspace" => (
            403,
            json!({"RequestId": "R-403", "Code": "NoPermission",
                "Message": "You are not authorized to do this action.",
                "AccessDeniedDetail": {"AuthAction": "modelstudio:CreateWorkspace",
                    "NoPermissionType": "ImplicitDeny"}}),
        ),
        other => not_found(other),
    });
    let backend = backend(&server);
    let ws = Resource::Workspace(Workspace {
        name: "chatbot-prod".into(),
        region: "cn-beijing".into(),
        default: false,
    });
    let err = backend.apply(Operation::Create(&ws)).unwrap_err();
    let BackendError::Refused(message) = err else {
        panic!("expected Refused, got {err:?}")
    };
    assert!(
        message.starts_with("failed to call `CreateWorkspace`: HTTP 403 NoPermission"),
        "{message}"
    );
    assert!(message.contains("(denied action `modelstudio:CreateWorkspace`)"));
    assert!(message.contains("(request id R-403)"));
    assert!(
        message.contains(
            "\nhint: grant the RAM user or role whose access key msctl uses a RAM \
            policy allowing `modelstudio:CreateWorkspace`"
        ),
        "{message}"
    );
    assert!(!message.contains("testSecret"));
    // Permission errors are not retried.
    assert_eq!(backend.api_calls(), 1);
    let create = &server.find("CreateWorkspace")[0];
    assert_eq!(create.q("workspaceName"), Some("chatbot-prod"));
}

#[test]
fn refused_workspace_delete_gives_the_platforms_reasons() {
    let server = serve(|req| match req.action.as_str() {
        "DeleteWorkspace" => ok(json!({"isDeleted": false, "failReasons": [
            {"resourceType": "API Key", "reason": "API Key exists. Please clear them first."}]})),
        _ => world(req),
    });
    let backend = backend(&server);
    read_first(&backend);
    let ws = Resource::Workspace(Workspace {
        name: "chatbot-dev".into(),
        region: "cn-beijing".into(),
        default: false,
    });
    let err = backend.apply(Operation::Delete(&ws)).unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m) if m.contains("API Key: API Key exists. Please \
            clear them first.")),
        "{err:?}"
    );
    assert_eq!(
        server.find("DeleteWorkspace")[0].path,
        "/modelstudio/workspaces/ws-1"
    );
    let default = Resource::Workspace(Workspace {
        name: "default-cn-beijing".into(),
        region: "cn-beijing".into(),
        default: true,
    });
    assert!(matches!(
        backend.apply(Operation::Delete(&default)),
        Err(BackendError::Refused(_))
    ));
    assert_eq!(server.find("DeleteWorkspace").len(), 1);
}

#[test]
fn secrets_go_to_the_0600_file_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.txt");
    // A file left world-readable from before is narrowed, then appended to: a secret an earlier
    // run wrote there (and nobody collected yet) is never lost.
    std::fs::write(&path, "old=stale\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = serve(writes);
    let backend = backend(&server)
        .with_secrets_to(&path)
        .with_ledger(dir.path().join("ledger.db"));
    read_first(&backend);
    let k = Resource::ApiKey(key(None, &[], false));
    backend.apply(Operation::Create(&k)).unwrap();
    backend.save_ledger(&Ledger::default()).unwrap();

    let secret = "sk-ws-SECRET.0123456789";
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("old=stale\nworkspace.chatbot-dev.apikey.k1={secret}\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(backend.secrets_written(), 1);
    // Disabled as declared, after the create.
    assert_eq!(server.find("DisableApiKey").len(), 1);
    // Nowhere else: not in the backend, the state, the ledger or any other file.
    assert!(!format!("{backend:?}").contains(secret));
    let state = backend.read(&full_scope()).unwrap();
    assert!(!serde_json::to_string(&state).unwrap().contains("SECRET"));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p != path {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("SECRET"),
                "{}",
                p.display()
            );
        }
    }

    // Without --secrets-to the secret is dropped unseen.
    let quiet = super::AliyunBackend::with_client_config(
        Credentials::new("testAK", "testSecret"),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&server.endpoint).unwrap()),
            ..ClientConfig::default()
        },
        ["cn-beijing".to_string()],
    );
    read_first(&quiet);
    quiet.apply(Operation::Create(&k)).unwrap();
    assert_eq!(quiet.secrets_written(), 0);
}

#[test]
fn capabilities_leave_members_and_key_owners_to_the_console() {
    let server = serve(world);
    let backend = backend(&server);
    let caps = backend.capabilities();
    assert!(!caps.has(Capability::WorkspaceMembers));
    assert!(!caps.has(Capability::ApiKeyOwner));
    assert_eq!(backend.name(), "aliyun");
    let member = Resource::Member(Member {
        workspace: "chatbot-dev".into(),
        principal: Principal::User("alice".into()),
        administrator: true,
        pages: BTreeSet::new(),
    });
    // Apply never pretends: a member change is refused without a call.
    let err = backend.apply(Operation::Create(&member)).unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("console") && m.contains("msctl ack \
            workspace.chatbot-dev.member.alice")),
        "{err:?}"
    );
    assert_eq!(backend.api_calls(), 0);
    assert_eq!(backend.caller(), None);
    assert_eq!(
        backend
            .with_caller(Some("alice".into()))
            .caller()
            .as_deref(),
        Some("alice")
    );
}

#[test]
fn the_ledger_file_round_trips_and_is_created_only_when_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("ledger.db");
    let server = serve(world);
    let backend = backend(&server).with_ledger(&path);
    assert_eq!(backend.load_ledger().unwrap(), Ledger::default());
    assert!(!path.exists());
    let member = Resource::Member(Member {
        workspace: "chatbot-dev".into(),
        principal: Principal::Role("ops-role".into()),
        administrator: false,
        pages: set(&["Playground-FullAccess"]),
    });
    let mut ledger = Ledger::default();
    ledger.owned.insert(member.address());
    ledger.acknowledged.insert(member.address(), member.clone());
    backend.save_ledger(&ledger).unwrap();
    assert!(path.exists());
    assert_eq!(backend.load_ledger().unwrap(), ledger);
    // A second process sees the same ledger; forgetting an acknowledgement sticks.
    let again = super::AliyunBackend::new(Credentials::new("a", "b"), None, []).with_ledger(&path);
    assert_eq!(again.load_ledger().unwrap(), ledger);
    ledger.acknowledged.clear();
    again.save_ledger(&ledger).unwrap();
    assert!(backend.load_ledger().unwrap().acknowledged.is_empty());
    assert_eq!(backend.api_calls(), 0);
}

#[test]
fn a_role_create_adopts_the_role_only_after_a_lost_answer() {
    let creates = Arc::new(Mutex::new(0u32));
    let server = serve(move |req| match req.action.as_str() {
        "CreateRole" => {
            let mut n = creates.lock().unwrap();
            *n += 1;
            if *n == 1 {
                (
                    409,
                    json!({"Code": "EntityAlreadyExists.Role", "Message": "exists"}),
                )
            } else {
                (
                    503,
                    json!({"Code": "ServiceUnavailable", "Message": "later"}),
                )
            }
        }
        _ => world(req),
    });
    let backend = backend(&server);
    // The platform returns `"RAM": "..."` where a list was sent: the same policy.
    let role = Resource::RamRole(RamRole {
        name: "ops-role".into(),
        description: None,
        trust_policy: json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::123:root"]}}]}),
        max_session_duration: 7200,
    });
    // A plain conflict: the role is not msctl's to adopt, however alike.
    let err = backend.apply(Operation::Create(&role)).unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m) if m.contains("EntityAlreadyExists.Role")),
        "{err:?}"
    );
    assert!(server.find("GetRole").is_empty());
    // A 503 may come after the role was made: it is looked for, found and adopted.
    backend.apply(Operation::Create(&role)).unwrap();
    assert_eq!(server.find("CreateRole").len(), 2);
    assert_eq!(server.find("GetRole").len(), 1);
    let sent = &server.find("CreateRole")[0];
    assert_eq!(sent.q("MaxSessionDuration"), Some("7200"));
    assert!(
        sent.q("AssumeRolePolicyDocument")
            .unwrap()
            .contains(r#""RAM":["acs:ram::123:root"]"#)
    );
}

/// Accepts every write with a plausible answer; reads come from [`world`].
fn permissive(req: &Req) -> (u16, Value) {
    match (req.version.as_str(), req.action.as_str()) {
        ("2026-02-10", "CreateWorkspace") => ok(json!({"workspace":
            {"workspaceId": "ws-new", "workspaceName": req.q("workspaceName"),
             "region": "cn-beijing"}})),
        ("2026-02-10", "DeleteWorkspace") => ok(json!({"isDeleted": true, "failReasons": []})),
        ("2021-02-04", "CreateWorkspace") => ok(json!({"WorkspaceId": "200"})),
        ("2021-02-04", "CreateMember") => {
            ok(json!({"Members": [{"MemberId": "m5", "UserId": "2001"}]}))
        }
        (_, "CreateUser") => ok(json!({"User": {"UserId": "3000", "UserName": req.q("UserName")}})),
        (_, action) if !action.starts_with("List") && !action.starts_with("Get") => {
            match writes(req) {
                (404, _) => ok(json!({})),
                answer => answer,
            }
        }
        _ => world(req),
    }
}

/// Every kind of change, each way, so every API action msctl uses is called once at least.
fn every_change() -> Vec<(Option<Resource>, Option<Resource>)> {
    let ws = |name: &str| {
        Resource::Workspace(Workspace {
            name: name.into(),
            region: "cn-beijing".into(),
            default: false,
        })
    };
    let perm = |inference| {
        Resource::ModelPermission(ModelPermission {
            workspace: "chatbot-dev".into(),
            model: "qwen-plus".into(),
            inference,
            fine_tune: true,
            deploy: false,
        })
    };
    let limit = |requests| {
        Resource::ModelLimit(ModelLimit {
            workspace: "chatbot-dev".into(),
            model: "qwen-plus".into(),
            requests,
            request_period: 60,
            tokens: None,
            usage_period: None,
        })
    };
    let user = |d: &str| {
        Resource::RamUser(RamUser {
            name: "dave".into(),
            display_name: Some(d.into()),
            comments: None,
        })
    };
    let group = |c: &str| {
        Resource::RamGroup(crate::model::RamGroup {
            name: "ops".into(),
            comments: Some(c.into()),
        })
    };
    let role = |d: u32| {
        Resource::RamRole(RamRole {
            name: "r1".into(),
            description: Some("d".into()),
            trust_policy: serde_json::from_str(ROLE_TRUST).unwrap(),
            max_session_duration: d,
        })
    };
    let policy = |action: &str| {
        Resource::RamPolicy(RamPolicy {
            name: "p2".into(),
            description: Some(action.into()),
            document: json!({"Version": "1", "Statement": [
                {"Effect": "Allow", "Action": action, "Resource": "*"}]}),
        })
    };
    let attach = |p: Principal| {
        Resource::Attachment(Attachment {
            principal: p,
            policy: "AliyunBailianReadOnlyAccess".into(),
            policy_type: PolicyType::System,
        })
    };
    let pai_ws = |d: &str| {
        Resource::PaiWorkspace(crate::model::PaiWorkspace {
            name: "lang_new".into(),
            region: "cn-hangzhou".into(),
            display_name: None,
            description: d.into(),
            env_types: vec!["prod".into()],
        })
    };
    let pai_member = |roles: &[&str]| {
        Resource::PaiMember(PaiMember {
            workspace: "lang_prod".into(),
            user: "alice".into(),
            roles: set(roles),
        })
    };
    let member = Resource::GroupMember(GroupMember {
        group: "devs".into(),
        user: "bob".into(),
    });
    let on = Resource::ApiKey(key(Some(&["qwen-plus"]), &[], false));
    let off = Resource::ApiKey(ApiKey {
        description: "renamed".into(),
        enabled: true,
        ..key(Some(&["qwen-plus"]), &[], false)
    });
    let both = |a: Resource, b: Resource| {
        vec![
            (None, Some(a.clone())),
            (Some(a), Some(b.clone())),
            (Some(b), None),
        ]
    };
    let mut all = vec![(None, Some(ws("brand-new")))];
    all.extend(both(perm(true), perm(false)));
    all.extend(both(limit(10), limit(20)));
    all.extend(both(on, off));
    all.extend(both(user("Dave"), user("David")));
    all.extend(both(group("a"), group("b")));
    all.push((None, Some(member.clone())));
    all.push((Some(member), None));
    all.extend(both(role(3600), role(7200)));
    all.extend(both(policy("sfm:A"), policy("sfm:B")));
    for p in [
        Principal::User("alice".into()),
        Principal::Group("devs".into()),
        Principal::Role("ops-role".into()),
    ] {
        all.push((None, Some(attach(p.clone()))));
        all.push((Some(attach(p)), None));
    }
    all.extend(both(pai_ws("a"), pai_ws("b")));
    all.extend(both(
        pai_member(&["PAI.AlgoDeveloper"]),
        pai_member(&["PAI.AlgoOperator"]),
    ));
    all.push((Some(ws("chatbot-dev")), None));
    all
}

#[test]
fn the_operator_policy_is_valid_and_grants_every_call_msctl_makes() {
    let text = include_str!("../../../examples/operator-policy.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let problems = crate::policy::validate(&doc, crate::policy::PolicyKind::Permission);
    assert!(problems.is_empty(), "{problems:?}");
    let granted: BTreeSet<String> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(granted.iter().all(|a| !a.contains('*')), "least privilege");

    let server = serve(permissive);
    let backend = backend(&server);
    backend.read(&full_scope()).unwrap();
    for (before, after) in every_change() {
        let op = match (&before, &after) {
            (None, Some(a)) => Operation::Create(a),
            (Some(b), Some(a)) => Operation::Update {
                before: b,
                after: a,
            },
            (Some(b), None) => Operation::Delete(b),
            (None, None) => unreachable!(),
        };
        let address = op.resource().address();
        backend
            .apply(op)
            .unwrap_or_else(|e| panic!("{address}: {e}"));
    }
    let namespace = |version: &str| match version {
        "2026-02-10" => "modelstudio",
        "2015-05-01" => "ram",
        "2021-02-04" => "paiworkspace",
        other => panic!("unknown version {other}"),
    };
    let called: BTreeSet<String> = server
        .seen()
        .iter()
        .map(|r| format!("{}:{}", namespace(&r.version), r.action))
        .collect();
    let missing: Vec<&String> = called.difference(&granted).collect();
    assert!(missing.is_empty(), "not granted: {missing:?}");
    // Every write msctl can make was exercised (the Get* lookups serve only retried creates).
    let unused: Vec<&String> = granted
        .difference(&called)
        .filter(|a| !a.contains(":Get") && !a.ends_with(":DeletePolicyVersion"))
        .collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
}

#[test]
fn writes_wait_for_objects_just_created_but_not_for_others() {
    let lagging = Arc::new(Mutex::new(0));
    let count = Arc::clone(&lagging);
    let server = serve(move |req| match req.action.as_str() {
        "CreateUser" => ok(json!({"User": {"UserId": "3000", "UserName": req.q("UserName")}})),
        // The new user is unknown to the group API for two calls.
        "AddUserToGroup" => {
            let mut n = count.lock().unwrap();
            *n += 1;
            let lag = req.q("UserName") == Some("new") && *n <= 2;
            if lag || req.q("UserName") == Some("ghost") {
                (
                    404,
                    json!({"Code": "EntityNotExist.User", "Message": "The user does not exist."}),
                )
            } else {
                ok(json!({}))
            }
        }
        other => not_found(other),
    });
    let backend = backend(&server);
    let user = Resource::RamUser(RamUser {
        name: "new".into(),
        display_name: None,
        comments: None,
    });
    backend.apply(Operation::Create(&user)).unwrap();
    let join = |user: &str| {
        Resource::GroupMember(GroupMember {
            group: "devs".into(),
            user: user.into(),
        })
    };
    backend.apply(Operation::Create(&join("new"))).unwrap();
    assert_eq!(server.find("AddUserToGroup").len(), 3);
    // A user msctl did not just create is missing for real: no waiting, no retries.
    let err = backend
        .apply(Operation::Create(&join("ghost")))
        .unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err:?}");
    assert_eq!(server.find("AddUserToGroup").len(), 4);
}

/// Issue 8: a `CreateApiKey` whose answer is lost after the key was made (here a 500 after the
/// work) is not sent again: the key is found, adopted, and its secret reset and delivered.
#[test]
fn a_key_create_whose_answer_was_lost_is_adopted_and_its_secret_reset() {
    let keys: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let made = Arc::clone(&keys);
    let server = serve(move |req| match req.action.as_str() {
        "CreateApiKey" => {
            let mut keys = made.lock().unwrap();
            let id = 500 + keys.len() as i64;
            keys.push(json!({"apiKeyId": id, "workspaceId": req.q("workspaceId"),
                "description": req.q("description"), "auth": {"type": "All"}}));
            (
                500,
                json!({"code": "InternalError", "success": false, "message": "lost"}),
            )
        }
        "ListApiKeys" => ok(json!({"apiKeys": made.lock().unwrap().clone()})),
        "ResetApiKey" => ok(json!({"apiKey": {"apiKeyId": 500, "workspaceId": "ws-1",
            "apiKeyValue": "sk-ws-RESET.0123"}})),
        _ => world(req),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.txt");
    let backend = backend(&server)
        .with_secrets_to(&path)
        .with_ledger(dir.path().join("ledger.db"));
    read_first(&backend);
    let k = Resource::ApiKey(key(None, &[], true));
    backend.apply(Operation::Create(&k)).unwrap();

    assert_eq!(server.find("CreateApiKey").len(), 1, "sent once");
    assert_eq!(keys.lock().unwrap().len(), 1, "no second key");
    let reset = server.find("ResetApiKey");
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].path, "/modelstudio/apikeys/500/reset");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "workspace.chatbot-dev.apikey.k1=sk-ws-RESET.0123\n"
    );
    assert!(backend.load_ledger().unwrap().owed_secrets.is_empty());
}

/// Issue 8: a conflict to a create's retry means the first attempt went through only when that
/// attempt's answer was lost; a workspace create answered 503 then `Workspace.AlreadyExists`
/// adopts the workspace, a first-attempt conflict does not.
#[test]
fn a_workspace_conflict_is_adopted_only_after_an_ambiguous_attempt() {
    let creates = Arc::new(Mutex::new(0u32));
    let seen_creates = Arc::clone(&creates);
    let server = serve(
        move |req| match (req.version.as_str(), req.action.as_str()) {
            ("2026-02-10", "CreateWorkspace") => {
                let mut n = seen_creates.lock().unwrap();
                *n += 1;
                match *n {
                    // The second attempt of the first create: the first one's answer was a 503.
                    1 => (503, json!({"code": "ServiceUnavailable", "success": false})),
                    _ => (
                        409,
                        json!({"code": "Workspace.AlreadyExists", "success": false,
                        "message": "exists"}),
                    ),
                }
            }
            _ => world(req),
        },
    );
    let backend = backend(&server);
    let ws = Resource::Workspace(Workspace {
        name: "chatbot-dev".into(),
        region: "cn-beijing".into(),
        default: false,
    });
    // 503: looked for, found (the listing has it), adopted without a second create.
    backend.apply(Operation::Create(&ws)).unwrap();
    assert_eq!(server.find("CreateWorkspace").len(), 1);
    // A plain conflict: an error, though a workspace of that name exists.
    let err = backend.apply(Operation::Create(&ws)).unwrap_err();
    assert!(matches!(&err, BackendError::Conflict(_)), "{err:?}");
}

/// A read where one listing's second page fails more often than the client retries a call: the
/// listing goes to the back of the queue, runs again after the others, and resumes at that page.
#[test]
fn a_page_that_keeps_failing_is_retried_after_the_others_and_resumes_there() {
    let failures = Arc::new(Mutex::new(0));
    let count = Arc::clone(&failures);
    let server = serve(move |req| {
        if req.action == "ListUsers" && req.q("Marker") == Some("m2") {
            let mut n = count.lock().unwrap();
            *n += 1;
            if *n <= 3 {
                return (
                    503,
                    json!({"Code": "ServiceUnavailable", "Message": "try later"}),
                );
            }
        }
        world(req)
    });
    // One thread: the order of the listings is deterministic.
    let backend = backend(&server).with_parallelism(1);
    let state = backend.read(&full_scope()).unwrap();
    assert!(
        state
            .get(&"ram.user.bob".parse::<Address>().unwrap())
            .is_some()
    );

    let seen = server.seen();
    let users: Vec<Option<&str>> = seen
        .iter()
        .filter(|r| r.action == "ListUsers" && r.q("GroupName").is_none())
        .map(|r| r.q("Marker"))
        .collect();
    // Two attempts, then (requeued) two more: the first page was read once, not again.
    assert_eq!(
        users,
        [None, Some("m2"), Some("m2"), Some("m2"), Some("m2")]
    );
    let position = |pred: &dyn Fn(&Req) -> bool| seen.iter().rposition(pred).unwrap();
    let last_users = position(&|r| r.action == "ListUsers" && r.q("Marker") == Some("m2"));
    let pai_listing = position(&|r| r.action == "ListWorkspaces" && r.version == "2021-02-04");
    assert!(
        pai_listing < last_users,
        "the failed listing ran again after the other listings"
    );
    // The next read starts afresh: nothing is resumed outside the read that failed.
    let before = server.seen().len();
    backend.read(&full_scope()).unwrap();
    let again: Vec<Option<String>> = server.seen()[before..]
        .iter()
        .filter(|r| r.action == "ListUsers" && r.q("GroupName").is_none())
        .map(|r| r.q("Marker").map(str::to_string))
        .collect();
    assert_eq!(again, [None, Some("m2".to_string())]);
}

/// A listing that fails until the run's budget is spent fails the read, naming the listing and
/// the error; a refusal fails it at once.
#[test]
fn a_read_that_cannot_finish_in_its_budget_names_the_listing_that_failed() {
    let server = serve(|req| match req.action.as_str() {
        "ListRoles" => (
            503,
            json!({"Code": "ServiceUnavailable", "Message": "down for maintenance"}),
        ),
        _ => world(req),
    });
    let short = AliyunBackend::with_client_config(
        Credentials::new("testAK", "testSecret"),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&server.endpoint).unwrap()),
            retry: RetryPolicy {
                max_attempts: 2,
                max_elapsed: Duration::from_secs(2),
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            budget: Duration::from_secs(2),
            ..ClientConfig::default()
        },
        ["cn-beijing".to_string()],
    );
    let err = short.read(&full_scope()).unwrap_err();
    let BackendError::Transport(message) = &err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert!(
        message.starts_with("failed to call `ListRoles`: HTTP 503 ServiceUnavailable"),
        "{message}"
    );
    assert!(message.contains("retry budget is spent"), "{message}");
    assert!(
        server.find("ListRoles").len() >= 4,
        "ran again before failing"
    );

    let server = serve(|req| match req.action.as_str() {
        "ListGroups" => (
            403,
            json!({"Code": "NoPermission", "Message": "denied",
                   "AccessDeniedDetail": {"AuthAction": "ram:ListGroups"}}),
        ),
        _ => world(req),
    });
    let err = backend(&server).read(&full_scope()).unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("ListGroups")),
        "{err:?}"
    );
    assert_eq!(
        server.find("ListGroups").len(),
        1,
        "a refusal is not run again"
    );
}

#[test]
fn a_rename_sends_the_new_name_and_a_repeated_one_is_done_only_when_the_new_name_exists() {
    let server = serve(move |req| match (req.action.as_str(), req.q("UserName")) {
        // The rename went through on an attempt whose answer was lost: the old name is gone.
        ("UpdateUser", Some("bob")) => (
            404,
            json!({"Code": "EntityNotExist.User", "Message": "The user does not exist."}),
        ),
        ("UpdateUser", _) | ("UpdateGroup", _) => ok(json!({})),
        ("GetUser", Some("robert")) => ok(json!({"User": {"UserId": "7", "UserName": "robert"}})),
        ("GetUser", _) => (
            404,
            json!({"Code": "EntityNotExist.User", "Message": "The user does not exist."}),
        ),
        _ => world(req),
    });
    let backend = backend(&server);
    let user = |name: &str| {
        Resource::RamUser(RamUser {
            name: name.into(),
            display_name: None,
            comments: None,
        })
    };
    backend
        .apply(Operation::Update {
            before: &user("bob"),
            after: &user("robert"),
        })
        .unwrap();
    let sent = &server.find("UpdateUser")[0];
    assert_eq!(sent.q("UserName"), Some("bob"));
    assert_eq!(sent.q("NewUserName"), Some("robert"));
    assert_eq!(server.find("GetUser").len(), 1);
    // Neither name exists: the rename fails.
    let err = backend
        .apply(Operation::Update {
            before: &user("bob"),
            after: &user("bobby"),
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err:?}");
    // A group rename names the old group and sends the new name.
    let group = |name: &str| {
        Resource::RamGroup(crate::model::RamGroup {
            name: name.into(),
            comments: None,
        })
    };
    backend
        .apply(Operation::Update {
            before: &group("devs"),
            after: &group("engineers"),
        })
        .unwrap();
    let sent = &server.find("UpdateGroup")[0];
    assert_eq!(sent.q("GroupName"), Some("devs"));
    assert_eq!(sent.q("NewGroupName"), Some("engineers"));
}
