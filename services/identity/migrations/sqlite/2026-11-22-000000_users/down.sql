DROP TABLE voice_samples;
DROP TABLE users;
