DROP TABLE output_labels;
ALTER TABLE videos DROP COLUMN focus;
