//! The audit log of admin actions: who did what to what, and when. Every
//! service that takes admin actions has an `admin_audit` table of this shape
//! in its own database (its migrations create it) and writes the entry in
//! the same transaction as the change, so there is no change without one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use scout_proto::scout::common::v1::{AuditEntry, Pagination};

use crate::adapters::db::{AnyConnection, DbError};
use crate::paging::{page_and_size, pagination};

diesel::table! {
    admin_audit (id) {
        id -> BigInt,
        admin_id -> BigInt,
        action -> Varchar,
        target -> Varchar,
        detail -> Text,
        created_at -> Timestamp,
    }
}

/// An audit log row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admin_audit)]
pub struct AuditRow {
    /// Entry id.
    pub id: i64,
    /// The admin who acted.
    pub admin_id: i64,
    /// What they did.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Details.
    pub detail: String,
    /// When.
    pub created_at: NaiveDateTime,
}

impl AuditRow {
    /// The API form.
    pub fn to_proto(&self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            admin_id: self.admin_id,
            action: self.action.clone(),
            target: self.target.clone(),
            detail: self.detail.clone(),
            created_at: Some(crate::proto_json::timestamp(self.created_at)),
        }
    }
}

/// Writes one entry (call it inside the change's transaction).
pub fn record(
    conn: &mut AnyConnection,
    admin_id: i64,
    action: &str,
    target: &str,
    detail: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(admin_audit::table)
        .values((
            admin_audit::admin_id.eq(admin_id),
            admin_audit::action.eq(action),
            admin_audit::target.eq(target),
            admin_audit::detail.eq(detail),
            admin_audit::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// One page of the log, newest first, with its pagination block.
pub fn page(
    conn: &mut AnyConnection,
    page: i32,
    size: i32,
) -> Result<(Vec<AuditEntry>, Pagination), DbError> {
    let (page, size) = page_and_size(page, size);
    let offset = i64::from(page - 1) * i64::from(size);
    let total: i64 = admin_audit::table.count().get_result(conn)?;
    let rows = admin_audit::table
        .order(admin_audit::id.desc())
        .offset(offset)
        .limit(i64::from(size))
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok((
        rows.iter().map(AuditRow::to_proto).collect(),
        pagination(page, size, total),
    ))
}
