-- The admin panel: its audit log, what each task used (for the cost
-- estimate), dead-lettered jobs awaiting an admin, and the render nodes'
-- heartbeats.
CREATE TABLE admin_audit (
    id BIGSERIAL PRIMARY KEY,
    admin_id BIGINT NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(128) NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_tasks_admin_audit_created ON admin_audit (created_at);

CREATE TABLE task_usage (
    task_id BIGINT PRIMARY KEY,
    model_calls BIGINT NOT NULL DEFAULT 0,
    model_images BIGINT NOT NULL DEFAULT 0,
    model_tokens BIGINT NOT NULL DEFAULT 0,
    tts_characters BIGINT NOT NULL DEFAULT 0,
    local_tts_characters BIGINT NOT NULL DEFAULT 0,
    compute_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    downloads BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    topic VARCHAR(255) NOT NULL,
    dedup_key VARCHAR(255) NOT NULL,
    job_id VARCHAR(64) NOT NULL,
    task_id BIGINT NOT NULL,
    msg_key VARCHAR(255),
    payload BYTEA NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    state VARCHAR(16) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by BIGINT,
    UNIQUE (topic, dedup_key)
);
CREATE INDEX idx_dead_letters_state ON dead_letters (state, id);

CREATE TABLE render_nodes (
    node_id VARCHAR(128) PRIMARY KEY,
    hostname VARCHAR(255) NOT NULL,
    version VARCHAR(64) NOT NULL,
    capabilities BYTEA NOT NULL,
    active_composes INTEGER NOT NULL,
    interval_seconds INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);

-- A task made in a batch took its video of the day's quota when it was
-- created (the whole batch at once); its first compose does not take another.
CREATE TABLE prepaid_videos (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    day VARCHAR(10) NOT NULL
);
