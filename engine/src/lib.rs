//! recur engine
