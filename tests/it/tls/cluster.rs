//! A Redis Cluster over TLS.
