ALTER TABLE tasks DROP COLUMN voice_speed;
ALTER TABLE tasks DROP COLUMN provider_note;
ALTER TABLE tasks DROP COLUMN failed_at;
ALTER TABLE tasks DROP COLUMN failure_attempts;
ALTER TABLE tasks DROP COLUMN failure_code;
ALTER TABLE tasks DROP COLUMN failure_step;
