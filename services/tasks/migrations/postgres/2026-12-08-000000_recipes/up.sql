-- What a task makes when it is not a shop review (seed 004's music video
-- and ad creative: the product's words; seed 001's document explainer: the
-- slides' accent colour). A task without a row is a shop review.
CREATE TABLE task_recipes (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    recipe VARCHAR(32) NOT NULL,
    product_name VARCHAR(40) NOT NULL DEFAULT '',
    call_to_action VARCHAR(40) NOT NULL DEFAULT '',
    tagline VARCHAR(60) NOT NULL DEFAULT '',
    target_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    accent VARCHAR(16) NOT NULL DEFAULT ''
);

-- What each uploaded file is: clip, image (a scene), audio (the backing
-- track) or document.
ALTER TABLE videos ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'clip';
