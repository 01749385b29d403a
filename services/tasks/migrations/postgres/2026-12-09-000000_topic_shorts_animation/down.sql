ALTER TABLE task_recipes DROP COLUMN lip_sync;
ALTER TABLE task_recipes DROP COLUMN animate;
ALTER TABLE task_recipes DROP COLUMN visuals;
ALTER TABLE task_recipes DROP COLUMN niche;
ALTER TABLE task_recipes DROP COLUMN topic;
