-- A topic short's words (seeds 002, 003): its topic, its niche and where
-- its pictures come from (generated, library, or empty for either).
ALTER TABLE task_recipes ADD COLUMN topic VARCHAR(100) NOT NULL DEFAULT '';
ALTER TABLE task_recipes ADD COLUMN niche VARCHAR(40) NOT NULL DEFAULT '';
ALTER TABLE task_recipes ADD COLUMN visuals VARCHAR(16) NOT NULL DEFAULT '';
-- A music video's or ad creative's images made into moving clips by the
-- generative video model (seed 004).
ALTER TABLE task_recipes ADD COLUMN animate BOOLEAN NOT NULL DEFAULT FALSE;
-- With animate: each moving clip lip-synced to its part of the track.
ALTER TABLE task_recipes ADD COLUMN lip_sync BOOLEAN NOT NULL DEFAULT FALSE;
