-- Seed 000 §5.1: publish assists (topics, titles) and publications. Task and
-- user ids refer to rows owned by other services.
CREATE TABLE publish_assists (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    topics TEXT NOT NULL DEFAULT '[]',
    titles TEXT NOT NULL DEFAULT '[]',
    regenerate_count INTEGER NOT NULL DEFAULT 0,
    provider VARCHAR(100) NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE publications (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    platform VARCHAR(16) NOT NULL CHECK (platform IN ('douyin', 'xiaohongshu')),
    title VARCHAR(100) NOT NULL,
    topics TEXT NOT NULL DEFAULT '[]',
    status VARCHAR(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'failed')),
    external_url VARCHAR(500),
    error_message VARCHAR(500),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_publications_task_id ON publications (task_id);
