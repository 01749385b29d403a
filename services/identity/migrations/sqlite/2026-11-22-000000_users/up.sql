-- Seed 000 §5.1: users and their voice samples. Identity owns these tables.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone VARCHAR(20) NOT NULL UNIQUE,
    nickname VARCHAR(100) NOT NULL,
    avatar_url VARCHAR(500) NOT NULL DEFAULT '',
    membership_type VARCHAR(16) NOT NULL DEFAULT 'free' CHECK (membership_type IN ('free', 'basic', 'pro')),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE voice_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL DEFAULT '',
    oss_key VARCHAR(500) NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    clone_voice_id VARCHAR(100),
    status VARCHAR(16) NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'processing', 'completed', 'failed')),
    error_message VARCHAR(500),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_voice_samples_user_id ON voice_samples (user_id);
