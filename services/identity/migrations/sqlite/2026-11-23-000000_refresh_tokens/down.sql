ALTER TABLE voice_samples DROP COLUMN clone_job_id;
DROP TABLE refresh_tokens;
