DROP TABLE prepaid_videos;
DROP TABLE render_nodes;
DROP TABLE dead_letters;
DROP TABLE task_usage;
DROP TABLE admin_audit;
