-- Publishing to the platforms (issue 19). The publications table had never
-- held a row (Publish answered UNIMPLEMENTED); it is made again with what
-- the publisher needs: a schedule, attempts, a lease, the resumable upload
-- session, the task's output files and the platform's ids.

-- A user's linked account per platform. The tokens are sealed with
-- AES-256-GCM (`ID:BASE64`, the key id first); never stored in the clear.
CREATE TABLE platform_accounts (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    platform VARCHAR(16) NOT NULL,
    external_id VARCHAR(200) NOT NULL,
    display_name VARCHAR(200) NOT NULL DEFAULT '',
    scopes TEXT NOT NULL DEFAULT '[]',
    access_token TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    problem VARCHAR(500),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (user_id, platform)
);

DROP TABLE publications;
CREATE TABLE publications (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    platform VARCHAR(16) NOT NULL CHECK (platform IN ('douyin', 'xiaohongshu', 'youtube', 'tiktok')),
    title VARCHAR(200) NOT NULL,
    topics TEXT NOT NULL DEFAULT '[]',
    description TEXT NOT NULL DEFAULT '',
    privacy VARCHAR(16) NOT NULL DEFAULT 'public',
    poi_id VARCHAR(100) NOT NULL DEFAULT '',
    status VARCHAR(16) NOT NULL CHECK (status IN ('scheduled', 'uploading', 'processing', 'published', 'failed', 'ready_to_post', 'cancelled')),
    scheduled_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until TIMESTAMP,
    upload_session TEXT NOT NULL DEFAULT 'null',
    processing_since TIMESTAMP,
    video_key VARCHAR(500) NOT NULL,
    cover_key VARCHAR(500) NOT NULL,
    ai_generated BOOLEAN NOT NULL DEFAULT FALSE,
    is_short BOOLEAN NOT NULL DEFAULT FALSE,
    post_id VARCHAR(200),
    external_url VARCHAR(500),
    account_name VARCHAR(200) NOT NULL DEFAULT '',
    error_message VARCHAR(1000),
    published_at TIMESTAMP,
    stats_due_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_publications_task_id ON publications (task_id);
CREATE INDEX idx_publications_due ON publications (status, next_attempt_at);
CREATE INDEX idx_publications_stats_due ON publications (stats_due_at);

-- Each fetch of a publication's figures (cumulative counts at that time).
CREATE TABLE publication_stats (
    id BIGSERIAL PRIMARY KEY,
    publication_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    task_id BIGINT NOT NULL,
    fetched_at TIMESTAMP NOT NULL,
    views BIGINT NOT NULL DEFAULT 0,
    likes BIGINT NOT NULL DEFAULT 0,
    comments BIGINT NOT NULL DEFAULT 0,
    shares BIGINT NOT NULL DEFAULT 0,
    watch_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX idx_publication_stats_pub ON publication_stats (publication_id, fetched_at);
CREATE INDEX idx_publication_stats_user ON publication_stats (user_id, fetched_at);
