//! Tests of the emulator's routing, regions and error bodies.

use super::*;

fn req(headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: "/".into(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
        keep_alive: true,
    }
}

#[test]
fn routes_match_method_and_template() {
    let route = Route {
        action: "DeleteWorkspace",
        method: "DELETE",
        path: "/modelstudio/workspaces/*",
    };
    assert_eq!(
        match_route(&route, "DELETE", "/modelstudio/workspaces/ws-a%2Fb%20c+d"),
        Some(vec!["ws-a/b c+d".to_string()])
    );
    assert_eq!(
        match_route(&route, "GET", "/modelstudio/workspaces/x"),
        None
    );
    assert_eq!(
        match_route(&route, "DELETE", "/modelstudio/workspaces/"),
        None
    );
    assert_eq!(
        match_route(&route, "DELETE", "/modelstudio/workspaces/a/b"),
        None
    );
    assert_eq!(decode_path_segment("%zz%4"), "%zz%4");
}

#[test]
fn region_comes_from_header_then_host_then_default() {
    assert_eq!(
        region_of(&req(&[("host", "127.0.0.1:1")]), "cn-beijing"),
        "cn-beijing"
    );
    assert_eq!(
        region_of(
            &req(&[("host", "modelstudio.ap-southeast-1.aliyuncs.com")]),
            "cn-beijing"
        ),
        "ap-southeast-1"
    );
    assert_eq!(
        region_of(
            &req(&[
                ("Host", "ram.aliyuncs.com"),
                ("x-acs-region-id", "us-east-1")
            ]),
            "cn-beijing"
        ),
        "us-east-1"
    );
    assert_eq!(
        region_of(&req(&[("x-acs-region-id", "../etc")]), "cn-beijing"),
        "cn-beijing"
    );
}

#[test]
fn error_bodies_follow_each_products_style() {
    let f = Failure::new(404, "EntityNotExist.User", "The user does not exist.");
    let ram = error_body(Some(Product::Ram), "R-1", &f, "cn-beijing");
    assert_eq!(ram["Code"], "EntityNotExist.User");
    assert_eq!(ram["RequestId"], "R-1");
    assert_eq!(ram["HostId"], "ram.aliyuncs.com");
    let ms = error_body(Some(Product::ModelStudio), "r-8", &f, "cn-beijing");
    assert_eq!(ms["code"], "EntityNotExist.User");
    assert_eq!(ms["success"], false);
    assert_eq!(ms["httpStatusCode"], 404);
    assert_eq!(ms["errorMessage"], ms["message"]);
    let ok = with_request_id(Some(Product::Ram), "R-2", json!({"User": {}}));
    assert_eq!(ok.as_object().unwrap().keys().next().unwrap(), "RequestId");
}

/// Hostile but well-signed input on every route of every product: answered with a 4xx (or
/// a success), never a 500, a dropped connection or a dead worker.
#[test]
fn every_route_survives_garbage_parameters() {
    use crate::backend::aliyun::{Body, CallError, Client, ClientConfig, Endpoint, Method};
    use crate::backend::aliyun::{RequestSpec, RetryPolicy};

    let dir = tempfile::tempdir().unwrap();
    let credentials = Credentials::new("ak", "secret");
    let emu = spawn(EmulatorConfig::new(
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
        (Product::ModelStudio, modelstudio::ROUTES),
        (Product::Ram, ram::ROUTES),
        (Product::AiWorkspace, pai::ROUTES),
        (Product::Sts, sts::ROUTES),
    ];
    for (product, routes) in products {
        for route in routes {
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
