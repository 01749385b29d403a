-- The job a task is waiting for: reports from any other job are stale and
-- change nothing (redelivery, a retry racing an old attempt).
ALTER TABLE tasks ADD COLUMN current_job_id VARCHAR(64);
ALTER TABLE tasks ADD COLUMN job_started_at TIMESTAMP;
-- One clip's analysis, per seed 000 §4.4.
ALTER TABLE videos ADD COLUMN clarity INTEGER;
ALTER TABLE videos ADD COLUMN composition INTEGER;
ALTER TABLE videos ADD COLUMN lighting INTEGER;
ALTER TABLE videos ADD COLUMN stability INTEGER;
ALTER TABLE videos ADD COLUMN frame_keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE videos ADD COLUMN analysis_provider VARCHAR(100) NOT NULL DEFAULT '';
ALTER TABLE videos ADD COLUMN analysis_job_id VARCHAR(64);
-- Who wrote the script, from which job.
ALTER TABLE scripts ADD COLUMN provider VARCHAR(100) NOT NULL DEFAULT '';
ALTER TABLE scripts ADD COLUMN job_id VARCHAR(64);
