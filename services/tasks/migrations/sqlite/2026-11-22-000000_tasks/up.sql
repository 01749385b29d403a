-- Seed 000 §5.1: tasks, their clips (videos) and scripts. Tasks owns these
-- tables; user ids refer to identity's users, which live in another database.
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL,
    shop_name VARCHAR(200) NOT NULL,
    shop_type VARCHAR(16) NOT NULL CHECK (shop_type IN ('food', 'beauty', 'entertainment', 'other')),
    promotion_text TEXT NOT NULL DEFAULT '',
    video_style VARCHAR(16) NOT NULL CHECK (video_style IN ('recommend', 'review', 'vlog')),
    status VARCHAR(16) NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'uploading', 'analyzing', 'script_ready', 'script_edited', 'voice_set', 'composing', 'completed', 'failed')),
    voice_type VARCHAR(50) NOT NULL DEFAULT 'xiaomei',
    voice_sample_id BIGINT,
    subtitle_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    subtitle_style VARCHAR(50) NOT NULL DEFAULT 'simple_white',
    output_oss_key VARCHAR(500),
    output_duration_seconds DOUBLE PRECISION,
    output_file_size BIGINT,
    error_message VARCHAR(500),
    script_regenerate_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_tasks_user_id ON tasks (user_id, created_at);
CREATE INDEX idx_tasks_status ON tasks (status);

CREATE TABLE videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    original_filename VARCHAR(255) NOT NULL,
    oss_key VARCHAR(500) NOT NULL UNIQUE,
    thumbnail_oss_key VARCHAR(500),
    duration_seconds DOUBLE PRECISION,
    file_size BIGINT,
    width INTEGER,
    height INTEGER,
    status VARCHAR(16) NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'uploaded', 'analyzing', 'analyzed', 'failed')),
    category VARCHAR(16) CHECK (category IN ('food', 'person', 'environment', 'other')),
    tags TEXT NOT NULL DEFAULT '[]',
    description VARCHAR(500),
    quality_score INTEGER,
    is_recommended BOOLEAN NOT NULL DEFAULT FALSE,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_videos_task_id ON videos (task_id);

CREATE TABLE scripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    is_user_edited BOOLEAN NOT NULL DEFAULT FALSE,
    total_duration_seconds DOUBLE PRECISION,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
