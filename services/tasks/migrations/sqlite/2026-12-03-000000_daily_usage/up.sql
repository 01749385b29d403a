-- What each user used of their tier's daily quotas (a row per user and
-- quota day, the day as YYYY-MM-DD where the quota day starts).
CREATE TABLE daily_usage (
    user_id BIGINT NOT NULL,
    day VARCHAR(10) NOT NULL,
    videos INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
