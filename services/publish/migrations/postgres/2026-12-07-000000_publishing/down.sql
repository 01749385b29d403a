DROP TABLE publication_stats;
DROP TABLE publications;
DROP TABLE platform_accounts;
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
