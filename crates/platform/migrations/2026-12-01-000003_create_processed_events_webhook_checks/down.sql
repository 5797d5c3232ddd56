DROP TABLE webhook_checks;
DROP TABLE processed_events;
