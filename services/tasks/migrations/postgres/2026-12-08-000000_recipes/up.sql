-- What a task makes when it is not a shop review (seed 004's music video
-- and ad creative): the recipe and its words. A task without a row is a
-- shop review.
CREATE TABLE task_recipes (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    recipe VARCHAR(32) NOT NULL,
    product_name VARCHAR(40) NOT NULL DEFAULT '',
    call_to_action VARCHAR(40) NOT NULL DEFAULT '',
    tagline VARCHAR(60) NOT NULL DEFAULT '',
    target_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- What each uploaded file is: clip, image (a scene) or audio (the backing
-- track).
ALTER TABLE videos ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'clip';
