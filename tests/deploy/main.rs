//! Checks of the deployment files.
