//! End-to-end tests: every service in-process, real broker and database, sandbox vendors.
