//! Tasks through the edge: create (validated, stored verbatim), list
//! (paginated, newest first, filtered), get, delete (rows and objects), and
//! isolation between users. Runs on SQLite and on PostgreSQL.

mod support;

use scout::mesh::Mesh;
use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, DeleteTaskRequest, GetTaskRequest, ListTasksRequest, TaskStatus,
};
use support::*;

type Tasks = TasksServiceClient<AuthedChannel>;

fn request(name: &str) -> CreateTaskRequest {
    CreateTaskRequest {
        shop_name: name.into(),
        shop_type: 1,
        promotion_text: "人均89，招牌毛肚七上八下".into(),
        video_style: 1,
        ..CreateTaskRequest::default()
    }
}

async fn tasks_crud(postgres: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    // This test creates more tasks a minute than a user may (10/60 s).
    config.edge.rate_limits.create_task.limit = 1000;
    let mut _db: Option<TestDatabase> = None;
    if postgres {
        let db = testing::postgres_database();
        config.tasks.database_url = db.url.clone();
        _db = Some(db);
    }
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let a = login(&base, dir.path()).await;
    let b = login(&base, dir.path()).await;
    let mut ta: Tasks = TasksServiceClient::new(authed_channel(&base, &a.access));
    let mut tb: Tasks = TasksServiceClient::new(authed_channel(&base, &b.access));

    // Created as given, in CREATED, with 5 regenerations.
    let name = "海底捞火锅(望京店) 🍲 '); DROP TABLE tasks;--";
    let task = ta
        .create_task(request(name))
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(task.status, TaskStatus::Created as i32);
    let shop = task.shop.clone().expect("shop");
    assert_eq!(shop.name, name);
    assert_eq!(shop.promotion_text, "人均89，招牌毛肚七上八下");
    assert_eq!((shop.r#type, shop.style), (1, 1));
    assert_eq!(task.regenerate_remaining, 5);
    assert_eq!(task.video_count, 0);
    assert!(task.failure.is_none());

    // REST in the seed's shape.
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/tasks"))
        .bearer_auth(&a.access)
        .json(&serde_json::json!({
            "shop_name": "探鱼(三里屯店)",
            "shop_type": "food",
            "promotion_text": "",
            "video_style": "vlog"
        }))
        .send()
        .await
        .expect("rest")
        .json()
        .await
        .expect("json");
    assert_eq!(created["code"], 0, "{created}");
    assert_eq!(created["data"]["status"], "created");
    assert_eq!(created["data"]["shop"]["style"], "vlog");

    // Invalid input names the field.
    let long = "店".repeat(201);
    for (req, field) in [
        (request(""), "shop_name"),
        (request("   "), "shop_name"),
        (request(&long), "shop_name"),
        (request("a\u{0}b"), "shop_name"),
        (
            CreateTaskRequest {
                shop_type: 0,
                ..request("x")
            },
            "shop_type",
        ),
        (
            CreateTaskRequest {
                shop_type: 99,
                ..request("x")
            },
            "shop_type",
        ),
        (
            CreateTaskRequest {
                promotion_text: "惠".repeat(501),
                ..request("x")
            },
            "promotion_text",
        ),
    ] {
        let err = ta.create_task(req).await.expect_err(field);
        let e = ApiError::from_status(&err);
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
        assert_eq!(
            e.metadata.get("field").map(String::as_str),
            Some(field),
            "{e}"
        );
    }
    // 200 characters exactly is fine.
    ta.create_task(request(&"店".repeat(200)))
        .await
        .expect("200 characters");

    // Pagination: 12 tasks in all now for A, newest first.
    for i in 0..9 {
        ta.create_task(request(&format!("店{i}")))
            .await
            .expect("create");
    }
    let page = |page: i32, page_size: i32| {
        let mut t = ta.clone();
        async move {
            t.list_tasks(ListTasksRequest {
                page,
                page_size,
                status: 0,
            })
            .await
            .expect("list")
            .into_inner()
        }
    };
    let first = page(1, 5).await;
    let p = first.pagination.expect("pagination");
    assert_eq!((p.page, p.page_size, p.total, p.total_pages), (1, 5, 12, 3));
    assert_eq!(first.items.len(), 5);
    assert_eq!(first.items[0].shop.as_ref().expect("shop").name, "店8");
    let last = page(3, 5).await;
    assert_eq!(last.items.len(), 2);
    assert_eq!(last.items[1].id, task.id, "oldest last");
    let defaults = page(0, 0).await.pagination.expect("pagination");
    assert_eq!((defaults.page, defaults.page_size), (1, 10));
    let beyond = page(9, 5).await;
    assert!(beyond.items.is_empty());
    for (page, size, field) in [(-1, 5, "page"), (1, 101, "page_size"), (1, -3, "page_size")] {
        let err = ta
            .list_tasks(ListTasksRequest {
                page,
                page_size: size,
                status: 0,
            })
            .await
            .expect_err(field);
        assert_eq!(
            ApiError::from_status(&err)
                .metadata
                .get("field")
                .map(String::as_str),
            Some(field)
        );
    }
    let created_only = ta
        .list_tasks(ListTasksRequest {
            page: 1,
            page_size: 100,
            status: TaskStatus::Created as i32,
        })
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(created_only.items.len(), 12);
    let none = ta
        .list_tasks(ListTasksRequest {
            page: 1,
            page_size: 100,
            status: TaskStatus::Completed as i32,
        })
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(none.pagination.expect("p").total, 0);
    // REST: the seed's paginated envelope.
    let listed: serde_json::Value = get_json(
        &format!("{base}/api/v1/tasks?page=2&page_size=5"),
        &a.access,
    )
    .await;
    assert_eq!(listed["data"]["pagination"]["total"], 12, "{listed}");
    assert_eq!(listed["data"]["items"].as_array().map(Vec::len), Some(5));

    // B sees none of it: NOT_FOUND, not PERMISSION_DENIED, REST and gRPC alike.
    let b_list = tb
        .list_tasks(ListTasksRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(b_list.pagination.expect("p").total, 0);
    let err = tb
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = tb
        .delete_task(DeleteTaskRequest { task_id: task.id })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let resp = http
        .delete(format!("{base}/api/v1/tasks/{}", task.id))
        .bearer_auth(&b.access)
        .send()
        .await
        .expect("rest");
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["message"], err.message());
    ta.get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect("still A's");

    // Delete removes the task's objects too.
    let blobs = mesh.context().adapters.blobs.clone();
    let keys = [
        format!("videos/{}/{}/clip.mp4", a.user_id, task.id),
        format!("frames/{}/1/frame_1.jpg", task.id),
        format!("output/{}/final.mp4", task.id),
    ];
    for k in &keys {
        blobs
            .put(k, bytes::Bytes::from_static(b"x"), None)
            .await
            .expect("put");
    }
    let other_key = format!("videos/{}/{}/clip.mp4", a.user_id, task.id + 1);
    blobs
        .put(&other_key, bytes::Bytes::from_static(b"x"), None)
        .await
        .expect("put");
    ta.delete_task(DeleteTaskRequest { task_id: task.id })
        .await
        .expect("delete");
    for k in &keys {
        assert!(
            blobs.head(k).await.expect("head").is_none(),
            "{k} left behind"
        );
    }
    assert!(
        blobs.head(&other_key).await.expect("head").is_some(),
        "another task's object deleted"
    );
    let err = ta
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect_err("gone");
    assert_eq!(err.code(), tonic::Code::NotFound);
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn tasks_crud_sqlite() {
    tasks_crud(false).await;
}

#[tokio::test]
async fn tasks_crud_postgres() {
    tasks_crud(true).await;
}
