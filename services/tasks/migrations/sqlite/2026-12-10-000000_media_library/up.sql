-- A topic short's media library (seeds 002, 003): a clip copied into a
-- task from another of its owner's tasks names the clip it was copied
-- from, so the library lists each clip once however often it was used.
ALTER TABLE videos ADD COLUMN source_video_id BIGINT;
