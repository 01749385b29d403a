//! The admin panel's API: the role granted with `scout admin grant PHONE`
//! and carried in the token; every admin route refused to a normal user
//! (at the edge, and by the service itself when called past the edge);
//! users searched, a tier changed, an account disabled so its refresh
//! fails at once; every action in the audit log.

mod support;

use std::process::Command;

use scout_common::ServiceName;
use scout_proto::scout::identity::v1::SearchUsersRequest;
use scout_proto::scout::identity::v1::identity_admin_service_client::IdentityAdminServiceClient;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn admins_manage_users_and_everyone_else_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    let mesh = scout::mesh::Mesh::start(config.clone())
        .await
        .expect("mesh starts");
    let base = mesh.edge_url();
    let boss = login(&base, dir.path()).await;
    let user = login(&base, dir.path()).await;

    // Every admin route in the document, refused to a normal user.
    let doc: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let mut routes = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/v1/admin/") {
            continue;
        }
        for verb in ops.as_object().expect("operations").keys() {
            let url = format!(
                "{base}{}",
                path.replace("{user_id}", &user.user_id.to_string())
                    .replace("{task_id}", "1")
            );
            let method = verb.to_uppercase().parse().expect("verb");
            let (status, body) = rest_call(method, &url, &user.access, Some(json!({}))).await;
            assert_eq!(status, 403, "{verb} {path}: {body}");
            assert_eq!(body["code"], 40101, "{verb} {path}: {body}");
            routes += 1;
        }
    }
    assert!(
        routes >= 15,
        "the admin routes are in the document: {routes}"
    );
    // ... and by identity itself, past the edge.
    let mut direct = IdentityAdminServiceClient::new(authed_channel(
        &mesh.service_url(ServiceName::Identity),
        &user.access,
    ));
    let refused = direct
        .search_users(SearchUsersRequest::default())
        .await
        .expect_err("a normal user at identity itself");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // Granted from the command line; the next token carries it.
    let config_path = dir.path().join("scout.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
    let granted = Command::new(scout_bin())
        .arg("--config")
        .arg(&config_path)
        .args(["admin", "grant", &boss.phone])
        .env_remove("SCOUT_CONFIG")
        .output()
        .expect("scout admin grant");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    let unknown = Command::new(scout_bin())
        .arg("--config")
        .arg(&config_path)
        .args(["admin", "grant", "13900000000"])
        .env_remove("SCOUT_CONFIG")
        .output()
        .expect("scout admin grant");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("must log in once"));
    let admin = refresh(&base, &boss.refresh).await.access;

    // Search, change a tier.
    let tail = &user.phone[7..];
    let (status, found) = rest_call(
        reqwest::Method::GET,
        &format!("{base}/api/v1/admin/users?query={tail}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert!(
        found["data"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|u| u["id"] == user.user_id),
        "{found}"
    );
    let (status, changed) = rest_call(
        reqwest::Method::PUT,
        &format!("{base}/api/v1/admin/users/{}/membership", user.user_id),
        &admin,
        Some(json!({"membership_type": "pro", "reason": "paid"})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["data"]["membership_type"], "pro");

    // Disable: the user's refresh fails at once, and so does logging in.
    let (status, disabled) = rest_call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/admin/users/{}/disable", user.user_id),
        &admin,
        Some(json!({"reason": "abuse"})),
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["data"]["disabled"], true);
    let (status, after) = rest_call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/auth/refresh"),
        "",
        Some(json!({"refresh_token": user.refresh})),
    )
    .await;
    assert_eq!(status, 401, "{after}");

    // Who did what, newest first.
    let (_, log) = rest_call(
        reqwest::Method::GET,
        &format!("{base}/api/v1/admin/audit-log"),
        &admin,
        None,
    )
    .await;
    let items = log["data"]["items"].as_array().expect("entries");
    assert_eq!(items.len(), 2, "{log}");
    assert_eq!(items[0]["action"], "disable_user");
    assert_eq!(items[1]["action"], "set_membership");
    for e in items {
        assert_eq!(e["admin_id"], boss.user_id);
        assert_eq!(e["target"], format!("user:{}", user.user_id));
        assert!(e["created_at"].is_string());
    }
}
