DROP TABLE scripts;
DROP TABLE videos;
DROP TABLE tasks;
