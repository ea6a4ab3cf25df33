//! Sorted-set unit tests.
