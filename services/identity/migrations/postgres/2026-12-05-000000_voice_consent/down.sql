ALTER TABLE voice_samples DROP COLUMN speech_seconds;
ALTER TABLE voice_samples DROP COLUMN consented_at;
