ALTER TABLE videos DROP COLUMN kind;
DROP TABLE task_recipes;
