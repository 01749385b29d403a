//! One contract, two databases: SQLite and PostgreSQL through the same
//! diesel code path (`AnyConnection`) and per-backend migrations.

use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use scout_common::adapters::db::{AnyConnection, Backend, Db, DbError, Migrations};
use scout_common::testing;

const PG: EmbeddedMigrations = embed_migrations!("tests/migrations/postgres");
const LITE: EmbeddedMigrations = embed_migrations!("tests/migrations/sqlite");

fn migrations() -> Migrations {
    Migrations {
        postgres: PG,
        sqlite: LITE,
    }
}

diesel::table! {
    owners (id) {
        id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    notes (id) {
        id -> BigInt,
        owner_id -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(notes -> owners (owner_id));
diesel::allow_tables_to_appear_in_same_query!(owners, notes);

fn add_owner(conn: &mut AnyConnection, name: &str) -> Result<i64, DbError> {
    diesel::insert_into(owners::table)
        .values(owners::name.eq(name))
        .execute(conn)?;
    Ok(owners::table
        .filter(owners::name.eq(name))
        .select(owners::id)
        .first(conn)?)
}

async fn contract(url: &str, backend: Backend) {
    let db = Db::open(url, migrations(), 4)
        .await
        .expect("open and migrate");
    assert_eq!(db.backend(), backend);
    db.ping().await.expect("ping");
    // Migrations are idempotent: opening again applies nothing and fails nothing.
    let db2 = Db::open(url, migrations(), 2).await.expect("reopen");
    drop(db2);

    // Text is stored verbatim, whatever it holds; SQL in it is data.
    let weird = "海底捞火锅(望京店) 🍲 'Robert'); DROP TABLE notes;-- \u{202e}RTL";
    let w = weird.to_string();
    let (owner, body) = db
        .run(move |c| {
            let owner = add_owner(c, "reviewer-a")?;
            diesel::insert_into(notes::table)
                .values((
                    notes::owner_id.eq(owner),
                    notes::body.eq(&w),
                    notes::created_at.eq(scout_common::adapters::db::now()),
                ))
                .execute(c)?;
            let body: String = notes::table
                .filter(notes::owner_id.eq(owner))
                .select(notes::body)
                .first(c)?;
            Ok((owner, body))
        })
        .await
        .expect("insert and read");
    assert_eq!(body, weird);

    // A unique violation is a Conflict.
    let err = db
        .run(|c| add_owner(c, "reviewer-a"))
        .await
        .expect_err("duplicate refused");
    assert!(matches!(err, DbError::Conflict(_)), "{err:?}");

    // A dangling foreign key is refused (SQLite enforces it too).
    let err = db
        .run(|c| {
            diesel::insert_into(notes::table)
                .values((
                    notes::owner_id.eq(999_999),
                    notes::body.eq("x"),
                    notes::created_at.eq(scout_common::adapters::db::now()),
                ))
                .execute(c)
                .map_err(DbError::from)
        })
        .await
        .expect_err("dangling key refused");
    assert!(matches!(err, DbError::ForeignKey(_)), "{err:?}");

    // A failed transaction leaves nothing behind.
    let err = db
        .transaction(|c| {
            add_owner(c, "reviewer-b")?;
            Err::<(), _>(DbError::Other("boom".into()))
        })
        .await
        .expect_err("rolled back");
    assert!(matches!(err, DbError::Other(_)));
    let count: i64 = db
        .run(|c| {
            Ok(owners::table
                .filter(owners::name.eq("reviewer-b"))
                .count()
                .get_result(c)?)
        })
        .await
        .expect("count");
    assert_eq!(count, 0, "rolled-back insert is visible");

    // Missing rows are NotFound; cascades delete children.
    let err = db
        .run(|c| {
            Ok(owners::table
                .find(123_456_i64)
                .select(owners::name)
                .first::<String>(c)?)
        })
        .await
        .expect_err("missing");
    assert!(matches!(err, DbError::NotFound));
    db.run(move |c| Ok(diesel::delete(owners::table.find(owner)).execute(c)?))
        .await
        .expect("delete owner");
    let left: i64 = db
        .run(|c| Ok(notes::table.count().get_result(c)?))
        .await
        .expect("count");
    assert_eq!(left, 0, "cascade did not delete notes");

    // Concurrent writers through the pool all land.
    let mut handles = Vec::new();
    for i in 0..20 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            db.run(move |c| add_owner(c, &format!("writer-{i}"))).await
        }));
    }
    for h in handles {
        h.await.expect("join").expect("concurrent insert");
    }
    let n: i64 = db
        .run(|c| {
            Ok(owners::table
                .filter(owners::name.like("writer-%"))
                .count()
                .get_result(c)?)
        })
        .await
        .expect("count");
    assert_eq!(n, 20);
}

#[tokio::test]
async fn sqlite_meets_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/nested/scout.sqlite", dir.path().display());
    contract(&url, Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_meets_the_contract() {
    let db = testing::postgres_database();
    contract(&db.url, Backend::Postgres).await;
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let err = Db::open("postgres://postgres@127.0.0.1:1/none", migrations(), 1)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, DbError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
