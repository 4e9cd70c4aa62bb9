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
