-- What each task's output says was machine-made (its AI-generated-content
-- labels, JSON: generated, mark), recorded when its compose job is queued.
CREATE TABLE output_labels (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    aigc TEXT NOT NULL
);

-- Where each clip's subject is in its analysed frames (JSON list of
-- FocusPoint: time_seconds, x, y, face), for the face-aware crop.
ALTER TABLE videos ADD COLUMN focus TEXT NOT NULL DEFAULT '[]';
