-- Cloning a voice needs its owner's consent, stored with the sample; and
-- how much speech the recording held when it was checked.
ALTER TABLE voice_samples ADD COLUMN consented_at TIMESTAMP;
ALTER TABLE voice_samples ADD COLUMN speech_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
