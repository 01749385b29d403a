-- What each task's output says was machine-made (its AI-generated-content
-- labels, JSON: generated, mark), recorded when its compose job is queued.
CREATE TABLE output_labels (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    aigc TEXT NOT NULL
);
