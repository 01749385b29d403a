ALTER TABLE tasks DROP COLUMN output_shots;
ALTER TABLE tasks DROP COLUMN output_height;
ALTER TABLE tasks DROP COLUMN output_width;
ALTER TABLE tasks DROP COLUMN output_assets_key;
ALTER TABLE tasks DROP COLUMN output_cover_key;
ALTER TABLE tasks DROP COLUMN output_subtitle_key;
