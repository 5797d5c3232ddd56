//! Integration tests of the sandbox over HTTP, against the fixture seed.

mod bigcommerce;
mod control;
mod engage;
mod faults;
mod helpers;
