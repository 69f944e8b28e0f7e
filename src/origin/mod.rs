//! The embedded origin (placeholder; being written).
