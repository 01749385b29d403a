DROP TABLE publications;
DROP TABLE publish_assists;
