-- The admin role (granted with `scout admin grant PHONE`, carried in the
-- access token), disabled accounts, and the audit log of admin actions.
ALTER TABLE users ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
CREATE TABLE admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id BIGINT NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(128) NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_admin_audit_created ON admin_audit (created_at);
