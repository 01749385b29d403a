-- Each user's brand kit (JSON of scout.tasks.v1.BrandKit: logo, caption
-- colours, intro and outro cards, transition), put on every compose.
CREATE TABLE brand_kits (
    user_id BIGINT PRIMARY KEY,
    kit TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
