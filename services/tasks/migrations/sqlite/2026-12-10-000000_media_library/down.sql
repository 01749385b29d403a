ALTER TABLE videos DROP COLUMN source_video_id;
