-- The script version the suggestions were made from: a newer script
-- (edited or regenerated) makes them again.
ALTER TABLE publish_assists ADD COLUMN script_version INTEGER NOT NULL DEFAULT 0;
