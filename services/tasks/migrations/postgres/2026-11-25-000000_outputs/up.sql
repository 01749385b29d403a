-- Everything compose wrote, so GetOutput answers without touching storage.
ALTER TABLE tasks ADD COLUMN output_subtitle_key VARCHAR(500);
ALTER TABLE tasks ADD COLUMN output_cover_key VARCHAR(500);
ALTER TABLE tasks ADD COLUMN output_assets_key VARCHAR(500);
ALTER TABLE tasks ADD COLUMN output_width INTEGER;
ALTER TABLE tasks ADD COLUMN output_height INTEGER;
ALTER TABLE tasks ADD COLUMN output_shots TEXT NOT NULL DEFAULT '[]';
