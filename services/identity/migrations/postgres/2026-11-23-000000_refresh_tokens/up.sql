-- Opaque refresh tokens (stored as SHA-256 hashes), one row per token; a
-- family is every token rotated from one login. Presenting a used token
-- revokes its family. Times are Unix seconds.
CREATE TABLE refresh_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash VARCHAR(64) NOT NULL UNIQUE,
    family_id VARCHAR(32) NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);

-- The clone job a sample is waiting for, so a repeated report is a no-op.
ALTER TABLE voice_samples ADD COLUMN clone_job_id VARCHAR(64);
