ALTER TABLE publish_assists DROP COLUMN script_version;
