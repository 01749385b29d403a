DROP TABLE notes;
DROP TABLE owners;
