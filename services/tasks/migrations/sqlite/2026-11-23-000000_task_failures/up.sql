-- Where a failed task failed (the step RetryTask resumes), the cause's
-- business code and the attempts made; which providers produced results.
ALTER TABLE tasks ADD COLUMN failure_step VARCHAR(16);
ALTER TABLE tasks ADD COLUMN failure_code INTEGER;
ALTER TABLE tasks ADD COLUMN failure_attempts INTEGER;
ALTER TABLE tasks ADD COLUMN failed_at TIMESTAMP;
ALTER TABLE tasks ADD COLUMN provider_note VARCHAR(200) NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN voice_speed DOUBLE PRECISION NOT NULL DEFAULT 1.0;
