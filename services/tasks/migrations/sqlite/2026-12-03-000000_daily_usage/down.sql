DROP TABLE daily_usage;
