-- The W3C traceparent of the latest staged event, so that the later, asynchronous sync of the
-- order continues that event's trace instead of starting one of its own.
ALTER TABLE orders ADD COLUMN traceparent TEXT;
