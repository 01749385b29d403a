//! The render nodes: each reports itself and its capabilities (GPU,
//! encoders) every few seconds; the admin panel lists them, with the ones
//! not heard from for three intervals shown as gone. Nodes gone for a day
//! are forgotten.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use prost::Message as _;
use scout_proto::scout::render::v1::CapabilitiesResponse;
use scout_proto::scout::tasks::v1::{RenderNode, ReportRenderNodeRequest};

use crate::State;
use crate::error::TasksError;
use crate::store::{self, RenderNodeRow};

/// `ReportRenderNode`.
pub async fn report(state: &State, r: &ReportRenderNodeRequest) -> Result<(), TasksError> {
    if r.node_id.is_empty() || r.node_id.len() > 128 {
        return Err(TasksError::invalid("node_id", "1-128 characters"));
    }
    let now = Utc::now().naive_utc();
    let row = RenderNodeRow {
        node_id: r.node_id.clone(),
        hostname: r.hostname.chars().take(255).collect(),
        version: r.version.chars().take(64).collect(),
        capabilities: r
            .capabilities
            .as_ref()
            .map(prost::Message::encode_to_vec)
            .unwrap_or_default(),
        active_composes: r.active_composes.max(0),
        interval_seconds: r.interval_seconds.clamp(1, 3600),
        started_at: now,
        last_seen_at: now,
    };
    let forget_before = now - TimeDelta::days(1);
    state
        .db
        .run(move |c| {
            store::upsert_render_node(c, &row)?;
            store::forget_render_nodes(c, forget_before)
        })
        .await?;
    Ok(())
}

fn to_proto(r: &RenderNodeRow, now: NaiveDateTime) -> RenderNode {
    let silent = now - r.last_seen_at;
    RenderNode {
        node_id: r.node_id.clone(),
        hostname: r.hostname.clone(),
        version: r.version.clone(),
        capabilities: CapabilitiesResponse::decode(r.capabilities.as_slice()).ok(),
        active_composes: r.active_composes,
        started_at: Some(scout_common::proto_json::timestamp(r.started_at)),
        last_seen_at: Some(scout_common::proto_json::timestamp(r.last_seen_at)),
        alive: silent <= TimeDelta::seconds(3 * i64::from(r.interval_seconds.max(1))),
    }
}

/// `ListRenderNodes`: live ones first, then by last heartbeat.
pub async fn list(state: &State) -> Result<Vec<RenderNode>, TasksError> {
    let rows = state.db.run(store::render_nodes).await?;
    let now = Utc::now().naive_utc();
    let mut nodes: Vec<RenderNode> = rows.iter().map(|r| to_proto(r, now)).collect();
    nodes.sort_by_key(|n| !n.alive);
    Ok(nodes)
}
